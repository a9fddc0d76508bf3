"""Overlap of a period: audiences and shared viewers from the analysed days' contributions,
plus the communities of the overlap graph; both kept in the store for the website, with
the basis they were computed from (``analyse`` makes a kept period again when a day of it
changes)."""

from __future__ import annotations

import time

from tpdask.analysis import STATE_BUCKETS
from tpdask.analysis.basis import inputs_of
from tpdask.analysis.overlap import OverlapTask, combine, communities, overlap_part, period_scope
from tpdask.analysis.plan import contrib_dir, contrib_run, lake_runs
from tpdask.days import parse_day, parse_period
from tpdask.errors import NoRecordsError, StaleResultsError
from tpdask.executor import Executor, ThreadExecutor
from tpdask.export import write_lines
from tpdask.log import Log, print_log
from tpdask.running import new_run_id
from tpdask.settings import Config
from tpdask.stores import open_store
from tpdask.stores.base import Publication

#: the audience threshold of the analytics contract when --min_minutes is not given
MIN_MINUTES = 10


def period_days(config: Config, since: str, until: str) -> list[str]:
    """The processed days of [since, until], each with current contributions."""
    since, until = parse_period(since, until)
    runs = lake_runs(config)
    days = [d for d in sorted(runs) if since <= d <= until]
    stale = [d for d in days if contrib_run(config, d) != runs[d]]
    if stale:
        raise StaleResultsError(
            f"{len(stale)} days of the period are processed but not analysed as processed "
            f"({stale[0]} …): run `tpdask analyse --since {stale[0]} --until {stale[-1]}`")
    return days


def compute_overlap(config: Config, days: list[str], min_minutes: float, bots: bool,
                    executor: Executor | None = None) -> tuple[list[dict], dict[str, int]]:
    """The overlap documents of ``days`` by (a, b), and the communities; nothing stored."""
    executor = executor or ThreadExecutor(log=lambda m: None)
    tasks = [OverlapTask(bucket=b, contrib_dirs=tuple(str(contrib_dir(config, d)) for d in days),
                         min_minutes=float(min_minutes), bots=bool(bots),
                         rules=config.bot_rules(), interval=config.interval)
             for b in range(STATE_BUCKETS)]
    docs = combine(executor.map(overlap_part, tasks, "overlap"))
    return docs, communities(docs)


def overlap_results(scope: str, docs: list[dict], groups: dict[str, int]
                    ) -> dict[tuple[str, str], dict[str, dict]]:
    """What a period's overlap keeps in the store: its pairs and its communities."""
    return {("overlap", scope): {f"{d['a']} {d['b']}": d for d in docs},
            ("communities", scope): {s: {"streamer": s, "community": k}
                                     for s, k in groups.items()}}


def overlap(config: Config, since: str, until: str, min_minutes: float = MIN_MINUTES,
            bots: bool = False, executor: Executor | None = None,
            log: Log = print_log) -> tuple[list[dict], dict[str, int]]:
    """The period's overlap documents by (a, b) and its communities; stored as well."""
    started = time.time()
    days = period_days(config, since, until)
    docs, groups = compute_overlap(config, days, min_minutes, bots, executor)
    since, until = parse_day(since), parse_day(until)
    scope = period_scope(since, until, float(min_minutes), bool(bots))
    inputs = inputs_of(config, lake_runs(config))
    with open_store(config.store, create=False) as store:
        store.publish_results(Publication(
            run=new_run_id(started), replaced=overlap_results(scope, docs, groups),
            bases={("overlap", scope): inputs.overlap(since, until, min_minutes, bots),
                   ("communities", scope): inputs.overlap(since, until, min_minutes, bots)}))
    log(f"overlap {scope}: {len(days)} days, {len(docs)} pairs, "
        f"{len(set(groups.values()))} communities in {time.time() - started:.1f} s")
    return docs, groups


def export_overlap(config: Config, since: str, until: str, min_minutes: float | None,
                   bots: bool, out: str | None) -> int:
    """`tpdask export overlap`: the period's pairs as JSON lines, by (a, b); min_minutes
    None (not given) is MIN_MINUTES."""
    if not period_days(config, since, until):
        raise NoRecordsError(f"no processed day in {since} … {until}")
    minutes = MIN_MINUTES if min_minutes is None else min_minutes
    docs, _ = overlap(config, since, until, min_minutes=minutes, bots=bots)
    return write_lines(docs, out)
