"""The health of an install: small checks, each giving facts and reasons, and one verdict.

A check reads one part of the install and returns a :class:`Check`: its facts (numbers,
days, times; paths only in ``data``) and its reasons, each ``warning`` or ``failing``.
The verdict is the worst reason's level, ``ok`` when there is none (:func:`verdict_of`);
``tpdask status`` exits 0, 1 or 2 by it. Reason texts name days, counts, ages and sizes,
never a path nor a viewer: the website shows them to every visitor. The rules, and why
they are what they are, are in docs/operations.md ("Reading the health output").

A check that cannot run (an unexpected error) is itself a failing reason: a monitoring
check gets an answer, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tpdask.days import day_bounds, day_of
from tpdask.errors import ConfigError, StoreError
from tpdask.ops.collection import Quarantined, SampleIndex, archives, disk_usage, quarantined
from tpdask.ops.ledger import last_runs, run_fact
from tpdask.process.lake import processed_days
from tpdask.running import running_dir, running_jobs
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store
from tpdask.stores.base import redact_uri

LEVELS = ("ok", "warning", "failing")
EXIT_CODES = {"ok": 0, "warning": 1, "failing": 2}
#: The collector is stopped when its newest sample is older than this many intervals.
STALE_INTERVALS = 2
#: Days looked back at: stage runs and overdue days, quarantined files, manifests.
RECENT_DAYS = 7
GIB = 1024 ** 3


@dataclass(frozen=True)
class Reason:
    """Why the verdict is not ok: a level (warning, failing), the check, one line."""

    level: str
    check: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "check": self.check, "text": self.text}


@dataclass
class Check:
    """What one check found: facts (JSON-able) and reasons."""

    name: str
    facts: dict[str, Any] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.reasons.append(Reason("warning", self.name, text))

    def fail(self, text: str) -> None:
        self.reasons.append(Reason("failing", self.name, text))


@dataclass(frozen=True)
class Health:
    """The verdict, its reasons (failing first) and every check's facts."""

    verdict: str
    reasons: tuple[Reason, ...]
    checks: dict[str, dict[str, Any]]
    checked_at: float

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warning, 2 failing (what a monitoring check expects)."""
        return EXIT_CODES[self.verdict]

    def to_json(self) -> dict[str, Any]:
        """One JSON object: verdict, reasons, checked_at, then one key per check."""
        return {"verdict": self.verdict, "reasons": [r.to_json() for r in self.reasons],
                "checked_at": round(self.checked_at, 3), "checked_at_utc": utc(self.checked_at),
                **self.checks}

    def public(self) -> dict[str, Any]:
        """What any visitor of the website may see: the verdict and the reasons' texts."""
        return {"verdict": self.verdict, "checked_at": self.checked_at,
                "reasons": [{"level": r.level, "text": r.text} for r in self.reasons]}


def verdict_of(reasons: list[Reason] | tuple[Reason, ...]) -> str:
    """failing when any reason is, else warning when any is, else ok."""
    levels = {r.level for r in reasons}
    return "failing" if "failing" in levels else "warning" if "warning" in levels else "ok"


def assemble(checks: list[Check], now: float) -> Health:
    """The health made of ``checks``: reasons failing first, in the checks' order, each
    text once (two checks that find the store unreadable say it once)."""
    seen: set[tuple[str, str]] = set()
    reasons = []
    for reason in (r for c in checks for r in c.reasons):
        if (reason.level, reason.text) not in seen:
            seen.add((reason.level, reason.text))
            reasons.append(reason)
    reasons.sort(key=lambda r: -LEVELS.index(r.level))      # stable: check order kept
    return Health(verdict_of(reasons), tuple(reasons), {c.name: c.facts for c in checks}, now)


def check_health(config: Config, store: Store | None = None, now: float | None = None) -> Health:
    """Every check of the install ``config`` names, at ``now`` (default: the time now).

    ``store`` is an open store to read (the website's); without one, the configured store
    is opened for reading (never created) and closed again.
    """
    now = time.time() if now is None else now
    data = Check("data", facts={"data_dir": str(config.data_dir)})
    if not config.data_dir.is_dir():
        data.fail("no data folder: check --data_dir (or TPDASK_DATA_DIR)")
        return assemble([data], now)
    samples = SampleIndex(config)
    try:
        lake_days = processed_days(config.lake_dir)
    except OSError:
        lake_days = []              # the store check says what it can without it
    checks = [data]
    with _store_for(config, store, lake_days) as (opened, store_check):
        checks.append(guarded("collector", lambda: check_collector(config, samples, now,
                                                                   len(lake_days))))
        checks.append(guarded("archives", lambda: check_archives(config, samples, now)))
        checks.append(guarded("stages", lambda: check_stages(config, samples, opened, now)))
        checks.append(store_check if opened is None else
                      guarded("store", lambda: check_store(opened, store_check)))
    checks.append(guarded("quarantine", lambda: check_quarantine(quarantined(config), now)))
    checks.append(guarded("disk", lambda: check_disk(*disk_usage(config.data_dir), config)))
    checks.append(guarded("erasures", lambda: check_erasures(config)))
    checks.append(guarded("running", lambda: check_running(config)))
    return assemble(checks, now)


def unjudged(message: str, now: float | None = None) -> Health:
    """The health when the checks cannot even start (a setting that cannot be read):
    failing, with ``message``."""
    check = Check("settings")
    check.fail(message)
    return assemble([check], time.time() if now is None else now)


def guarded(name: str, run: Callable[[], Check]) -> Check:
    """``run()``, or a failing check saying it could not run (and why, in its facts)."""
    try:
        return run()
    except StoreError as exc:
        check = Check(name, facts={"error": str(exc)})
        check.fail("the store cannot be read")
    except Exception as exc:  # noqa: BLE001 - a health check answers, whatever happens
        check = Check(name, facts={"error": f"{type(exc).__name__}: {exc}"})
        check.fail(f"the {name} check could not run ({type(exc).__name__})")
    return check


@contextmanager
def _store_for(config: Config, store: Store | None,
               lake_days: list[str]) -> Iterator[tuple[Store | None, Check]]:
    """The store to read (``store``, or the configured one opened for reading) and the
    store check's first facts; None with the reason when it cannot be opened."""
    check = Check("store", facts={"uri": redact_uri(config.store)})
    if store is not None:
        yield store, check
        return
    path = sqlite_path(config.store)
    try:
        if path is not None and not path.is_file():
            raise ConfigError("no store yet (the first `tpdask process` creates it)")
        opened = open_store(config.store, create=False)
    except ConfigError as exc:
        # before anything is processed there is no store yet (the first process makes it);
        # after, a missing store is a mistyped --store or a deleted store
        check.facts.update(exists=False, error=str(exc))
        if lake_days:
            check.fail(f"no store, though the lake holds {plural(len(lake_days), 'processed day')}"
                       ": check --store (or TPDASK_STORE)")
        yield None, check
        return
    except StoreError as exc:
        check.facts.update(exists=None, error=str(exc))
        check.fail("the store cannot be opened")
        yield None, check
        return
    try:
        yield opened, check
    finally:
        opened.close()


# -- the checks --------------------------------------------------------------------------

def check_collector(config: Config, samples: SampleIndex, now: float,
                    processed: int = 0) -> Check:
    """Liveness (age of the newest sample) and ticks missed today so far and yesterday."""
    interval = config.interval
    check = Check("collector", facts={"interval": interval,
                                      "stale_after_seconds": STALE_INTERVALS * interval})
    newest = samples.newest()
    if newest is None:
        check.facts.update(newest_sample_ts=None, newest_sample_age_seconds=None)
        if processed:
            check.fail(f"no sample found, though {plural(processed, 'day')} were processed: "
                       "the samples and their archives are gone")
        else:
            check.warn("no sample collected yet: start the collector (tpdask collect)")
        return check
    first = samples.first() or newest
    age = now - newest
    check.facts.update(newest_sample_ts=newest, newest_sample_utc=utc(newest),
                       newest_sample_age_seconds=round(age, 1), first_sample_ts=first,
                       ticks={})
    if age > STALE_INTERVALS * interval:
        check.fail(f"collector stopped: newest sample {ago(age)} old ({utc(newest)})")
    today = day_of(int(now))
    yesterday = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
    for label, day in (("today", today), ("yesterday", yesterday)):
        start, end = day_bounds(day)
        ticks = count_ticks(samples.day(day).times, max(start, first), min(end, now), interval)
        check.facts["ticks"][label] = {"day": day, **ticks}
        if ticks["missing"] > config.status_missing_ticks:
            when = "today so far" if label == "today" else f"yesterday ({day})"
            check.warn(f"collector missed {ticks['missing']} of {ticks['expected']} ticks "
                       f"{when}")
    return check


def count_ticks(times: frozenset[int] | set[int], start: float, until: float,
                interval: int) -> dict[str, int]:
    """Ticks expected in [start, until) — one per interval, each given a whole interval to
    be written —, present, and missing. A sample counts for the interval it falls in."""
    first, stop = math.ceil(start / interval), math.floor(until / interval)
    expected = max(stop - first, 0)
    present = len({t // interval for t in times if first <= t // interval < stop})
    return {"expected": expected, "present": present, "missing": expected - present}


def check_archives(config: Config, samples: SampleIndex, now: float) -> Check:
    """The archives and their sizes; a recent archive without a readable manifest."""
    found = archives(config)
    check = Check("archives", facts={"count": len(found), "bytes": sum(a.bytes for a in found),
                                     "days": [{"day": a.day, "bytes": a.bytes} for a in found]})
    oldest = recent_days(now)[-1]
    for a in found:
        if a.day >= oldest:
            manifest = samples.day(a.day).manifest
            if manifest == "missing":
                check.warn(f"the archive of {a.day} has no manifest, so it cannot be verified: "
                           f"`tpdask archive --day {a.day}` rebuilds it")
            elif manifest == "unreadable":
                check.warn(f"the manifest of the archive of {a.day} is unreadable: delete it "
                           f"and run `tpdask archive --day {a.day}` to rebuild it")
    return check


def recent_days(now: float) -> list[str]:
    """The RECENT_DAYS days before today (UTC), newest first."""
    today = dt.date.fromisoformat(day_of(int(now)))
    return [(today - dt.timedelta(days=i)).isoformat() for i in range(1, RECENT_DAYS + 1)]


def check_stages(config: Config, samples: SampleIndex, store: Store | None,
                 now: float) -> Check:
    """For each recent day: its samples, whether it is archived, processed and analysed,
    and the last run of each stage (from the job ledger); the last verify run."""
    check = Check("stages", facts={"due_hours": config.status_due_hours, "days": []})
    published: set[str] = set()
    analysed: set[str] = set()
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    if store is not None:
        published, analysed = set(store.days()), set(store.result_scopes("streamer_days"))
        runs = last_runs(store, recent_days(now))
    running = [str(job.get("job", "")) for job in running_jobs(running_dir(config.data_dir))]
    failed_scopes: set[tuple[str, str]] = set()
    for day in recent_days(now):
        found = samples.day(day)
        due_at = day_bounds(day)[1] + config.status_due_hours * 3600
        row = {"day": day, "samples": len(found.times), "waiting": len(found.waiting),
               "archived": bool(found.archived) and not found.waiting,
               # a day whose chats were all empty publishes no record: its done run counts
               "processed": day in published or _done(runs.get(("process", day))),
               "analysed": day in analysed or _done(runs.get(("analyse", day))),
               "due": now >= due_at,
               "runs": {stage: run_fact(runs.get((stage, day)))
                        for stage in ("archive", "process", "analyse")}}
        check.facts["days"].append(row)
        for stage in ("archive", "process", "analyse"):
            run = runs.get((stage, day))
            if run is None or run["status"] != "failed":
                continue
            if stage == "archive" and not found.waiting:
                continue                  # archived since, by a run the ledger does not hold
            if (stage, run["scope"]) not in failed_scopes:
                failed_scopes.add((stage, run["scope"]))
                check.fail(f"{stage} of {run['scope']} failed ({utc(run['started_at'])})")
        if found.times and row["due"]:
            late = []
            if found.waiting:
                late.append(f"not archived ({plural(len(found.waiting), 'sample')} waiting)")
            if not row["processed"]:
                late.append("not processed")
            elif not row["analysed"]:
                late.append("not analysed")
            if late:
                busy = f"; running now: {', '.join(running)}" if running else ""
                check.warn(f"{day} is {' and '.join(late)}, {ago(now - due_at)} past its "
                           f"deadline{busy}")
    verify = runs.get(("verify", ""))
    check.facts["verify"] = run_fact(verify)
    if verify is not None and verify["status"] == "failed":
        check.fail(f"verify failed ({utc(verify['started_at'])})")
    if store is None:
        check.facts["ledger"] = "not read: no store"
    return check


def _done(run: dict[str, Any] | None) -> bool:
    return run is not None and run["status"] == "done"


def check_store(store: Store, check: Check) -> Check:
    """The store's size, days, analysed days and accounts (facts only: reading them is
    the check; a store that cannot be read fails through :func:`guarded`)."""
    days = store.days()
    analysed = store.result_scopes("streamer_days")
    check.facts.update(exists=True, bytes=store.size_bytes(), days=len(days),
                       first_day=days[0] if days else None, last_day=days[-1] if days else None,
                       analysed_days=len(analysed), accounts=store.status_counts())
    return check


def check_quarantine(items: list[Quarantined], now: float) -> Check:
    """Files quarantined in the last RECENT_DAYS days (by when they were quarantined)."""
    since = now - RECENT_DAYS * 86400
    recent = [q for q in items if q.at >= since]
    by_folder: dict[str, int] = {}
    for q in recent:
        by_folder[q.folder] = by_folder.get(q.folder, 0) + 1
    check = Check("quarantine", facts={"total": len(items), "recent": len(recent),
                                       "recent_days": RECENT_DAYS, "recent_by_folder": by_folder})
    if recent:
        where = ", ".join(f"{'tmi import' if f == 'import_tmi' else f}: {n}"
                          for f, n in sorted(by_folder.items()))
        check.warn(f"{plural(len(recent), 'file')} quarantined in the last {RECENT_DAYS} days "
                   f"({where})")
    return check


def check_disk(free: int, total: int, config: Config) -> Check:
    """Free space of the data folder's filesystem against the thresholds: failing below
    status_disk_fail_gib GiB or status_disk_fail_percent %, else warning below the warn
    ones."""
    percent = 100.0 * free / total if total else 0.0
    check = Check("disk", facts={"free_bytes": free, "total_bytes": total,
                                 "free_percent": round(percent, 2)})
    said = f"{free / GIB:.1f} GiB free ({percent:.1f} %) on the data folder's filesystem"
    if free < config.status_disk_fail_gib * GIB or percent < config.status_disk_fail_percent:
        check.fail(f"disk nearly full: {said}")
    elif free < config.status_disk_warn_gib * GIB or percent < config.status_disk_warn_percent:
        check.warn(f"disk filling up: {said}")
    return check


def check_erasures(config: Config) -> Check:
    """Erasures a killed `tpdask erase` left unfinished (their journals): failing, since
    the person's data is still partly there until the erase is run again."""
    from tpdask.privacy.journal import pending

    check = Check("erasures")
    for journal in pending(config.data_dir):
        check.fail(f"erasure {journal['id']} unfinished (started "
                   f"{plural(int(journal.get('runs', 1)), 'time')}): unless a `tpdask erase` is running now, run the same `tpdask "
                   "erase LOGIN` again to finish it")
    return check


def check_running(config: Config) -> Check:
    """The jobs of this data folder running now (facts only)."""
    jobs = running_jobs(running_dir(config.data_dir))
    return Check("running", facts={"jobs": [
        {"job": str(j.get("job", "")), "pid": j.get("pid"), "started_at": j.get("started_at"),
         "dashboard": j.get("dashboard")} for j in jobs]})


# -- words -------------------------------------------------------------------------------

def utc(ts: float) -> str:
    """``2024-01-10 09:05 UTC``."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, word: str) -> str:
    """``1 day``, ``2 days``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def ago(seconds: float) -> str:
    """A duration in its largest sensible unit: 40 s, 12 min, 3 h, 2 days."""
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
