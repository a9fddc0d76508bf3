"""Short summaries of a processed day, read from the lake (columnar, no per-record Python)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def read_lake_day(day_dir: Path) -> pa.Table | None:
    files = sorted(day_dir.glob("part-*.parquet")) if day_dir.is_dir() else []
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files])


def top_streamers(table: pa.Table, n: int = 10) -> list[tuple[str, float, int]]:
    """(streamer, minutes watched, distinct viewers), the n streamers with most minutes."""
    entries = pc.list_flatten(table.column("streamers"))
    flat = pa.table({"streamer": pc.struct_field(entries, "streamer"),
                     "minutes": pc.struct_field(entries, "minutes")})
    grouped = flat.group_by("streamer").aggregate([("minutes", "sum"), ("minutes", "count")])
    grouped = grouped.sort_by([("minutes_sum", "descending"), ("streamer", "ascending")])
    return [(row["streamer"], row["minutes_sum"], row["minutes_count"])
            for row in grouped.slice(0, n).to_pylist()]
