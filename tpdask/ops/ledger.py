"""The job ledger read for the health check: the last run of each stage for each day.

Runs come from the ledger's own entries of each stage (``archive``, ``process``,
``analyse``, ``verify``) and from the stages a ``nightly`` entry lists (its report's
``stages``: ``{stage, day, verdict, reason}``; an archive that failed inside the nightly
chain has no entry of its own). Skipped stages are not runs. An ``analyse`` run's scope
is a day or a range ``D1..D2``: it counts for every day of the range. ``verify`` is not
per day: its runs are kept under the day ``""``.
"""

from __future__ import annotations

from typing import Any

from tpdask.stores import Store

STAGES = ("archive", "process", "analyse", "verify")


def last_runs(store: Store, days: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(stage, day) → the newest run of that stage covering that day, for ``days`` (and
    ("verify", "")). A run is ``{stage, scope, status, started_at, finished_at, error}``;
    of two runs started at the same time, the stage's own ledger entry wins."""
    best: dict[tuple[str, str], tuple[tuple[float, int], dict[str, Any]]] = {}
    for own, run in _runs(store):
        rank = (run["started_at"], own)
        for day in _covered(run["stage"], run["scope"], days):
            key = (run["stage"], day)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, run)
    return {key: run for key, (_, run) in best.items()}


def _runs(store: Store) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for stage in STAGES:
        for entry in store.job_runs(stage):
            report = entry["report"] if isinstance(entry["report"], dict) else {}
            found.append((1, _run(stage, entry["day"] or "", entry["status"], entry,
                                  report.get("error"))))
    for entry in store.job_runs("nightly"):
        report = entry["report"] if isinstance(entry["report"], dict) else {}
        for outcome in report.get("stages") or []:
            if (isinstance(outcome, dict) and outcome.get("stage") in STAGES
                    and outcome.get("verdict") in ("done", "failed")):
                found.append((0, _run(outcome["stage"], str(outcome.get("day") or ""),
                                      outcome["verdict"], entry, outcome.get("reason"))))
    return found


def _run(stage: str, scope: str, status: str, entry: dict[str, Any],
         error: Any) -> dict[str, Any]:
    return {"stage": stage, "scope": scope, "status": status,
            "started_at": float(entry["started_at"] or 0.0),
            "finished_at": entry.get("finished_at"),
            "error": str(error)[:300] if error and status == "failed" else None}


def _covered(stage: str, scope: str, days: list[str]) -> list[str]:
    if stage == "verify":
        return [""]
    if ".." in scope:
        first, _, last = scope.partition("..")
        return [d for d in days if first <= d <= last]
    return [scope] if scope in days else []


def run_fact(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run as the health facts show it (None: no run in the ledger)."""
    if run is None:
        return None
    return {"status": run["status"], "scope": run["scope"], "started_at": run["started_at"],
            "finished_at": run["finished_at"], "error": run["error"]}
