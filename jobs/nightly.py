"""The nightly chain: archive → process each day, then prune → analyse → verify, unattended.

For each day in date order: ``archive`` (when loose samples are waiting), then
``process`` (unless the job ledger holds a run of the day with the same inputs — the
archive's sha256 and the loose files — whose lake is still the day's). Then one ``prune``
when a retention setting is set (:mod:`tpdask.privacy.prune`; before analyse, so that the
results that read a pruned lake day are made again in the same run, not a day later), one
``analyse`` of the days whose results are not current (it brings every stored result up
to date), and one ``verify`` of the accounts (never-checked first, at most
``nightly_verify_limit``). A stage that finds nothing to do is *skipped*, with the reason;
so a run after a failure or a kill resumes where the last one stopped, and a backfill of a
month redoes nothing already done. A stage that fails ends its day's chain (later stages of
that day are skipped) but not the other days'. Verify without Twitch credentials is
skipped, not failed (so is verify in pseudonymous mode); a day without samples is
reported, not an error.

Everything runs on one Dask cluster, started when the first stage needs it (or
``--scheduler``). One nightly at a time per data folder (``tmp/nightly.lock``), and it
holds every day of its run (``tpdask.running.hold_days``): a ``process`` or ``analyse`` of
one of them refuses to start meanwhile, naming the nightly, and the other way round.
The run is recorded in the ledger as ``nightly`` with every day's stages.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from jobs.analyse import analyse
from jobs.process_day import find_input, process_day, process_inputs
from tpdask.analysis.basis import inputs_of
from tpdask.analysis.plan import lake_runs, plan_analysis
from tpdask.archive.pack import archive_day
from tpdask.errors import ConfigError, JobError, TpdaskError
from tpdask.executor import Executor, LocalExecutor, dask_executor, release_memory
from tpdask.files import try_lock
from tpdask.log import Log, print_log
from tpdask.process import lake
from tpdask.privacy.modes import secure_data_dir
from tpdask.running import hold_days
from tpdask.samples import is_sample_name
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store

STAGES = ("archive", "process", "prune", "analyse", "verify")
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass
class Outcome:
    """What one stage did for one day (``day`` "" for verify, which is not per day)."""

    stage: str
    day: str
    verdict: str                 # done, skipped, failed
    reason: str = ""
    seconds: float = 0.0


@contextmanager
def nightly_lock(config: Config) -> Iterator[None]:
    """One nightly at a time per data folder; a second exits at once naming the first."""
    path = config.scratch_dir / "nightly.lock"
    with try_lock(path) as held:
        if held is None:
            holder = path.read_text().strip() if path.exists() else ""
            raise JobError(f"another `tpdask nightly` is running on this data folder "
                           f"({holder or 'pid unknown'}); wait for it to finish")
        held.seek(0)
        held.truncate()
        held.write(f"pid {os.getpid()}\n")
        held.flush()
        yield


class _Cluster:
    """The run's one executor, started when a stage first needs it."""

    def __init__(self, config: Config, scheduler: str | None, workers: int | None,
                 local: bool, log: Log, stack: ExitStack) -> None:
        self.config, self.scheduler, self.workers, self.local = config, scheduler, workers, local
        self.log, self.stack = log, stack
        self._executor: Executor | None = None

    def __call__(self) -> Executor:
        if self._executor is None:
            if self.local:
                self._executor = LocalExecutor(self.log)
            else:
                self._executor = self.stack.enter_context(dask_executor(
                    self.scheduler, self.workers, self.log,
                    dashboard_host=self.config.dashboard_host, data_dir=self.config.data_dir,
                    job="nightly"))
        return self._executor

    def fresh_workers(self) -> None:
        """Restart the workers of the local cluster this run started (never those of a
        --scheduler, which other jobs may share): the analysis then starts from fresh
        processes instead of on the day jobs' leftovers (a scale-1 nightly peaked at
        1,512 MiB that way, its workers at ~610 MiB each in the merge)."""
        client = getattr(self._executor, "client", None)
        if client is not None and self.scheduler is None:
            self.log("nightly: restarting the local cluster's workers before the analysis")
            client.restart()


def nightly(config: Config, days: list[str], scheduler: str | None = None,
            workers: int | None = None, local: bool = False, log: Log = print_log) -> dict:
    """Run the chain over ``days``; the report (also kept in the ledger as ``nightly``)."""
    started = time.time()
    scope = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    with nightly_lock(config), hold_days(config.scratch_dir, days, "nightly"), \
            ExitStack() as stack:
        cluster = _Cluster(config, scheduler, workers, local, log, stack)
        outcomes: list[Outcome] = []
        ready: list[str] = []                  # days processed now or before, not failed
        for day in days:
            day_outcomes = _day_chain(config, day, cluster, log)
            outcomes += day_outcomes
            if day_outcomes[-1].verdict != FAILED and lake.day_run(config.lake_dir, day):
                ready.append(day)
        pruned, lake_pruned = _prune_stage(config, log)
        outcomes.append(pruned)
        ready = [day for day in ready if lake.day_run(config.lake_dir, day)]
        if lake_pruned and not ready and lake.processed_days(config.lake_dir):
            ready = lake.processed_days(config.lake_dir)[-1:]    # lake days went: analyse
            outcomes.append(_timed("analyse", ready[0], log,
                                   lambda: _analyse(config, ready, cluster, log)))
        else:
            outcomes += _analyse_stage(config, days, ready, cluster, log)
        outcomes.append(_verify_stage(config, log))
    report = _report(days, outcomes, started)
    with open_store(config.store) as store:
        store.record_job("nightly", scope, report["status"], report, started, time.time())
    return report


def _timed(stage: str, day: str, log: Log, run: Callable[[], str]) -> Outcome:
    """Run one stage; its outcome, failures included (one line each, never a traceback)."""
    clock = time.time()
    log(f"nightly: {stage} {day or ''} ...".rstrip())
    try:
        reason = run()
    except (TpdaskError, OSError) as exc:
        log(f"nightly: {stage} {day} failed: {exc}")
        return Outcome(stage, day, FAILED, str(exc), round(time.time() - clock, 2))
    return Outcome(stage, day, DONE, reason, round(time.time() - clock, 2))


def _skipped(stage: str, day: str, reason: str, log: Log) -> Outcome:
    log(f"nightly: {stage} {day} skipped: {reason}")
    return Outcome(stage, day, SKIPPED, reason)


def _day_chain(config: Config, day: str, cluster: _Cluster, log: Log) -> list[Outcome]:
    """archive then process of one day; stops at the first failure."""
    folder = config.samples_dir / day
    loose = [p for p in folder.iterdir() if is_sample_name(p.name)] if folder.is_dir() else []
    archived = (config.archive_dir / f"{day}.7z").exists()
    if not loose and not archived:
        return [_skipped(stage, day, "no samples for this day", log)
                for stage in ("archive", "process")]
    if loose:
        archive = _timed("archive", day, log, lambda: _archive(config, day, log))
        if archive.verdict == FAILED:
            return [archive, _skipped("process", day, "its archive failed", log)]
    else:
        archive = _skipped("archive", day, "no new samples: archived already", log)
    current = _processed_already(config, day)
    if current:
        return [archive, _skipped("process", day, current, log)]
    return [archive, _timed("process", day, log, lambda: _process(config, day, cluster, log))]


def _archive(config: Config, day: str, log: Log) -> str:
    report = archive_day(config, day, log)
    with open_store(config.store) as store:
        store.record_job("archive", day, "done", asdict(report), time.time() - report.seconds,
                         time.time())
    return f"{report.files_archived} files into {report.members} members"


def _processed_already(config: Config, day: str) -> str:
    """Why the day needs no process run (the ledger has one with the same inputs whose lake
    is the day's), or ''."""
    inputs = process_inputs(find_input(config, day))
    with open_store(config.store) as store:
        runs = [r["report"] for r in store.job_runs("process", day) if r["status"] == "done"]
    last = runs[0] if runs else None
    if last and last.get("inputs") == inputs and last.get("run") == lake.day_run(
            config.lake_dir, day):
        return "processed already from the same archive"
    return ""


def _process(config: Config, day: str, cluster: _Cluster, log: Log) -> str:
    executor = cluster()
    release_memory(executor)            # what archiving freed, before the workers start
    report = process_day(config, day, executor, log)
    release_memory(executor)            # the next day's job or the analysis comes next
    return f"{report['viewers']:,} viewers"


def _analyse_stage(config: Config, days: list[str], ready: list[str], cluster: _Cluster,
                   log: Log) -> list[Outcome]:
    """One analyse of the run's processed days whose results are not current."""
    if not ready:
        return [_skipped("analyse", day, "nothing processed", log) for day in days]
    with open_store(config.store) as store:
        needed = _not_current(config, store, ready)
    outcome = _timed("analyse", ",".join(needed), log,
                     lambda: _analyse(config, needed, cluster, log)) if needed else None
    return [Outcome("analyse", day, outcome.verdict, outcome.reason, outcome.seconds)
            if outcome and day in needed else _skipped(
                "analyse", day, "results current" if day in ready else "not processed", log)
            for day in days]


def _not_current(config: Config, store: Store, days: list[str]) -> list[str]:
    inputs = inputs_of(config, lake_runs(config))
    plan = plan_analysis(config, store, [], inputs)
    analysed = set(store.result_bases("streamer_days"))
    stale = plan.profiles_stale or bool(plan.contribute or plan.report or plan.overlaps
                                        or plan.broadcasts)
    return [d for d in days if d not in analysed or d in plan.report or
            (stale and d == days[-1])]


def _analyse(config: Config, days: list[str], cluster: _Cluster, log: Log) -> str:
    cluster.fresh_workers()
    report = analyse(config, days, cluster(), log)
    return (f"{len(report['days'])} days analysed, {len(report['updated_days'])} others "
            "updated")


def _prune_stage(config: Config, log: Log) -> tuple[Outcome, bool]:
    """The retention settings applied, before analyse (which then makes the results that
    read a pruned lake day again in the same run); skipped when nothing is set. Also says
    whether lake days went."""
    from tpdask.privacy.prune import prune
    from tpdask.privacy.retention import any_retention

    if not any_retention(config):
        return _skipped("prune", "", "no retention set (retention_archive_days, "
                        "retention_lake_days and retention_store_days are 0: kept for ever)",
                        log), False
    lake_days: list[str] = []

    def run() -> str:
        report = prune(config, log=log)
        lake_days.extend(report.plan.lake)
        if report.plan.empty:
            return "nothing past the retention"
        return (f"{len(report.plan.archive)} archive, {len(report.plan.lake)} lake and "
                f"{len(report.plan.store)} store days")
    outcome = _timed("prune", "", log, run)
    return outcome, outcome.verdict == DONE and bool(lake_days)


def _verify_stage(config: Config, log: Log) -> Outcome:
    from tpdask.collect.credentials import load_credentials
    from tpdask.privacy.policy import refuse_if_pseudonymous

    try:
        refuse_if_pseudonymous(config.data_dir, "verify")
    except ConfigError:
        return _skipped("verify", "", "pseudonymous mode: Twitch cannot look pseudonyms up", log)
    try:
        load_credentials()
    except ConfigError:
        return _skipped("verify", "", "no Twitch credentials (TPDASK_CLIENT_ID, "
                        "TPDASK_CLIENT_SECRET or TPDASK_SECRETS_FILE)", log)

    def run() -> str:
        from tpdask.verify import verify

        limit = config.nightly_verify_limit or None
        report = verify(config, limit=limit, log=log)
        return f"{report['checked']:,} accounts checked"
    return _timed("verify", "", log, run)


def _report(days: list[str], outcomes: list[Outcome], started: float) -> dict:
    failed = [o for o in outcomes if o.verdict == FAILED]
    done = [o for o in outcomes if o.verdict != FAILED]
    status = "done" if not failed else "partial" if any(
        o.verdict == DONE for o in done) else "failed"
    return {"days": days, "status": status, "failed": len(failed),
            "stages": [asdict(o) for o in outcomes], "seconds": round(time.time() - started, 2)}
