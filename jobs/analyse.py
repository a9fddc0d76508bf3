"""The analyser job: processed days in the lake → bots, streamer-day statistics, profiles,
and every stored result brought up to date with the lake and the settings.

Plan (:mod:`tpdask.analysis.plan`): which days need contributions, which analysed days'
results no longer match their inputs, which kept overlap periods changed. Then, holding
every day whose lake it reads (a `process` of one of them refuses to start, and the other
way round), it checks those days against the job ledger (every part the process run wrote
is there, whole), computes the contributions (phase A, one task per lake part), merges
every processed day into each state bucket and tallies the days to report (phase B, one
task per bucket), makes the kept overlaps again, and publishes everything in one step
(:meth:`tpdask.stores.base.Store.publish_results`): a failing run publishes nothing. Only
then are the new state buckets swapped in.
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.broadcast_days import publish_broadcast_days
from jobs.overlap import compute_overlap, overlap_results
from tpdask.analysis import STATE_BUCKETS, daily, profiles
from tpdask.analysis.basis import inputs_of
from tpdask.analysis.contributions import (ContributionTask, contribute, read_day_manifest,
                                           write_day_manifest)
from tpdask.analysis.overlap import parse_period_scope
from tpdask.analysis.plan import (AnalysisPlan, analysis_dir, contrib_dir, insight_basis, lake_runs,
                                  parse_insight_scope, plan_analysis)
from tpdask.analysis.state import MergeReport, MergeTask, bucket_dir, merge_bucket, publish_state
from tpdask.analysis.streams import read_streams, stream_stats
from tpdask.errors import JobError, TpdaskError
from tpdask.executor import Executor, performance_report, reports_dir
from tpdask.files import try_lock
from tpdask.log import Log, print_log, sum_step_seconds
from tpdask.privacy.modes import secure_data_dir
from tpdask.process import lake
from tpdask.process.partition import bucket_of
from tpdask.running import hold_days, new_run_id
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store
from tpdask.stores.base import Publication


@contextmanager
def analyse_lock(config: Config) -> Iterator[None]:
    """One analyser at a time per data folder (the state buckets are read-modify-write)."""
    with try_lock(config.scratch_dir / "analyse.lock") as held:
        if held is None:
            raise JobError("another `tpdask analyse` is running on this data folder (or a "
                           "`tpdask erase` or `prune` holds it); wait for it to finish and run "
                           "analyse again")
        yield


def analyse(config: Config, days: list[str], executor: Executor, log: Log = print_log) -> dict:
    """Analyse ``days`` and bring every stored result up to date; the job report."""
    lake_runs(config, days)          # the days asked for are processed: say so before locking
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    with analyse_lock(config), open_store(config.store) as store:
        _clean_leftovers(config, log)
        started = time.time()
        scope = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
        try:
            with _planned(config, store, days, log) as plan:
                report = _analyse(config, plan, executor, store, log, started)
        except BaseException as exc:
            try:    # best effort: when the store is what failed (a full disk), so may this
                store.record_job("analyse", scope, "failed", {"error": repr(exc)}, started,
                                 time.time())
            except TpdaskError:
                pass             # the run reports its own error, not the ledger's
            if isinstance(exc, (TpdaskError, KeyboardInterrupt)):
                raise
            raise JobError(f"analyse failed and published nothing: {type(exc).__name__}: {exc}"
                           f" — fix the cause and run analyse again") from exc
        store.record_job("analyse", scope, "done", report, started, time.time())
        return report


@contextmanager
def _planned(config: Config, store: Store, days: list[str], log: Log) -> Iterator[AnalysisPlan]:
    """The plan, with every day whose lake it reads held and checked against the ledger.

    The lake may change until a day is held, so the plan is made again once the days are
    held, until it needs no other day.
    """
    with ExitStack() as stack:
        held: set[str] = set()
        while True:
            inputs = inputs_of(config, lake_runs(config, days))
            plan = plan_analysis(config, store, days, inputs)
            new = set(plan.lake_days) - held
            if not new:
                break
            stack.enter_context(hold_days(config.scratch_dir, new, "analyse"))
            held |= new
            for day in new:           # a run killed while publishing left it renamed away
                lake.restore_half_published(config.lake_dir, day)
        for day in plan.lake_days:
            _check_lake(config, store, day, inputs.runs[day])
        yield plan


def _check_lake(config: Config, store: Store, day: str, run: str) -> None:
    """The day's lake holds every part its process run wrote (the ledger says which)."""
    runs = [r["report"] for r in store.job_runs("process", day) if r["status"] == "done"]
    report = next((r for r in runs if r.get("run") == run), None)
    if report is not None and "lake" in report:
        lake.check_day(config.lake_dir, day, report["lake"])
        return
    parts = sorted(lake.day_dir(config.lake_dir, "viewer_days", day).glob("*.parquet"))
    if runs and "buckets" in runs[0] and len(parts) != runs[0]["buckets"]:
        raise JobError(f"the lake of {day} is incomplete: {len(parts)} of its "
                       f"{runs[0]['buckets']} viewer_days parts are there; run "
                       f"`tpdask process --day {day}` again")


def _analyse(config: Config, plan: AnalysisPlan, executor: Executor, store: Store, log: Log,
             started: float) -> dict:
    run = new_run_id(started)
    runs = plan.inputs.runs
    log(f"analyse {len(plan.asked)} days (and {len(plan.updated)} analysed days whose results "
        f"changed), {len(plan.contribute)} days to contribute, {len(runs)} processed days into "
        f"{STATE_BUCKETS} state buckets, {executor.workers} workers")
    report_path = reports_dir(config.data_dir) / f"analyse-{plan.asked[-1]}-{run}.html"
    with performance_report(executor, report_path) as saved:
        clock = time.time()
        _contribute(config, plan, executor, run, log)
        contribution_seconds = time.time() - clock
        merges, merge_seconds = _merge(config, plan, executor, run, log)
        clock = time.time()
        publication, per_day = _publication(config, plan, merges, store,
                                            config.scratch_dir / f"analyse-{run}", run, executor)
    store.publish_results(publication)
    for m in merges:               # only now: a kill before leaves the old state, redone next run
        if m.staged:
            publish_state(m.staged)
    store_seconds = time.time() - clock
    shutil.rmtree(config.scratch_dir / f"analyse-{run}", ignore_errors=True)
    return {
        "days": list(plan.asked), "updated_days": list(plan.updated),
        "viewers": sum(per_day[d]["viewers"] for d in plan.asked),
        "processed_days": len(runs), "contributed_days": len(plan.contribute),
        "profiles_written": sum(m.profiles for m in merges),
        "profiles_deleted": sum(len(d) for d in publication.deleted.values()),
        "rebuilt_buckets": sum(1 for m in merges if m.rebuilt),
        "overlaps_updated": len(plan.overlaps),
        "insights_updated": len(plan.insights),
        "broadcast_days": len(plan.broadcasts),
        "per_day": per_day, "workers": executor.workers,
        "seconds": round(time.time() - started, 2),
        "phase_seconds": {"contributions": round(contribution_seconds, 2),
                          "merge": round(merge_seconds, 2),
                          "store": round(store_seconds, 2)},
        "merge_task_seconds": sum_step_seconds(merges),
        "performance_report": saved,
    }


def _merge(config: Config, plan: AnalysisPlan, executor: Executor, run: str,
           log: Log) -> tuple[list[MergeReport], float]:
    """Phase B: every processed day merged into each state bucket; the report days tallied."""
    runs = plan.inputs.runs
    scratch = config.scratch_dir / f"analyse-{run}"
    rules = config.bot_rules()
    merge_tasks = [MergeTask(bucket=b, state_dir=str(analysis_dir(config) / "state"),
                             days=tuple((d, runs[d], str(contrib_dir(config, d))) for d in runs),
                             report_days=plan.report, out_dir=str(scratch), run=run,
                             rules=rules, interval=config.interval)
                   for b in range(STATE_BUCKETS)]
    clock = time.time()
    merges = executor.map(merge_bucket, merge_tasks, "merge")
    for m in merges:
        if m.rebuilt:
            log(f"state bucket {m.bucket} rebuilt from every day's contributions: {m.rebuilt}")
    return merges, time.time() - clock


def _contribute(config: Config, plan: AnalysisPlan, executor: Executor, run: str,
                log: Log) -> None:
    """Phase A for the days that need it; each day's folder is swapped in whole."""
    runs = plan.inputs.runs
    for day in plan.contribute:
        if (contrib_dir(config, day) / "_day.json").exists():
            log(f"contributions of {day} are from another run of the day, of an older format "
                "or incomplete: computing them again from the lake")
    tasks = [task for day in plan.contribute for task in _contribution_tasks(config, day, run)]
    reports = executor.map(contribute, tasks, "contributions")
    for day in plan.contribute:
        out = contrib_dir(config, day).with_name(f".day={day}.{run}")
        out.mkdir(parents=True, exist_ok=True)
        write_day_manifest(out, runs[day], [r for t, r in zip(tasks, reports) if t.day == day])
        lake.swap_dir(out, contrib_dir(config, day))


def _contribution_tasks(config: Config, day: str, run: str) -> list[ContributionTask]:
    times = tuple(lake.read_times(config.lake_dir, day).to_pylist())
    out = contrib_dir(config, day).with_name(f".day={day}.{run}")
    parts = sorted(lake.day_dir(config.lake_dir, "viewer_days", day).glob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    streams = lake.day_dir(config.lake_dir, "streams", day)
    return [ContributionTask(day=day, part=str(p), times=times, interval=config.interval,
                             out_dir=str(out), buckets=STATE_BUCKETS, streams_dir=str(streams))
            for p in parts]


def _publication(config: Config, plan: AnalysisPlan, merges: list[MergeReport], store: Store,
                 scratch: Path, run: str, executor: Executor) -> tuple[Publication, dict]:
    """Everything this run changes in the results, and the report's per-day counts."""
    inputs = plan.inputs
    publication = Publication(run=run)
    per_day = {}
    for day in plan.report:
        tallies = [m.days[day] for m in merges]
        manifest = read_day_manifest(contrib_dir(config, day)) or {}
        stats = stream_stats(read_streams(config.lake_dir, day))
        publication.replaced[("bots", day)] = daily.bots_docs(day, tallies)
        publication.replaced[("streamer_days", day)] = daily.streamer_day_docs(
            day, manifest.get("streamers", []), tallies, stats)
        publication.bases.update(inputs.day_bases(day))
        per_day[day] = {"viewers": sum(t.viewers for t in tallies),
                        "streamers": len(publication.replaced[("streamer_days", day)]),
                        "bots": len(publication.replaced[("bots", day)]),
                        "bot_reasons": daily.bot_reason_counts(tallies)}
    files = [str(scratch / f"profiles-b{m.bucket:03d}.parquet") for m in merges if m.profiles]
    publication.upserted[("profiles", "")] = profiles.encoded_rows(files)
    deleted = sorted(v for m in merges for v in m.deleted)
    deleted += _orphan_profiles(config, store, [m for m in merges if m.rebuilt])
    if deleted:
        publication.deleted[("profiles", "")] = sorted(set(deleted))
    publication.bases[("profiles", "")] = inputs.profiles()
    _insights(config, plan, store, publication, scratch, executor)
    publish_broadcast_days(config, plan, store, publication, scratch, executor)
    for scope in plan.overlaps:
        since, until, min_minutes, bots = parse_period_scope(scope)
        days = [d for d in inputs.runs if since <= d <= until]
        docs, groups = compute_overlap(config, days, min_minutes, bots, executor)
        publication.replaced.update(overlap_results(scope, docs, groups))
        basis = inputs.overlap(since, until, min_minutes, bots)
        publication.bases.update({("overlap", scope): basis, ("communities", scope): basis})
    return publication, per_day


def _insights(config: Config, plan: AnalysisPlan, store: Store, publication: Publication,
              scratch: Path, executor: Executor) -> None:
    """The kept broadcasts and flows periods whose inputs changed, made again."""
    from jobs.insight import check_within, compute_broadcasts, compute_flows, insight_results

    for kind, scope in plan.insights:
        since, until, within = parse_insight_scope(scope)
        days = [d for d in plan.inputs.runs if since <= d <= until]
        if kind == "broadcasts":
            docs = compute_broadcasts(config, store, days, executor, scratch / "insight")
        else:
            docs = compute_flows(config, days, check_within(within), executor)
        publication.replaced.update(insight_results(kind, scope, docs))
        publication.bases[(kind, scope)] = insight_basis(config, plan.inputs, store, since,
                                                         until, within)


def _orphan_profiles(config: Config, store: Store, rebuilt: list[MergeReport]) -> list[str]:
    """Stored profiles of rebuilt buckets whose viewer is in no state any more.

    A bucket rebuilt because its state could not be read cannot say whose profiles it
    had: the store's keys of that bucket are compared with its new state instead.
    """
    if not rebuilt:
        return []
    keys = _stored_profile_keys(store)
    if not keys:
        return []
    of_bucket = bucket_of(pa.array(keys, pa.string()), STATE_BUCKETS)
    orphans: list[str] = []
    for m in rebuilt:
        folder = Path(m.staged) if m.staged else bucket_dir(
            str(analysis_dir(config) / "state"), m.bucket)
        path = folder / "viewers.parquet"
        kept = pq.read_table(path, columns=["viewer"]).column("viewer") if path.exists() \
            else pa.chunked_array([], pa.string())
        mine = pa.array([k for k, b in zip(keys, of_bucket.tolist()) if b == m.bucket],
                        pa.string())
        orphans += mine.filter(pc.invert(pc.is_in(mine, value_set=kept.combine_chunks()))
                               ).to_pylist()
    return orphans


def _stored_profile_keys(store: Store, page: int = 50_000) -> list[str]:
    keys: list[str] = []
    start = ""
    while batch := store.result_keys("profiles", "", start, page):
        keys += batch
        start = batch[-1] + "\0"
    return keys


def _clean_leftovers(config: Config, log: Log) -> None:
    """What a killed analyse left (under the lock, so no live run owns it): its scratch, its
    unpublished contributions and state buckets."""
    found = list(config.scratch_dir.glob("analyse-*"))
    for folder in (analysis_dir(config) / "contrib", analysis_dir(config) / "state"):
        found += [p for p in folder.glob(".*") if p.is_dir()] if folder.is_dir() else []
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    if found:
        log(f"cleaned {len(found)} folders a killed analyse left")


def analyse_command(config: Config, days: list[str], scheduler: str | None = None,
                    workers: int | None = None, local: bool = False,
                    log: Log = print_log) -> dict:
    """Analyse on Dask (a new LocalCluster, or `scheduler`), or in-process with local."""
    from tpdask.executor import LocalExecutor, dask_executor

    lake_runs(config, days)            # nothing to analyse: say so before starting a cluster
    if local:
        return analyse(config, days, LocalExecutor(log), log)
    with dask_executor(scheduler, workers, log, dashboard_host=config.dashboard_host,
                       data_dir=config.data_dir, job=f"analyse {days[0]}..{days[-1]}") as executor:
        return analyse(config, days, executor, log)
