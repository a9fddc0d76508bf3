"""The lake: the day job's Parquet tables, their layout, and how a day is published.

Every table is partitioned by day, ``lake/<table>/day=<day>/``:

- ``viewer_days``: the viewer-day records of the inversion rule, one part per viewer bucket;
- ``streams``: one row per sample and stream: the stream's metadata as the collector
  recorded it (Twitch's viewer count, logged-out viewers included; title, game, …) and
  ``chatters``, the distinct valid logins listed;
- ``chatter_ids``: the distinct (viewer, user_id) pairs the sources reported that day
  (the verifier's way to tell a renamed account from a gone one);
- ``times``: the day's sample times T, sorted (sessions are runs of consecutive k, so
  the analyser rebuilds P(v,s) from them and T).

A run writes each table into ``lake/<table>/.day=<day>.<run>/`` (every file written
under a temp name, fsynced, renamed) and publishes by swapping that folder for
``day=<day>`` with two renames, fsyncing the folders, table after table.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tpdask.errors import JobError
from tpdask.files import atomic_file, fsync_dir, fsync_file

TABLES = ("viewer_days", "streams", "chatter_ids", "times")

STREAMS_SCHEMA = pa.schema([
    ("ts", pa.int64()), ("streamer", pa.string()), ("user_id", pa.string()),
    ("viewer_count", pa.int64()), ("chatters", pa.int64()), ("title", pa.string()),
    ("game_name", pa.string()), ("language", pa.string()), ("started_at", pa.string()),
])
CHATTER_IDS_SCHEMA = pa.schema([("viewer", pa.string()), ("user_id", pa.string())])
TIMES_SCHEMA = pa.schema([("ts", pa.int64())])


def day_dir(lake_dir: Path | str, table: str, day: str) -> Path:
    """The published folder of one day of one table."""
    return Path(lake_dir) / table / f"day={day}"


def run_dir(lake_dir: Path | str, table: str, day: str, run: str) -> Path:
    """Where a run writes its day of a table before publishing it."""
    return Path(lake_dir) / table / f".day={day}.{run}"


def write_parquet(folder: Path | str, name: str, table: pa.Table) -> Path:
    """Write ``folder/name`` durably: temp name, fsync, rename (a re-run task overwrites it
    with the same content; the folder is fsynced when the day is published)."""
    path = Path(folder) / name
    with atomic_file(path, durable=False) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        fsync_file(tmp)
    return path


def publish_day(lake_dir: Path | str, day: str, run: str) -> None:
    """Swap each table's day folder for the one this run wrote (an empty day gets an empty one).

    A kill between a table's two renames leaves only ``.day=<day>.<run>.old``, which
    :func:`restore_half_published` puts back.
    """
    for table in TABLES:
        swap_dir(run_dir(lake_dir, table, day, run), day_dir(lake_dir, table, day))


def restore_half_published(lake_dir: Path | str, day: str) -> list[Path]:
    """Put back each table's day folder a run killed while publishing left renamed away."""
    restored = []
    for table in TABLES:
        final = day_dir(lake_dir, table, day)
        if final.exists() or not final.parent.is_dir():
            continue
        olds = sorted(final.parent.glob(f".day={day}.*.old"), key=lambda p: p.stat().st_mtime)
        if olds:
            os.replace(olds[-1], final)
            restored.append(final)
    return restored


def unpublished(lake_dir: Path | str, day: str | None = None) -> list[Path]:
    """Run folders not published (of ``day``, or of every day): what dead runs left."""
    pattern = f".day={day}.*" if day else ".day=*"
    found: list[Path] = []
    for table in TABLES:
        folder = Path(lake_dir) / table
        found += sorted(folder.glob(pattern)) if folder.is_dir() else []
    return found


def discard_run(lake_dir: Path | str, day: str, run: str) -> None:
    for table in TABLES:
        shutil.rmtree(run_dir(lake_dir, table, day, run), ignore_errors=True)


def write_times(lake_dir: Path | str, day: str, run: str, times: tuple[int, ...]) -> Path:
    """Write the day's T, and the id of the run that wrote the day (in the file's metadata:
    the analyser's way to see that a day was processed again)."""
    schema = TIMES_SCHEMA.with_metadata({"run": run})
    table = pa.table({"ts": pa.array(times, pa.int64())}, schema=schema)
    return write_parquet(run_dir(lake_dir, "times", day, run), "times.parquet", table)


def day_run(lake_dir: Path | str, day: str) -> str | None:
    """The run that wrote the published day, None when the day has no times table."""
    path = day_dir(lake_dir, "times", day) / "times.parquet"
    if not path.exists():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise JobError(f"the lake of {day} is incomplete: times/day={day}/times.parquet cannot "
                       f"be read ({exc}); run `tpdask process --day {day}` again (it rebuilds "
                       "the day from its archive)") from None
    return metadata.get(b"run", b"").decode() or None


def processed_days(lake_dir: Path | str) -> list[str]:
    """The days with a published viewer_days folder, sorted."""
    folder = Path(lake_dir) / "viewer_days"
    names = sorted(p.name for p in folder.glob("day=*")) if folder.is_dir() else []
    return [name.removeprefix("day=") for name in names]


def swap_dir(new: Path, final: Path) -> None:
    """Replace ``final`` by ``new`` with two renames, fsyncing (see :func:`publish_day`)."""
    new.mkdir(parents=True, exist_ok=True)
    fsync_dir(new)
    old = new.with_name(new.name + ".old")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def describe_run(lake_dir: Path | str, day: str, run: str) -> dict[str, dict[str, list[int]]]:
    """table → part name → [rows, bytes] of what a run wrote: the job ledger keeps it, so
    that a reader can tell a whole day from one with a part missing or cut short."""
    described: dict[str, dict[str, list[int]]] = {}
    for table in TABLES:
        folder = run_dir(lake_dir, table, day, run)
        described[table] = {p.name: [pq.read_metadata(p).num_rows, p.stat().st_size]
                            for p in sorted(folder.glob("*.parquet"))}
    return described


def check_day(lake_dir: Path | str, day: str, described: dict[str, dict[str, list[int]]]) -> None:
    """Raise JobError unless the published day holds every part :func:`describe_run` listed,
    whole and readable (rows and bytes as written)."""
    try:
        _check_parts(lake_dir, day, described)
    except _Incomplete as exc:
        raise JobError(f"the lake of {day} is incomplete: {exc}; run `tpdask process --day "
                       f"{day}` again (it rebuilds the day from its archive)") from None


class _Incomplete(Exception):
    pass


def _check_parts(lake_dir: Path | str, day: str, described: dict[str, dict[str, list[int]]]
                 ) -> None:
    for table, parts in described.items():
        folder = day_dir(lake_dir, table, day)
        for name, (rows, size) in sorted(parts.items()):
            path = folder / name
            try:
                if path.stat().st_size != size:
                    raise _Incomplete(f"{table}/day={day}/{name} has {path.stat().st_size} of "
                                    f"its {size} bytes")
                if pq.read_metadata(path).num_rows != rows:
                    raise _Incomplete(f"{table}/day={day}/{name} does not hold its {rows} rows")
            except FileNotFoundError:
                raise _Incomplete(f"{table}/day={day}/{name} is missing") from None
            except (OSError, pa.ArrowException) as exc:
                raise _Incomplete(f"{table}/day={day}/{name} cannot be read ({exc})") from None


def read_times(lake_dir: Path | str, day: str) -> pa.Array:
    """The day's sample times T (empty when the day has none or was processed before the
    day job kept them)."""
    folder = day_dir(lake_dir, "times", day)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return pa.array([], pa.int64())
    return pa.concat_tables([pq.read_table(f) for f in files]).column("ts").combine_chunks()
