"""Audience overlap over a period, and the communities of the overlap graph.

The audience A(s) of a streamer over [since, until] is the viewers whose minutes with s,
summed over the period, reach ``min_minutes`` (bots left out unless asked: a viewer is a
bot for the period when flagged on any of its days in it; a streamer is never in its own
audience — the day's contributions already leave that pair out). Computed on demand from
the days' contributions, one task per state bucket: a bucket holds whole viewers, so its
audiences and co-occurrence counts add up exactly across buckets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis import bots as bot_rules
from tpdask.analysis.contributions import PAIRS_SCHEMA
from tpdask.settings import BotRules

_SCOPE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2}):min_minutes=([^:]+):bots=([01])")


def period_scope(since: str, until: str, min_minutes: float, bots: bool) -> str:
    """The store scope of a period's results (no `|`: see the MongoDB store)."""
    return f"{since}..{until}:min_minutes={min_minutes:g}:bots={int(bots)}"


def parse_period_scope(scope: str) -> tuple[str, str, float, bool] | None:
    """(since, until, min_minutes, bots) of a period scope; None for anything else."""
    match = _SCOPE.fullmatch(scope)
    if match is None:
        return None
    return match.group(1), match.group(2), float(match.group(3)), match.group(4) == "1"


@dataclass(frozen=True)
class OverlapTask:
    bucket: int
    contrib_dirs: tuple[str, ...]       # the contributions of each day of the period
    min_minutes: float
    bots: bool
    rules: BotRules
    interval: int


@dataclass
class OverlapPart:
    streamers: list[str]                # names of the codes below
    audience: np.ndarray                # |A(s)| within the bucket
    pairs: dict[tuple[int, int], int]   # (code a, code b), a < b by name → shared viewers
    viewers: int = 0                    # the bucket's viewers in at least one audience


def audiences(task: OverlapTask) -> pa.Table:
    """(viewer, streamer) rows of the bucket's audiences over the period."""
    files = [f for d in task.contrib_dirs
             for f in sorted(Path(d).glob(f"pairs-b{task.bucket:03d}-p*.parquet"))]
    tables = [pq.read_table(f).cast(PAIRS_SCHEMA) for f in files]
    pairs = pa.concat_tables(tables) if tables else PAIRS_SCHEMA.empty_table()
    if not task.bots and len(pairs):
        bots = _bot_viewers(task)
        pairs = pairs.filter(pc.invert(pc.is_in(pairs.column("viewer"), value_set=bots)))
    summed = pairs.group_by(["viewer", "streamer"]).aggregate([("minutes", "sum")])
    kept = summed.filter(pc.greater_equal(summed.column("minutes_sum"), task.min_minutes))
    return kept.select(["viewer", "streamer"])


def _bot_viewers(task: OverlapTask) -> pa.Array:
    """Viewers flagged on any day of the period (even a day with no pair to leave out)."""
    found = [pa.array([], pa.string())]
    for d in task.contrib_dirs:
        for f in sorted(Path(d).glob(f"viewers-b{task.bucket:03d}-p*.parquet")):
            t = pq.read_table(f, columns=["viewer", "samples", "peak_streams"])
            names = t.column("viewer").combine_chunks()
            flagged = bot_rules.is_bot(names, np.asarray(t.column("samples")),
                                       np.asarray(t.column("peak_streams")), task.rules,
                                       task.interval)
            found.append(names.filter(pa.array(flagged)))
    return pc.unique(pa.concat_arrays(found))


def overlap_part(task: OverlapTask) -> OverlapPart:
    return co_occurrence_part(audiences(task), "streamer")


def co_occurrence_part(rows: pa.Table, column: str) -> OverlapPart:
    """The audiences and shared viewers of distinct (viewer, ``column``) rows: streamers'
    audiences here, games' in :mod:`tpdask.analysis.broadcast_days`."""
    names = sorted(pc.unique(rows.column(column)).to_pylist())
    if not names:
        return OverlapPart([], np.zeros(0, dtype=np.int64), {}, 0)
    streamer = np.asarray(pc.index_in(rows.column(column), value_set=pa.array(names)))
    viewer = np.asarray(pc.dictionary_encode(rows.column("viewer")).combine_chunks().indices)
    order = np.lexsort((streamer, viewer))
    viewer, streamer = viewer[order], streamer[order]
    audience = np.bincount(streamer, minlength=len(names)).astype(np.int64)
    return OverlapPart(names, audience, _co_occurrences(viewer, streamer, len(names)),
                       len(np.unique(viewer)))


def _co_occurrences(viewer: np.ndarray, streamer: np.ndarray, n: int) -> dict:
    """(a, b) → viewers in both, from rows sorted by (viewer, streamer): viewers with the
    same number m of streamers are done together, as an (viewers, m) matrix."""
    if len(viewer) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, viewer[1:] != viewer[:-1]])
    sizes = np.diff(np.r_[starts, len(viewer)])
    counts = np.zeros(n * n, dtype=np.int64)
    for m in np.unique(sizes[sizes > 1]).tolist():
        group = starts[sizes == m]
        matrix = streamer[group[:, None] + np.arange(m)]
        i, j = np.triu_indices(m, 1)
        counts += np.bincount((matrix[:, i] * n + matrix[:, j]).ravel(), minlength=n * n)
    nonzero = np.flatnonzero(counts)
    return {(int(c // n), int(c % n)): int(counts[c]) for c in nonzero}


def combine(parts: list[OverlapPart]) -> list[dict]:
    """The period's overlap documents, by (a, b), from the buckets' parts."""
    audience: dict[str, int] = {}
    shared: dict[tuple[str, str], int] = {}
    viewers = sum(part.viewers for part in parts)      # buckets hold disjoint viewers
    for part in parts:
        for name, size in zip(part.streamers, part.audience.tolist()):
            audience[name] = audience.get(name, 0) + size
        for (a, b), count in part.pairs.items():
            key = (part.streamers[a], part.streamers[b])
            shared[key] = shared.get(key, 0) + count
    docs = []
    for (a, b), n in sorted(shared.items()):
        size_a, size_b = audience[a], audience[b]
        docs.append({"a": a, "b": b, "shared": n, "jaccard": n / (size_a + size_b - n),
                     "share_a": n / size_a, "share_b": n / size_b,
                     "lift": n * viewers / (size_a * size_b)})
    return docs


def communities(docs: list[dict], seed: int = 1) -> dict[str, int]:
    """streamer → community number (0 = largest), by Louvain on the Jaccard-weighted graph.

    Streamers with no overlap are left out. Deterministic for a given overlap and seed.
    """
    import networkx as nx

    graph = nx.Graph()
    graph.add_weighted_edges_from(((d["a"], d["b"], d["jaccard"]) for d in docs),
                                  weight="jaccard")
    if graph.number_of_edges() == 0:
        return {}
    found = nx.community.louvain_communities(graph, weight="jaccard", seed=seed)
    ranked = sorted((sorted(c) for c in found), key=lambda c: (-len(c), c[0]))
    return {streamer: k for k, members in enumerate(ranked) for streamer in members}
