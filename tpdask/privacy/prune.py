"""``tpdask prune [--dry_run]``: the retention settings applied (:mod:`retention` says what
each keeps), and what was deleted reported.

It holds each day it deletes (a ``process``, ``analyse`` or ``nightly`` of it refuses to
start meanwhile, and the other way round), the analyse lock while it deletes lake days
(an analyse reads every day's contributions) and the archiver's lock while it deletes
archives. With ``--dry_run`` it only says what it would delete. The store's deletions are
overwritten with zeros (SQLite ``secure_delete``) and its write-ahead log truncated.
After lake days went, the next ``analyse`` makes the profiles and later days' results
again without them (the nightly chain runs it right after its prune stage).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tpdask.archive.manifest import manifest_path
from tpdask.archive.members import archive_path
from tpdask.archive.pack import archive_lock
from tpdask.errors import JobError
from tpdask.files import try_lock
from tpdask.log import Log, print_log
from tpdask.privacy.modes import secure_data_dir
from tpdask.privacy.retention import RetentionPlan, plan_retention
from tpdask.process import lake
from tpdask.running import hold_days
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store


@dataclass
class PruneReport:
    """What one prune deleted (or, with ``dry_run``, would delete)."""

    plan: RetentionPlan
    dry_run: bool
    files: dict[str, int] = field(default_factory=dict)     # kind → files
    bytes: dict[str, int] = field(default_factory=dict)     # kind → bytes
    records: int = 0             # store viewer-day records
    results: int = 0             # bots results of pruned lake days
    accounts: int = 0            # accounts no record names any more
    history: int = 0             # their history entries
    seconds: float = 0.0

    def text(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        kept = ", ".join(f"{kind} from {day}" if day else f"{kind} for ever"
                         for kind, day in self.plan.kept_from.items())
        lines = [f"prune on {self.plan.today} (keeps {kept})"
                 + (" — dry run, nothing deleted" if self.dry_run else "") + ":"]
        for kind, days in (("archive", self.plan.archive), ("lake", self.plan.lake)):
            span = f" ({days[0]} … {days[-1]})" if days else ""
            lines.append(f"  {kind:<8} {verb} {len(days)} days{span}: "
                         f"{self.files.get(kind, 0):,} files, {self.bytes.get(kind, 0):,} bytes")
        days = self.plan.store
        span = f" ({days[0]} … {days[-1]})" if days else ""
        lines.append(f"  store    {verb} {len(days)} days{span}: {self.records:,} viewer-day "
                     f"records" + ("" if self.dry_run else
                                   f", {self.accounts:,} accounts no record names any more "
                                   f"({self.history:,} history entries)"))
        if self.plan.lake:
            lines.append(f"  results  {verb} the bots of the {len(self.plan.lake)} lake days "
                         f"({self.results:,}); their streamer statistics are kept")
            if not self.dry_run:
                lines.append("  next: `tpdask analyse` makes the profiles and later days' "
                             "results again without the pruned days (nightly does it)")
        return "\n".join(lines)


def today_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def prune(config: Config, today: str | None = None, dry_run: bool = False,
          log: Log = print_log) -> PruneReport:
    """Delete what the retention settings no longer keep on ``today`` (default: today UTC)."""
    started = time.time()
    today = today or today_utc()
    if not dry_run:
        secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    store_file = sqlite_path(config.store)
    with ExitStack() as stack:
        store = None if store_file is not None and not store_file.exists() else \
            stack.enter_context(open_store(config.store))
        plan = plan_retention(config, today, store.days() if store is not None else [])
        report = PruneReport(plan=plan, dry_run=dry_run)
        if plan.empty:
            return report
        if not dry_run:
            if plan.lake:
                held = stack.enter_context(try_lock(config.scratch_dir / "analyse.lock"))
                if held is None:
                    raise JobError("an analyse is running; prune lake days when it is done")
            stack.enter_context(hold_days(config.scratch_dir, plan.days, "prune"))
        for day in plan.archive:
            _raw(config, day, report, dry_run)
        for day in plan.lake:
            _lake(config, day, report, dry_run, store)
        if store is not None and plan.store:
            _store(store, plan.store, report, dry_run)
        report.seconds = round(time.time() - started, 2)
        if store is not None and not dry_run:
            store.record_job("prune", today, "done", {
                "archive_days": list(plan.archive), "lake_days": list(plan.lake),
                "store_days": list(plan.store), "files": report.files, "bytes": report.bytes,
                "records": report.records, "accounts": report.accounts,
                "seconds": report.seconds}, started, time.time())
    return report


def _sizes(paths: list[Path]) -> tuple[int, int]:
    files = size = 0
    for path in paths:
        if path.is_file():
            files, size = files + 1, size + path.stat().st_size
        elif path.is_dir():
            for root, _, names in os.walk(path):
                for name in names:
                    files += 1
                    size += (Path(root) / name).stat().st_size
    return files, size


def _delete(kind: str, paths: list[Path], report: PruneReport, dry_run: bool) -> None:
    files, size = _sizes(paths)
    report.files[kind] = report.files.get(kind, 0) + files
    report.bytes[kind] = report.bytes.get(kind, 0) + size
    if dry_run:
        return
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _raw(config: Config, day: str, report: PruneReport, dry_run: bool) -> None:
    archive = archive_path(config.archive_dir, day)
    paths = [archive, manifest_path(config.archive_dir, day), config.samples_dir / day,
             config.quarantine_dir / day]
    if dry_run or not config.archive_dir.is_dir():
        _delete("archive", paths, report, dry_run)
        return
    with archive_lock(config.archive_dir):     # not while the archiver writes
        _delete("archive", paths, report, dry_run)


def _lake(config: Config, day: str, report: PruneReport, dry_run: bool,
          store: Store | None) -> None:
    paths = [lake.day_dir(config.lake_dir, table, day) for table in lake.TABLES]
    paths += [config.lake_dir / "analysis" / "contrib" / f"day={day}"]
    _delete("lake", paths, report, dry_run)
    if store is None:
        return
    if dry_run:
        report.results += sum(1 for _ in store.iter_results("bots", day))
    else:
        report.results += store.drop_results("bots", day)


def _store(store: Store, days: tuple[str, ...], report: PruneReport, dry_run: bool) -> None:
    viewers: set[str] = set()
    for day in days:
        if dry_run:
            report.records += store.count_viewer_days(day)
            continue
        viewers.update(store.day_viewers(day))
        report.records += store.delete_day(day)
    if dry_run:
        return
    forgotten = store.forget_accounts(viewers)
    report.accounts, report.history = forgotten["accounts"], forgotten["account_history"]
    store.compact()

