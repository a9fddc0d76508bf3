"""Streamer-day statistics from the lake's streams table: chatters, Twitch's viewer count,
games — the part of a streamer's day that does not depend on who the viewers are."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tpdask.process import lake


def read_streams(lake_dir: Path | str, day: str) -> pa.Table:
    folder = lake.day_dir(lake_dir, "streams", day)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(f).cast(lake.STREAMS_SCHEMA) for f in files]
    return pa.concat_tables(tables) if tables else lake.STREAMS_SCHEMA.empty_table()


def stream_stats(streams: pa.Table) -> dict[str, dict]:
    """streamer → samples, avg/peak chatters (over the samples with at least one login),
    avg/peak viewer count and games (over the samples that list the stream).

    A stream listed twice in one sample (two keys that normalise to one login) counts
    once at that sample, with the larger of its numbers.
    """
    per_sample: dict[tuple[str, int], dict] = {}
    for row in streams.to_pylist():
        key = (row["streamer"], row["ts"])
        seen = per_sample.get(key)
        if seen is None or (row["chatters"], row["viewer_count"] or 0) > (
                seen["chatters"], seen["viewer_count"] or 0):
            per_sample[key] = row
    stats: dict[str, dict] = {}
    for (streamer, _), row in sorted(per_sample.items()):
        s = stats.setdefault(streamer, {"chatters": [], "viewer_counts": [], "games": {}})
        if row["chatters"] > 0:
            s["chatters"].append(row["chatters"])
        if row["viewer_count"] is not None:
            s["viewer_counts"].append(row["viewer_count"])
        if row["game_name"] is not None:
            s["games"][row["game_name"]] = s["games"].get(row["game_name"], 0) + 1
    return {streamer: _summary(s) for streamer, s in stats.items()}


def _summary(s: dict) -> dict:
    chatters, counts = s["chatters"], s["viewer_counts"]
    return {
        "samples": len(chatters),
        "avg_chatters": sum(chatters) / len(chatters) if chatters else 0.0,
        "peak_chatters": max(chatters, default=0),
        "avg_viewer_count": sum(counts) / len(counts) if counts else None,
        "peak_viewer_count": max(counts) if counts else None,
        "games": dict(sorted(s["games"].items())),
    }
