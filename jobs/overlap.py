"""Overlap of a period: audiences and shared viewers from the analysed days' contributions,
plus the communities of the overlap graph; both kept in the store for the website."""

from __future__ import annotations

import time

from jobs.analyse import check_days, contrib_dir, contrib_run
from tpdask.analysis import STATE_BUCKETS
from tpdask.analysis.overlap import OverlapTask, combine, communities, overlap_part
from tpdask.days import parse_day
from tpdask.errors import ConfigError, NoRecordsError
from tpdask.executor import Executor, ThreadExecutor
from tpdask.export import write_lines
from tpdask.log import Log, print_log
from tpdask.settings import Config
from tpdask.stores import open_store

#: the audience threshold of the analytics contract when --min_minutes is not given
MIN_MINUTES = 10


def period_scope(since: str, until: str, min_minutes: float, bots: bool) -> str:
    """The store scope of a period's results (no `|`: see the MongoDB store)."""
    return f"{since}..{until}:min_minutes={min_minutes:g}:bots={int(bots)}"


def period_days(config: Config, since: str, until: str) -> list[str]:
    """The processed days of [since, until], each with current contributions."""
    since, until = parse_day(since), parse_day(until)
    if since > until:
        raise ConfigError(f"--since {since} is after --until {until}")
    runs = check_days(config, [])
    days = [d for d in sorted(runs) if since <= d <= until]
    stale = [d for d in days if contrib_run(config, d) != runs[d]]
    if stale:
        raise ConfigError(f"{len(stale)} days of the period are not analysed as processed "
                          f"({stale[0]} …): run `tpdask analyse --since {since} --until {until}`")
    return days


def overlap(config: Config, since: str, until: str, min_minutes: float = MIN_MINUTES,
            bots: bool = False, executor: Executor | None = None,
            log: Log = print_log) -> tuple[list[dict], dict[str, int]]:
    """The period's overlap documents by (a, b) and its communities; stored as well."""
    started = time.time()
    days = period_days(config, since, until)
    executor = executor or ThreadExecutor(log=lambda m: None)
    tasks = [OverlapTask(bucket=b, contrib_dirs=tuple(str(contrib_dir(config, d)) for d in days),
                         min_minutes=float(min_minutes), bots=bool(bots))
             for b in range(STATE_BUCKETS)]
    docs = combine(executor.map(overlap_part, tasks, "overlap"))
    groups = communities(docs)
    scope = period_scope(parse_day(since), parse_day(until), float(min_minutes), bool(bots))
    with open_store(config.store) as store:
        store.replace_results("overlap", scope, {f"{d['a']} {d['b']}": d for d in docs})
        store.replace_results("communities", scope,
                              {s: {"streamer": s, "community": k} for s, k in groups.items()})
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
