"""``tpdask erase LOGIN [--archives]``: a viewer removed from every copy, and kept out.

The steps, each recorded in the erase journal (:mod:`journal`) as it is done, so that a run
killed at any moment and started again with the same login finishes the job:

1. **suppress**: the viewer's keyed hash goes on the suppression list first, so that from
   now on the collector, ``import_tmi`` and the day job leave it out;
2. **check** that no job holds a day (a ``process`` that read the samples before step 1
   would publish the viewer again): refused, naming it, otherwise;
3. **each day**, holding it (a ``process`` or ``analyse`` of it waits for the erasure):
   its loose samples, its quarantine, with ``--archives`` its archive (rewritten,
   verified against a new manifest, swapped in), what dead runs of it left in ``tmp/``,
   and its lake (:mod:`erase_lake`: the day gets a new run, recorded in the job ledger
   with its parts, so ``analyse`` makes every result that read it again);
4. **analysis**: the analyser's contributions and state (:mod:`erase_analysis`), holding
   the analyse lock throughout, so no analyse publishes the viewer again meanwhile;
5. **store**: viewer-days, results keyed by the viewer, account and history
   (:meth:`tpdask.stores.base.Store.erase_viewer`);
6. a last look at the loose samples (a collector's tick in flight during step 1), the
   report to the job ledger (counts only, never the login), the journal deleted.

Test hook: with TPDASK_FAULT_ERASE_STEP=<step> in the environment the process exits with
``os._exit(137)`` right after that step (as the archiver's hook does): "suppressed",
"samples" (of the first day), "archive" (the first archive rewritten), "prepared" (the
first lake day's folders written), "swapped-one" (its first table swapped in),
"published", "analysis", "store".

In pseudonymous mode the login is hashed with the key, and both the pseudonym and the
login (plain data from before the mode) are looked for. Without the key, a pseudonymous
folder is refused: its viewers could not be found.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tpdask.archive.manifest import day_inputs
from tpdask.archive.members import list_day
from tpdask.errors import ConfigError, JobError
from tpdask.files import try_lock
from tpdask.log import Log, print_log
from tpdask.privacy import erase_lake
from tpdask.privacy.erase_analysis import erase_analysis
from tpdask.privacy.erase_files import (FilesChange, clean_archive, clean_quarantine,
                                        clean_samples)
from tpdask.privacy.journal import Journal
from tpdask.privacy.keys import KEY_ENV, pseudonym_key
from tpdask.privacy.modes import secure_data_dir
from tpdask.privacy.policy import read_marker
from tpdask.privacy.pseudonyms import Pseudonymizer
from tpdask.privacy.scrub import Scrubber
from tpdask.privacy.suppression import Suppression
from tpdask.process import lake
from tpdask.running import hold_days, new_run_id
from tpdask.samples import normalise_login
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store

DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
FAULT_ENV = "TPDASK_FAULT_ERASE_STEP"


def _step(name: str) -> None:
    """The test hook: die right after step ``name`` when TPDASK_FAULT_ERASE_STEP says so."""
    if os.environ.get(FAULT_ENV) == name:
        os._exit(137)


@dataclass
class EraseReport:
    """What an erasure removed, where (counts), and what is left to run."""

    identifiers: int
    removed: dict[str, dict[str, int]]
    lake_days: list[str]
    archives: bool
    resumed: bool
    linked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def text(self, login: str) -> str:
        lines = [f"erased {login}" + (" (an interrupted erasure finished)" if self.resumed
                                      else "") + f" in {self.seconds} s:"]
        for place, counts in sorted(self.removed.items()):
            shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if v)
            lines.append(f"  {place:<12} {shown or 'nothing'}")
        if not self.archives:
            lines.append("  archives     not touched (their raw samples still hold it: "
                         "`tpdask erase LOGIN --archives` removes it there too)")
        lines.append("  suppression  on the list: later collection, import_tmi and process "
                     "leave it out")
        if self.linked:
            lines.append(f"  note: its user id was also seen as {', '.join(self.linked)}; "
                         "if that is the same person, erase those logins too")
        if self.lake_days:
            days = f"{len(self.lake_days)} rewritten day{'' if len(self.lake_days) == 1 else 's'}"
            lines.append(f"  results that read {days} are out "
                         f"of date until `tpdask analyse --since {self.lake_days[0]} --until "
                         f"{self.lake_days[-1]}` (exports of them exit 3 meanwhile)")
        return "\n".join(lines)


def identifiers_of(config: Config, login: str) -> tuple[str, set[str], bool]:
    """(the identifier the data holds, every identifier to look for, pseudonymous)."""
    name = normalise_login(str(login))
    if name is None:
        raise ConfigError(f"{login!r} is not a login (^[a-z0-9_]{{1,25}}$ once trimmed and "
                          "lowercased)")
    key = pseudonym_key()
    if key is None:
        if read_marker(config.data_dir) is not None:
            raise ConfigError(f"this data folder holds pseudonyms: set {KEY_ENV} (or its file) "
                              "to its key, so that erase can find the login's pseudonym")
        return name, {name}, False
    pseudonym = Pseudonymizer(key).pseudonym(name)
    return pseudonym, {pseudonym, name}, True


def erase(config: Config, login: str, archives: bool = False, log: Log = print_log) -> EraseReport:
    """Erase the viewer ``login`` everywhere (see the module docstring); the report."""
    started = time.time()
    primary, identifiers, pseudonymous = identifiers_of(config, login)
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    journal = Journal.open(config.data_dir, primary)
    journal.state["archives"] = bool(journal.state["archives"] or archives)
    scrubber = Scrubber(identifiers)
    with ExitStack() as stack:
        _lock(stack, config.scratch_dir / "erase.lock", "another `tpdask erase` is running")
        _lock(stack, config.scratch_dir / "analyse.lock", "an analyse is running; wait for it "
              "to finish")
        days = _days(config)
        if not journal.done("suppress"):
            Suppression(config.data_dir).add(_suppressed(config, primary, identifiers))
            journal.mark("suppress")
            _step("suppressed")
        _check_no_job_holds(config, days)
        with open_store(config.store) as store:
            for day in days:
                with hold_days(config.scratch_dir, [day], "erase"):
                    _erase_day(config, day, scrubber, journal, store, log)
            if not journal.done("quarantine"):
                _count(journal, "quarantine", clean_quarantine(config.quarantine_dir, scrubber))
                journal.mark("quarantine")
            if not journal.done("analysis"):
                change = erase_analysis(config.data_dir, config.scratch_dir, identifiers)
                journal.count("analysis", contribution_days=len(change.contrib_days),
                              state_rows=change.state_rows, leftovers=change.leftovers)
                journal.mark("analysis")
                _step("analysis")
            removed = store.erase_viewer(sorted(identifiers))
            _step("store")
            linked = removed.pop("linked")
            if not journal.done("store"):
                journal.count("store", **removed)
                journal.mark("store")
            for day in _days(config):      # a collector's tick that was in flight at step 1
                _count(journal, "samples", clean_samples(
                    config.samples_dir, config.archive_dir, day, scrubber))
            report = EraseReport(
                identifiers=len(identifiers), removed=journal.state["removed"],
                lake_days=sorted(d for d, s in journal.state["days"].items() if s.get("lake")
                                 and s["lake"].get("state") == "recorded"),
                archives=journal.state["archives"], resumed=journal.resumed, linked=linked,
                seconds=round(time.time() - started, 2))
            store.record_job("erase", "", "done", {
                "removed": report.removed, "lake_days": report.lake_days,
                "archives": report.archives, "resumed": report.resumed,
                "seconds": report.seconds}, started, time.time())
    journal.remove()
    return report


def _lock(stack: ExitStack, path: Path, busy: str) -> None:
    held = stack.enter_context(try_lock(path))
    if held is None:
        raise JobError(f"{busy}; the erasure is not done: run it again then (it goes on "
                       "where it stopped)")


def _days(config: Config) -> list[str]:
    """Every day with samples, quarantined files, an archive or a lake folder."""
    found: set[str] = set()
    pattern = DAY_FOLDER
    for folder in (config.samples_dir, config.quarantine_dir):
        if folder.is_dir():
            found |= {p.name for p in folder.iterdir() if pattern.fullmatch(p.name)}
    if config.archive_dir.is_dir():
        found |= {p.name[:-3] for p in config.archive_dir.glob("*.7z")
                  if pattern.fullmatch(p.name[:-3])}
    for table in lake.TABLES:
        folder = config.lake_dir / table
        if folder.is_dir():
            found |= {p.name.removeprefix("day=") for p in folder.glob("day=*")}
            found |= {p.name.removeprefix(".erase-").split(".")[0]
                      for p in folder.glob(".erase-*")}
    return sorted(d for d in found if pattern.fullmatch(d))


def _check_no_job_holds(config: Config, days: list[str]) -> None:
    """Refuse while a job holds a day: it may have read the viewer before the list had it."""
    for day in days:
        with hold_days(config.scratch_dir, [day], "erase"):
            pass


def _suppressed(config: Config, primary: str, identifiers: set[str]) -> list[str]:
    """What goes on the suppression list: the identifier the data holds; in pseudonymous
    mode also the login itself when the folder held data before the mode was turned on
    (an archive of such a day processed again must leave it out). Only what is needed: a
    folder reader can test a login against its entry, but a pseudonym's only with the key."""
    if primary in identifiers and len(identifiers) == 1:
        return [primary]
    marker = read_marker(config.data_dir)
    plain = marker is None or marker.get("plain_before", True)
    return sorted(identifiers) if plain else [primary]


def _count(journal: Journal, place: str, change: FilesChange) -> None:
    if change.rewritten or change.deleted or change.entries:
        journal.count(place, files_rewritten=change.rewritten, files_deleted=change.deleted,
                      entries=change.entries)
    journal.save()


def _erase_day(config: Config, day: str, scrubber: Scrubber, journal: Journal, store: Store,
               log: Log) -> None:
    state = journal.day(day)
    if not state.get("samples"):
        _count(journal, "samples", clean_samples(config.samples_dir, config.archive_dir, day,
                                                 scrubber))
        _count(journal, "quarantine", clean_quarantine(config.quarantine_dir / day, scrubber))
        _clean_dead_runs(config, day)
        state["samples"] = True
        journal.save()
        _step("samples")
    if journal.state["archives"] and not state.get("archive"):
        rewrite = clean_archive(config.archive_dir, day, scrubber, log)
        if rewrite.rewritten:
            journal.count("archives", archives_rewritten=1, members_changed=rewrite.changed,
                          members_dropped=rewrite.dropped, entries=rewrite.removed)
            _note_new_inputs(config, day, store)
        state["archive"] = True
        journal.save()
        if rewrite.rewritten:
            _step("archive")
    _erase_lake_day(config, day, scrubber.identifiers, journal, store)


def _clean_dead_runs(config: Config, day: str) -> None:
    """What killed runs of the day left (we hold the day: no live run owns it): scratch
    folders (they may hold the day's raw members) and unpublished lake folders."""
    lake.restore_half_published(config.lake_dir, day)
    for path in [*config.scratch_dir.glob(f"process-{day}-*"),
                 *lake.unpublished(config.lake_dir, day)]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _erase_lake_day(config: Config, day: str, identifiers: frozenset[str], journal: Journal,
                    store: Store) -> None:
    state = journal.day(day)
    step = state.get("lake")
    current = lake.day_run(config.lake_dir, day)
    if step is not None and step["state"] == "recorded" and current == step["run"]:
        return
    if step is not None and step["state"] in ("prepared", "published"):
        if current in (step["base"], step["run"]):
            erase_lake.publish(config.lake_dir, day, step["run"], lambda: _step("swapped-one"))
            if lake.day_run(config.lake_dir, day) == step["run"]:
                step["state"] = "published"
                journal.save()
                _record_lake_run(config, day, step, store)
                step["state"] = "recorded"
                journal.save()
                return
        step = None                        # processed again meanwhile, or folders gone
    erase_lake.discard(config.lake_dir, day)
    if current is None or not erase_lake.holds(config.lake_dir, day, set(identifiers)):
        state["lake"] = None
        journal.save()
        return
    step = {"base": current, "run": new_run_id(time.time()), "state": "preparing"}
    state["lake"] = step
    journal.save()
    change = erase_lake.prepare(config.lake_dir, day, set(identifiers), step["run"])
    step.update(state="prepared", records=change.records, sessions=change.sessions)
    journal.count("lake", records=change.records, streams_rows=change.streams_rows,
                  chatter_ids_rows=change.ids_rows, days=1)
    journal.save()
    _step("prepared")
    erase_lake.publish(config.lake_dir, day, step["run"], lambda: _step("swapped-one"))
    step["state"] = "published"
    journal.save()
    _step("published")
    _record_lake_run(config, day, step, store)
    step["state"] = "recorded"
    journal.save()


def _record_lake_run(config: Config, day: str, step: dict, store: Store) -> None:
    """The rewritten day in the job ledger, as a ``process`` run with its parts (what the
    analyser checks a day's lake against), marked as an erasure."""
    runs = [r["report"] for r in store.job_runs("process", day) if r["status"] == "done"]
    before = next((r for r in runs if r.get("run") == step["base"]), {"day": day})
    report = dict(before)
    report.update({
        "day": day, "run": step["run"], "lake": erase_lake.describe(config.lake_dir, day),
        "inputs": day_inputs(list_day(config.samples_dir, config.archive_dir, day)),
        "erased": {"from_run": step["base"], "records": step.get("records", 0)},
    })
    for key, less in (("viewers", "records"), ("sessions", "sessions")):
        if isinstance(report.get(key), int):
            report[key] -= step.get(less, 0)
    report.pop("performance_report", None)
    now = time.time()
    store.record_job("process", day, "done", report, now, now)


def _note_new_inputs(config: Config, day: str, store: Store) -> None:
    """After an archive rewrite, the day's last run in the ledger gets the archive's new
    sha256 (the lake is still that run's): the nightly chain then does not process the day
    again for it."""
    runs = [r["report"] for r in store.job_runs("process", day) if r["status"] == "done"]
    current = lake.day_run(config.lake_dir, day)
    if runs and current is not None and runs[0].get("run") == current:
        report = dict(runs[0])
        report["inputs"] = day_inputs(list_day(config.samples_dir, config.archive_dir, day))
        report["inputs_changed_by"] = "erase --archives"
        now = time.time()
        store.record_job("process", day, "done", report, now, now)
