"""What the retention settings keep, and so what ``tpdask prune`` deletes.

Three settings, in days, 0 meaning for ever (the default: deleting is for the operator to
choose; docs/privacy.md recommends 90 days each for operators in the EU):

- ``retention_archive_days``: the raw record of a day — ``archive/<day>.7z`` and its
  manifest, loose samples in ``samples/<day>/``, ``quarantine/<day>/``;
- ``retention_lake_days``: the day's lake (``viewer_days``, ``streams``, ``chatter_ids``,
  ``times``), the analyser's contributions of the day, and the day's ``bots`` results (one
  per viewer). The day is then no longer a processed day: the profiles and the later days'
  statistics are made again without it by the next ``analyse``. The day's streamer
  statistics stay (aggregates outlive the records: docs/privacy.md);
- ``retention_store_days``: the store's viewer-day records of the day, and the accounts
  (statuses, history) of viewers no record names any more.

A day is kept for N days after it: it expires when it is more than N days before today
(UTC): with N = 90, on 2024-04-01 the days up to 2024-01-01 go and 2024-01-02 stays.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores.base import Store

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def first_kept(today: str, days: int) -> str | None:
    """The oldest day ``days`` of retention keep on ``today``; None for ever (0)."""
    if days <= 0:
        return None
    return (dt.date.fromisoformat(today) - dt.timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class RetentionPlan:
    """The expired days of each kind of data, as found on disk and in the store."""

    today: str
    archive: tuple[str, ...] = ()        # days whose raw record goes
    lake: tuple[str, ...] = ()           # days whose lake and analysis files go
    store: tuple[str, ...] = ()          # days whose store records go
    kept_from: dict = field(default_factory=dict)   # kind → first day kept (None: all)

    @property
    def days(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.archive) | set(self.lake) | set(self.store)))

    @property
    def empty(self) -> bool:
        return not self.days


def raw_days(config: Config) -> set[str]:
    """Days with an archive, loose samples or a quarantine folder."""
    found = {p.name[:-3] for p in config.archive_dir.glob("*.7z")} \
        if config.archive_dir.is_dir() else set()
    for folder in (config.samples_dir, config.quarantine_dir):
        if folder.is_dir():
            found |= {p.name for p in folder.iterdir() if p.is_dir()}
    return {d for d in found if DAY.fullmatch(d)}


def lake_days(config: Config) -> set[str]:
    """Days with a folder in any lake table or contributions of the analyser."""
    found: set[str] = set()
    for folder in [config.lake_dir / t for t in lake.TABLES] + \
            [config.lake_dir / "analysis" / "contrib"]:
        if folder.is_dir():
            found |= {p.name.removeprefix("day=") for p in folder.glob("day=*")}
    return {d for d in found if DAY.fullmatch(d)}


def plan_retention(config: Config, today: str, store_days: list[str]) -> RetentionPlan:
    """Which days of each kind the settings let go on ``today``."""
    kept = {"archive": first_kept(today, config.retention_archive_days),
            "lake": first_kept(today, config.retention_lake_days),
            "store": first_kept(today, config.retention_store_days)}

    def expired(kind: str, days: set[str] | list[str]) -> tuple[str, ...]:
        limit = kept[kind]
        return tuple(sorted(d for d in days if limit is not None and d < limit))

    return RetentionPlan(today=today, archive=expired("archive", raw_days(config)),
                         lake=expired("lake", lake_days(config)),
                         store=expired("store", store_days), kept_from=kept)


def pruned_lake_days(store: Store) -> set[str]:
    """The days whose lake a prune deleted (the job ledger keeps them)."""
    return {day for run in store.job_runs("prune") if run["status"] == "done"
            for day in run["report"].get("lake_days", [])}


def any_retention(config: Config) -> bool:
    return any(n > 0 for n in (config.retention_archive_days, config.retention_lake_days,
                               config.retention_store_days))
