"""Broadcasts and stream health (the Insight contract), from the period's ``streams`` rows.

A broadcast is a streamer with one string ``started_at``; its rows are the ``streams`` rows
of the period's days with that pair, so a broadcast running over midnight UTC is one
broadcast. Its figures are sums and extremes over its rows (:func:`broadcast_docs`); its
health compares its logged-in share (chatters / Twitch's viewer count) with the median of
its peers' (:func:`rate`); ``gone_share`` — the part of its audience whose accounts the
verifier found gone — comes from the bucket tasks of :func:`gone_counts`, which read the
``audience`` contributions (:mod:`tpdask.analysis.presence`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tpdask.analysis import bots
from tpdask.analysis.presence import AUDIENCE_SCHEMA
from tpdask.process import lake
from tpdask.settings import BotRules

#: Fewest peers a baseline is a median of.
MIN_PEERS = 5


def period_streams(lake_dir: Path | str, days: list[str]) -> pa.Table:
    """The ``streams`` rows of ``days``."""
    tables = []
    for day in days:
        folder = lake.day_dir(lake_dir, "streams", day)
        tables += [pq.read_table(f).cast(lake.STREAMS_SCHEMA)
                   for f in sorted(folder.glob("*.parquet"))]
    return pa.concat_tables(tables) if tables else lake.STREAMS_SCHEMA.empty_table()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def broadcast_docs(streams: pa.Table, interval: int) -> dict[tuple[str, str], dict]:
    """(streamer, started_at) → the contract's broadcast figures, health and gone_share
    not yet set."""
    docs: dict[tuple[str, str], dict] = {}
    listed: set[tuple[int, str]] = set()
    for r in streams.select(["ts", "streamer", "started_at", "viewer_count", "chatters",
                             "game_name"]).to_pylist():
        if (r["ts"], r["streamer"]) in listed:
            continue                 # a sample listing one stream twice: its first listing
        listed.add((r["ts"], r["streamer"]))
        if r["started_at"] is None:
            continue
        key = (r["streamer"], r["started_at"])
        b = docs.get(key)
        if b is None:
            b = docs[key] = {"streamer": key[0], "started_at": key[1], "first_ts": r["ts"],
                             "last_ts": r["ts"], "samples": 0, "counts": [], "chatters": [],
                             "shared": [0, 0], "games": {}}
        b["first_ts"], b["last_ts"] = min(b["first_ts"], r["ts"]), max(b["last_ts"], r["ts"])
        b["samples"] += 1
        b["chatters"].append(r["chatters"])
        if r["viewer_count"] is not None:
            b["counts"].append(r["viewer_count"])
            if r["viewer_count"] > 0:
                b["shared"][0] += r["chatters"]
                b["shared"][1] += r["viewer_count"]
        if r["game_name"] is not None:
            b["games"][r["game_name"]] = b["games"].get(r["game_name"], 0) + 1
    return {key: _finish(b, interval) for key, b in sorted(docs.items())}


def _finish(b: dict, interval: int) -> dict:
    counts, chatters, games = b.pop("counts"), b.pop("chatters"), b.pop("games")
    chatted, counted = b.pop("shared")
    main = min(games.items(), key=lambda g: (-g[1], g[0]))[0] if games else None
    return {
        **b, "minutes_live": _number(b["samples"] * interval / 60),
        "avg_viewer_count": sum(counts) / len(counts) if counts else None,
        "peak_viewer_count": max(counts) if counts else None,
        "avg_chatters": sum(chatters) / len(chatters), "peak_chatters": max(chatters),
        "hours_watched": sum(counts) * interval / 3600,
        "chatter_hours": sum(chatters) * interval / 3600,
        "main_game": main, "games": dict(sorted(games.items())),
        "share": chatted / counted if counted else None,
        "baseline": None, "suspect": False, "gone_share": None,
    }


def rate(docs: dict[tuple[str, str], dict], min_viewers: float, ratio: float) -> None:
    """Set each broadcast's baseline and suspect (stream health), in place.

    Rated: average viewer count ≥ ``min_viewers`` and a share. Baseline: the median share
    of the other rated broadcasts with the same main game when at least MIN_PEERS, else of
    all the other rated broadcasts when at least MIN_PEERS, else null (and null when not
    rated). A broadcast without a main game has no "same game" peers.
    """
    rated = [d for d in docs.values()
             if d["share"] is not None and d["avg_viewer_count"] is not None
             and d["avg_viewer_count"] >= min_viewers]
    by_game: dict[str, list[dict]] = {}
    for d in rated:
        if d["main_game"] is not None:
            by_game.setdefault(d["main_game"], []).append(d)
    for d in rated:
        same = [p["share"] for p in by_game.get(d["main_game"], []) if p is not d] \
            if d["main_game"] is not None else []
        peers = same if len(same) >= MIN_PEERS else [p["share"] for p in rated if p is not d]
        if len(peers) >= MIN_PEERS:
            d["baseline"] = statistics.median(peers)
            d["suspect"] = d["share"] < ratio * d["baseline"]


@dataclass(frozen=True)
class GoneTask:
    """One state bucket's share of the period's gone_share."""

    bucket: int
    contrib_dirs: tuple[str, ...]       # the contributions of each day of the period
    statuses: str                       # the bucket's (viewer, status) file
    rules: BotRules
    interval: int


def period_bots(contrib_dirs: tuple[str, ...], bucket: int, rules: BotRules,
                interval: int) -> pa.Array:
    """The bucket's viewers flagged on any day of the period."""
    found = [pa.array([], pa.string())]
    for d in contrib_dirs:
        for f in sorted(Path(d).glob(f"viewers-b{bucket:03d}-p*.parquet")):
            t = pq.read_table(f, columns=["viewer", "samples", "peak_streams"])
            names = t.column("viewer").combine_chunks()
            flagged = bots.is_bot(names, np.asarray(t.column("samples")),
                                  np.asarray(t.column("peak_streams")), rules, interval)
            found.append(names.filter(pa.array(flagged)))
    return pc.unique(pa.concat_arrays(found))


def read_kind(contrib_dirs: tuple[str, ...], kind: str, bucket: int,
              schema: pa.Schema) -> pa.Table:
    tables = [pq.read_table(f).cast(schema) for d in contrib_dirs
              for f in sorted(Path(d).glob(f"{kind}-b{bucket:03d}-p*.parquet"))]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def gone_counts(task: GoneTask) -> dict[tuple[str, str], list[int]]:
    """(streamer, started_at) → [known, gone] over the bucket's distinct non-bot viewers
    listed in the broadcast's rows (own login out: the contributions leave it out)."""
    audience = read_kind(task.contrib_dirs, "audience", task.bucket, AUDIENCE_SCHEMA)
    audience = audience.group_by(["viewer", "streamer", "started_at"]).aggregate([])
    flagged = period_bots(task.contrib_dirs, task.bucket, task.rules, task.interval)
    audience = audience.filter(pc.invert(pc.is_in(audience.column("viewer"),
                                                  value_set=flagged)))
    statuses = pq.read_table(task.statuses)
    known = audience.join(statuses, "viewer", join_type="inner")
    if not len(known):
        return {}
    gone = pc.equal(known.column("status"), "gone").cast(pa.int64())
    counted = pa.table({"streamer": known.column("streamer"),
                        "started_at": known.column("started_at"), "gone": gone,
                        "one": pa.array(np.ones(len(known), dtype=np.int64))}).group_by(
        ["streamer", "started_at"]).aggregate([("one", "sum"), ("gone", "sum")])
    return {(s, b): [n, g] for s, b, n, g in zip(
        counted.column("streamer").to_pylist(), counted.column("started_at").to_pylist(),
        counted.column("one_sum").to_pylist(), counted.column("gone_sum").to_pylist())}


def add_gone(docs: dict[tuple[str, str], dict], parts: list[dict]) -> None:
    """Set gone_share from the buckets' [known, gone] counts (buckets hold disjoint
    viewers, so the counts add up)."""
    total: dict[tuple[str, str], list[int]] = {}
    for part in parts:
        for key, (known, gone) in part.items():
            t = total.setdefault(key, [0, 0])
            t[0] += known
            t[1] += gone
    for key, (known, gone) in total.items():
        if key in docs and known:
            docs[key]["gone_share"] = gone / known
