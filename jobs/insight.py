"""Insight of a period: broadcasts with their stream health, and audience flows.

Computed on demand from the analysed days (like the overlap): the period's ``streams`` rows
give the broadcasts and their health on the client (a few thousand rows a day); one task
per state bucket counts ``gone_share`` (the bucket's audiences against its account
statuses) and the flows (its leavers), from the days' contributions. Both are kept in the
store under the period, with the basis they were computed from: ``analyse`` makes a kept
period again when one of its days or the settings change (and ``gone_share`` when the
verifier ran since).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pyarrow as pa

from jobs.overlap import period_days
from tpdask.analysis import STATE_BUCKETS
from tpdask.analysis.basis import inputs_of
from tpdask.analysis.broadcasts import (GoneTask, add_gone, broadcast_docs, gone_counts,
                                        period_streams, rate)
from tpdask.analysis.flows import FlowTask, flow_counts, flow_docs
from tpdask.analysis.plan import (broadcasts_scope, contrib_dir, flows_scope, insight_basis,
                                  lake_runs)
from tpdask.analysis.presence import HEAD_SECONDS
from tpdask.days import parse_day
from tpdask.errors import NoRecordsError, UsageError
from tpdask.executor import Executor, ThreadExecutor
from tpdask.export import write_lines
from tpdask.log import Log, print_log
from tpdask.process import lake
from tpdask.process.partition import bucket_of
from tpdask.running import new_run_id
from tpdask.settings import Config
from tpdask.stores import Store, open_store
from tpdask.stores.base import Publication

#: --within when not given, minutes (the Insight contract's default).
WITHIN = 15


def check_within(within: float) -> int:
    """--within in seconds; a UsageError unless 0 < within ≤ the head the days keep."""
    if not 0 < within <= HEAD_SECONDS / 60:
        raise UsageError(f"--within must be more than 0 and at most {HEAD_SECONDS // 60} "
                         f"minutes, got {within:g}")
    return round(within * 60)


def insight_results(kind: str, scope: str, docs: list[dict]) -> dict[tuple[str, str], dict]:
    """What a period's broadcasts or flows keep in the store."""
    if kind == "broadcasts":
        return {(kind, scope): {f"{d['streamer']} {d['started_at']}": d for d in docs}}
    return {(kind, scope): {f"{d['from']} {d['to']}": d for d in docs}}


def compute_broadcasts(config: Config, store: Store, days: list[str],
                       executor: Executor, scratch: Path) -> list[dict]:
    """The broadcast documents of ``days`` by (streamer, started_at); nothing stored."""
    docs = broadcast_docs(period_streams(config.lake_dir, days), config.interval)
    rate(docs, config.health_min_viewers, config.health_ratio)
    files = statuses_by_bucket(store, scratch)
    tasks = [GoneTask(bucket=b, contrib_dirs=_contribs(config, days), statuses=files[b],
                      rules=config.bot_rules(), interval=config.interval)
             for b in range(STATE_BUCKETS)]
    add_gone(docs, executor.map(gone_counts, tasks, "gone_share"))
    return list(docs.values())


def statuses_by_bucket(store: Store, scratch: Path) -> list[str]:
    """The account statuses as (viewer, status) files, one per state bucket."""
    import pyarrow.parquet as pq

    viewers, statuses = [], []
    for s in store.iter_statuses():
        viewers.append(s["viewer"])
        statuses.append(s["status"])
    table = pa.table({"viewer": pa.array(viewers, pa.string()),
                      "status": pa.array(statuses, pa.string())})
    bucket = bucket_of(table.column("viewer").combine_chunks(), STATE_BUCKETS)
    scratch.mkdir(parents=True, exist_ok=True)
    files = []
    for b in range(STATE_BUCKETS):
        path = scratch / f"statuses-b{b:03d}.parquet"
        pq.write_table(table.filter(pa.array(bucket == b)), path)
        files.append(str(path))
    return files


def _contribs(config: Config, days: list[str]) -> tuple[str, ...]:
    return tuple(str(contrib_dir(config, d)) for d in days)


def compute_flows(config: Config, days: list[str], within: int,
                  executor: Executor) -> list[dict]:
    """The flow documents of ``days`` by (from, to); ``within`` in seconds."""
    docs = broadcast_docs(period_streams(config.lake_dir, days), config.interval)
    times = [t for d in days for t in lake.read_times(config.lake_dir, d).to_pylist()]
    last_sample = max(times, default=0)
    ending = tuple((b["streamer"], b["started_at"], b["last_ts"]) for b in docs.values()
                   if last_sample > b["last_ts"] + within)
    tasks = [FlowTask(bucket=b, contrib_dirs=_contribs(config, days), ending=ending,
                      within=within, rules=config.bot_rules(), interval=config.interval)
             for b in range(STATE_BUCKETS)]
    return flow_docs(executor.map(flow_counts, tasks, "flows"))


def broadcasts(config: Config, since: str, until: str, executor: Executor | None = None,
               log: Log = print_log) -> list[dict]:
    """The period's broadcasts, stored as well (kind ``broadcasts``)."""
    started = time.time()
    since, until = parse_day(since), parse_day(until)
    days = period_days(config, since, until)
    scratch = config.scratch_dir / f"insight-{new_run_id(started)}"
    try:
        with open_store(config.store, create=False) as store:
            docs = compute_broadcasts(config, store, days, executor or ThreadExecutor(
                log=lambda m: None), scratch)
            scope = broadcasts_scope(since, until)
            store.publish_results(Publication(
                run=new_run_id(started),
                replaced=insight_results("broadcasts", scope, docs),
                bases={("broadcasts", scope): insight_basis(config, inputs_of(config, lake_runs(config)), store, since, until)}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"broadcasts {since} … {until}: {len(days)} days, {len(docs)} broadcasts, "
        f"{sum(d['suspect'] for d in docs)} suspect, in {time.time() - started:.1f} s")
    return docs


def flows(config: Config, since: str, until: str, within: float = WITHIN,
          executor: Executor | None = None, log: Log = print_log) -> list[dict]:
    """The period's flows, stored as well (kind ``flows``)."""
    started = time.time()
    seconds = check_within(float(within))
    since, until = parse_day(since), parse_day(until)
    days = period_days(config, since, until)
    docs = compute_flows(config, days, seconds, executor or ThreadExecutor(log=lambda m: None))
    scope = flows_scope(since, until, float(within))
    with open_store(config.store, create=False) as store:
        store.publish_results(Publication(
            run=new_run_id(started),
            replaced=insight_results("flows", scope, docs),
            bases={("flows", scope): insight_basis(config, inputs_of(config, lake_runs(config)), store, since, until, within)}))
    log(f"flows {scope}: {len(days)} days, {len(docs)} pairs in {time.time() - started:.1f} s")
    return docs


def export_broadcasts(config: Config, since: str, until: str, out: str | None) -> int:
    """`tpdask export broadcasts`: the period's broadcasts as JSON lines."""
    if not period_days(config, since, until):
        raise NoRecordsError(f"no processed day in {since} … {until}")
    return write_lines(broadcasts(config, since, until), out)


def export_flows(config: Config, since: str, until: str, within: float | None,
                 out: str | None) -> int:
    """`tpdask export flows`: the period's flows as JSON lines; within None is WITHIN."""
    minutes = WITHIN if within is None else within
    check_within(float(minutes))
    if not period_days(config, since, until):
        raise NoRecordsError(f"no processed day in {since} … {until}")
    return write_lines(flows(config, since, until, minutes), out)
