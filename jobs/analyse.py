"""The analyser job: processed days in the lake → bots, streamer-day statistics, profiles.

Plan: phase A computes the contributions of each day that needs them (the days asked for,
and any processed day whose contributions are missing or older than its lake day), one
task per lake part; phase B merges every processed day into each state bucket and counts
new and returning viewers of the days asked for, one task per bucket. The client then
puts the days' bots and streamer statistics together and writes them to the store; the
buckets wrote the profiles that changed. Runs on the same executors as `process`.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tpdask.analysis import STATE_BUCKETS
from tpdask.analysis.contributions import ContributionReport, ContributionTask, contribute
from tpdask.analysis.state import (LoadTask, MergeReport, MergeTask, load_profiles, merge_bucket,
                                   publish_state)
from tpdask.analysis.streams import read_streams, stream_stats
from tpdask.errors import ConfigError, JobError
from tpdask.executor import Executor
from tpdask.files import try_lock
from tpdask.log import Log, print_log, sum_step_seconds
from tpdask.process import lake
from tpdask.running import new_run_id
from tpdask.settings import BotRules, Config
from tpdask.stores import Store, open_store


def analysis_dir(config: Config) -> Path:
    return config.lake_dir / "analysis"


def contrib_dir(config: Config, day: str) -> Path:
    return analysis_dir(config) / "contrib" / f"day={day}"


def contrib_run(config: Config, day: str) -> str | None:
    marker = contrib_dir(config, day) / "_lake_run"
    return marker.read_text().strip() if marker.exists() else None


def check_days(config: Config, days: list[str]) -> dict[str, str]:
    """Every processed day → the run that wrote it; ConfigError when an asked day is not
    processed or a day was processed before the lake kept its sample times."""
    processed = lake.processed_days(config.lake_dir)
    missing = [day for day in days if day not in processed]
    if missing:
        raise ConfigError(f"not processed yet: {', '.join(missing)} — run `tpdask process "
                          f"--day {missing[0]}` first")
    runs = {day: lake.day_run(config.lake_dir, day) for day in processed}
    old = [day for day, run in runs.items() if run is None]
    if old:
        raise ConfigError(f"{len(old)} days were processed before the lake kept their sample "
                          f"times ({old[0]} …): run `tpdask process --day {old[0]}` again for each")
    return {day: str(run) for day, run in runs.items()}


@contextmanager
def analyse_lock(config: Config) -> Iterator[None]:
    """One analyser at a time per data folder (the state buckets are read-modify-write)."""
    with try_lock(config.scratch_dir / "analyse.lock") as held:
        if held is None:
            raise JobError("another `tpdask analyse` is running on this data folder; wait for "
                           "it to finish and run analyse again")
        yield


def analyse(config: Config, days: list[str], executor: Executor, rules: BotRules = BotRules(),
            log: Log = print_log) -> dict:
    """Analyse ``days`` (and merge every processed day into the profiles); the job report."""
    runs = check_days(config, days)
    with analyse_lock(config), open_store(config.store) as store:
        _clean_leftovers(config, log)
        started = time.time()
        scope = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
        try:
            report = _analyse(config, days, runs, executor, rules, store, log, started)
        except BaseException as exc:
            store.record_job("analyse", scope, "failed", {"error": repr(exc)}, started, time.time())
            raise
        store.record_job("analyse", scope, "done", report, started, time.time())
        return report


def _analyse(config: Config, days: list[str], runs: dict[str, str], executor: Executor,
             rules: BotRules, store: Store, log: Log, started: float) -> dict:
    run = new_run_id(started)
    stale = [d for d in runs if d not in days and contrib_run(config, d) != runs[d]]
    todo = days + stale
    log(f"analyse {len(days)} days ({len(stale)} other processed days need contributions), "
        f"{len(runs)} processed days into {STATE_BUCKETS} state buckets, "
        f"{executor.workers} workers")
    tasks = [task for day in todo for task in _contribution_tasks(config, day, run, rules)]
    clock = time.time()
    parts = executor.map(contribute, tasks, "contributions")
    for day in todo:
        out = contrib_dir(config, day).with_name(f".day={day}.{run}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "_lake_run").write_text(runs[day] + "\n")
        lake.swap_dir(out, contrib_dir(config, day))
    contribution_seconds = time.time() - clock
    scratch = config.scratch_dir / f"analyse-{run}"
    merge_tasks = [MergeTask(bucket=b, state_dir=str(analysis_dir(config) / "state"),
                             days=tuple((d, runs[d], str(contrib_dir(config, d)))
                                        for d in sorted(runs)),
                             report_days=tuple(days), out_dir=str(scratch), run=run)
                   for b in range(STATE_BUCKETS)]
    clock = time.time()
    merges = executor.map(merge_bucket, merge_tasks, "merge")
    merge_seconds = time.time() - clock
    clock = time.time()
    files = tuple(str(scratch / f"profiles-b{m.bucket:03d}.parquet") for m in merges if m.staged)
    executor.map(load_profiles, [LoadTask(files=files, store=config.store)], "store profiles")
    for m in merges:               # only now: a kill before leaves the old state, redone next run
        if m.staged:
            publish_state(m.staged)
    store_seconds = time.time() - clock
    shutil.rmtree(scratch, ignore_errors=True)
    per_day = {}
    for day in days:
        mine = [p for t, p in zip(tasks, parts) if t.day == day]
        per_day[day] = _write_day(config, day, mine, merges, store)
    return {
        "days": days, "viewers": sum(d["viewers"] for d in per_day.values()),
        "processed_days": len(runs), "contributed_days": len(todo),
        "profiles_written": sum(m.profiles for m in merges),
        "rebuilt_buckets": sum(m.rebuilt for m in merges),
        "per_day": per_day, "workers": executor.workers,
        "seconds": round(time.time() - started, 2),
        "phase_seconds": {"contributions": round(contribution_seconds, 2),
                          "merge": round(merge_seconds, 2),
                          "store profiles": round(store_seconds, 2)},
        "merge_task_seconds": sum_step_seconds(merges),
    }


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


def _contribution_tasks(config: Config, day: str, run: str, rules: BotRules
                        ) -> list[ContributionTask]:
    times = tuple(lake.read_times(config.lake_dir, day).to_pylist())
    out = contrib_dir(config, day).with_name(f".day={day}.{run}")
    parts = sorted(lake.day_dir(config.lake_dir, "viewer_days", day).glob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    return [ContributionTask(day=day, part=str(p), times=times, interval=config.interval,
                             rules=rules, out_dir=str(out), buckets=STATE_BUCKETS)
            for p in parts]


def _write_day(config: Config, day: str, parts: list[ContributionReport],
               merges: list[MergeReport], store: Store) -> dict:
    """The day's bots and streamer-day statistics into the store; the day's counts."""
    bots = {viewer: {"viewer": viewer, "day": day, "reasons": reasons}
            for p in parts for viewer, reasons in p.bot_viewers}
    store.replace_results("bots", day, bots)
    docs = streamer_days(config, day, parts, merges)
    store.replace_results("streamer_days", day, docs)
    reasons: dict[str, int] = {}
    for p in parts:
        for reason, n in p.bots.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return {"viewers": sum(p.viewers for p in parts), "bots": len(bots),
            "bot_reasons": reasons, "streamers": len(docs)}


def streamer_days(config: Config, day: str, parts: list[ContributionReport],
                  merges: list[MergeReport]) -> dict[str, dict]:
    """streamer → its streamer-day document, for every streamer with a record that day."""
    streamers = sorted({s for p in parts for s in p.all_streamers})
    stats = stream_stats(read_streams(config.lake_dir, day))
    docs = {}
    for s in streamers:
        viewers = sum(p.streamers.get(s, [0, 0])[0] for p in parts)
        minutes = sum(p.streamers.get(s, [0, 0])[1] for p in parts)
        new = sum(m.new_returning[day].get(s, [0, 0])[0] for m in merges)
        returning = sum(m.new_returning[day].get(s, [0, 0])[1] for m in merges)
        st = stats.get(s, {})
        docs[s] = {
            "streamer": s, "day": day, "samples": st.get("samples", 0), "viewers": viewers,
            "minutes": int(minutes) if float(minutes).is_integer() else minutes,
            "avg_chatters": st.get("avg_chatters", 0.0), "peak_chatters": st.get("peak_chatters", 0),
            "new_viewers": new, "returning_viewers": returning,
            "avg_viewer_count": st.get("avg_viewer_count"),
            "peak_viewer_count": st.get("peak_viewer_count"), "games": st.get("games", {}),
        }
    return docs


def analyse_command(config: Config, days: list[str], scheduler: str | None = None,
        workers: int | None = None, local: bool = False, rules: BotRules = BotRules(),
        log: Log = print_log) -> dict:
    """Analyse on Dask (a new LocalCluster, or `scheduler`), or in-process with local."""
    from tpdask.executor import LocalExecutor, dask_executor

    check_days(config, days)           # nothing to analyse: say so before starting a cluster
    if local:
        return analyse(config, days, LocalExecutor(log), rules, log)
    with dask_executor(scheduler, workers, log, dashboard_host=config.dashboard_host,
                       data_dir=config.data_dir, job=f"analyse {days[0]}..{days[-1]}") as executor:
        return analyse(config, days, executor, rules, log)
