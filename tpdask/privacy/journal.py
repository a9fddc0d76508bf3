"""The erase journal: what an erasure has done and what is left, so that a run killed at
any moment and started again finishes the job.

``<data_dir>/privacy/erase/<id>.json`` (0600), rewritten atomically after each step. It
names no login: ``id`` is a keyed hash of the erased identifier (the re-run, given the same
login, finds it again), and it holds the steps done, each day's progress (for the lake:
the run the day had, the new run the erasure gives it, and how far the swap went) and what
was removed where, as counts. The journal is deleted when the erasure is whole; the job
ledger keeps the report.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Any

import orjson

from tpdask.privacy.keys import derive, folder_key, privacy_dir
from tpdask.privacy.modes import write_private


def journal_dir(data_dir: Path | str) -> Path:
    return privacy_dir(data_dir) / "erase"


def erase_id(data_dir: Path | str, identifier: str) -> str:
    """The journal's name for an erasure of ``identifier`` (16 hex, keyed)."""
    key = folder_key(data_dir, create=True)
    assert key is not None
    return hmac.digest(derive(key, "erase-id"), identifier.encode(), "sha256").hex()[:16]


class Journal:
    """One erasure's progress, saved after every change."""

    def __init__(self, path: Path, state: dict[str, Any]) -> None:
        self.path = path
        self.state = state

    @classmethod
    def open(cls, data_dir: Path | str, identifier: str) -> Journal:
        """The journal of an erasure of ``identifier``: the one a killed run left, or new."""
        path = journal_dir(data_dir) / f"{erase_id(data_dir, identifier)}.json"
        try:
            state = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            state = {"version": 1, "started_at": time.time(), "runs": 0, "archives": False,
                     "done": [], "days": {}, "removed": {}}
        state["runs"] = state.get("runs", 0) + 1
        return cls(path, state)

    @property
    def resumed(self) -> bool:
        return self.state["runs"] > 1

    def save(self) -> None:
        write_private(self.path, orjson.dumps(self.state, option=orjson.OPT_SORT_KEYS))

    def done(self, step: str) -> bool:
        return step in self.state["done"]

    def mark(self, step: str) -> None:
        if step not in self.state["done"]:
            self.state["done"].append(step)
        self.save()

    def day(self, day: str) -> dict[str, Any]:
        return self.state["days"].setdefault(day, {})

    def count(self, place: str, **counts: int) -> None:
        """Add ``counts`` to what was removed from ``place`` (kept across runs)."""
        found = self.state["removed"].setdefault(place, {})
        for name, value in counts.items():
            found[name] = found.get(name, 0) + int(value)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def pending(data_dir: Path | str) -> list[dict[str, Any]]:
    """The erasures a killed run left unfinished (their journals), oldest first."""
    folder = journal_dir(data_dir)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append({"id": path.stem, **orjson.loads(path.read_bytes())})
        except (OSError, orjson.JSONDecodeError):
            continue
    return sorted(found, key=lambda j: j.get("started_at", 0))
