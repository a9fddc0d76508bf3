"""``tpdask export sessions``: the viewing sessions of a period as research data, without
names — the layout of the public Twitch dataset of Rappaz, McAuley and Aberer (RecSys
2021): CSV, no header, ``user_id,stream_id,streamer_username,time_start,time_stop``.

From the lake's viewer-day records of the processed days in [since, until]:

- one row per session (the inversion rule's: a run of consecutive samples of one day) of a
  viewer with another streamer's channel (a streamer in its own chat is left out); bots
  are left out unless ``bots`` (the period rule: flagged on any of its days there, by the
  bot settings, from the records themselves);
- ``user_id``: 0, 1, … over the period's users, numbered in the order of a keyed hash of
  the login (the data folder's key): the numbers say nothing of the logins, and the same
  folder numbers the same set of users the same way;
- ``stream_id``: 0, 1, … over the streams, a stream being a streamer with one
  ``started_at``: that of the ``streams`` row of the session's first sample (a session
  over a restart is one row, of the first broadcast; a row without a ``started_at`` gives
  the stream (streamer, none): one per streamer), numbered by first step, then streamer,
  then started_at (none first);
- ``time_start`` = ⌊(T[first] − since 00:00 UTC) / interval⌋ and ``time_stop`` =
  ⌊(T[last] − since 00:00 UTC) / interval⌋ + 1, the step after the session's last sample;
- rows by user_id, time_start, time_stop, stream_id.

``parquet`` writes the same columns typed (int64, int64, string, int64, int64).
"""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tpdask.analysis import bots as bot_rules
from tpdask.analysis.contributions import flatten, peak_streams, union_of
from tpdask.days import day_bounds
from tpdask.errors import NoRecordsError, UsageError
from tpdask.export import check_out, write_file
from tpdask.privacy.keys import derive, folder_key
from tpdask.privacy.suppression import keyed_tags
from tpdask.process import lake
from tpdask.settings import Config

FORMATS = ("rappaz", "parquet")
SCHEMA = pa.schema([("user_id", pa.int64()), ("stream_id", pa.int64()),
                    ("streamer_username", pa.string()), ("time_start", pa.int64()),
                    ("time_stop", pa.int64())])


def _day_sessions(config: Config, day: str) -> tuple[pa.Table, set[str]]:
    """The day's sessions (viewer, streamer, started_at, first ts, last ts) of viewers with
    other streamers, and the day's bots (the bot rules on each record)."""
    times = np.asarray(lake.read_times(config.lake_dir, day), dtype=np.int64)
    streams = _stream_starts(config, day)
    rules = config.bot_rules()
    tables, bots = [], set()
    for part in sorted(lake.day_dir(config.lake_dir, "viewer_days", day).glob("*.parquet")):
        table = pq.read_table(part, columns=["viewer", "samples", "minutes", "streamers"])
        if not len(table):
            continue
        flat = flatten(table, times)
        peaks = peak_streams(flat, union_of(flat, len(times)))
        flagged = bot_rules.is_bot(flat.viewers, flat.samples, peaks, rules, config.interval)
        bots.update(flat.viewers.filter(pa.array(flagged)).to_pylist())
        pairs = table.column("streamers").combine_chunks()
        pair_viewer = np.asarray(pc.list_parent_indices(pairs))
        entries = pairs.flatten()
        sessions = entries.field("sessions")
        session_pair = np.asarray(pc.list_parent_indices(sessions))
        bounds = np.asarray(sessions.flatten().flatten()).reshape(-1, 2)
        viewer = flat.viewers.take(pa.array(pair_viewer[session_pair]))
        streamer = entries.field("streamer").take(pa.array(session_pair))
        tables.append(pa.table({"viewer": viewer, "streamer": streamer,
                                "ts": pa.array(bounds[:, 0]), "last": pa.array(bounds[:, 1])}
                               ).filter(pc.not_equal(viewer, streamer)))
    if not tables:
        return pa.table({"viewer": [], "streamer": [], "started_at": [], "ts": [], "last": []},
                        schema=_ROWS), bots
    rows = pa.concat_tables(tables).join(streams, keys=["ts", "streamer"], join_type="left outer")
    return rows.select(_ROWS.names).cast(_ROWS), bots


_ROWS = pa.schema([("viewer", pa.string()), ("streamer", pa.string()),
                   ("started_at", pa.string()), ("ts", pa.int64()), ("last", pa.int64())])


def _stream_starts(config: Config, day: str) -> pa.Table:
    """(ts, streamer) → started_at of the day's streams rows (a string one when there are
    several rows of one stream at a sample)."""
    folder = lake.day_dir(config.lake_dir, "streams", day)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return pa.table({"ts": pa.array([], pa.int64()), "streamer": pa.array([], pa.string()),
                         "started_at": pa.array([], pa.string())})
    rows = pa.concat_tables([pq.read_table(f, columns=["ts", "streamer", "started_at"])
                             for f in files])
    grouped = rows.group_by(["ts", "streamer"]).aggregate([("started_at", "min")])
    return grouped.rename_columns(["ts", "streamer", "started_at"])


def sessions_table(config: Config, since: str, until: str, bots: bool = False) -> pa.Table:
    """The export's rows (:data:`SCHEMA`), sorted; NoRecordsError without processed days."""
    days = [d for d in lake.processed_days(config.lake_dir) if since <= d <= until]
    if not days:
        raise NoRecordsError(f"no processed day in {since} … {until}: `tpdask process` first")
    parts, flagged = [], set()
    for day in days:
        rows, day_bots = _day_sessions(config, day)
        parts.append(rows)
        flagged |= day_bots
    rows = pa.concat_tables(parts)
    if not bots and flagged:
        rows = rows.filter(pc.invert(pc.is_in(rows.column("viewer"),
                                              value_set=pa.array(sorted(flagged), pa.string()))))
    origin = day_bounds(since)[0]
    start = (np.asarray(rows.column("ts"), dtype=np.int64) - origin) // config.interval
    stop = (np.asarray(rows.column("last"), dtype=np.int64) - origin) // config.interval + 1
    user = _user_ids(config, rows.column("viewer").combine_chunks())
    stream = _stream_ids(rows.column("streamer").combine_chunks(),
                         rows.column("started_at").combine_chunks(), start)
    order = np.lexsort((stream, stop, start, user))
    return pa.table({"user_id": pa.array(user[order]), "stream_id": pa.array(stream[order]),
                     "streamer_username": rows.column("streamer").take(pa.array(order)),
                     "time_start": pa.array(start[order]), "time_stop": pa.array(stop[order])},
                    schema=SCHEMA)


def _user_ids(config: Config, viewers: pa.Array) -> np.ndarray:
    """0, 1, … per distinct viewer, in the order of a keyed hash (ties by login)."""
    distinct = pc.unique(viewers)
    key = derive(folder_key(config.data_dir, create=True) or b"", "sessions-order")
    tags = keyed_tags(distinct, int.from_bytes(key[:8], "big"),
                      int.from_bytes(key[8:16], "big") | 1)
    order = np.lexsort((np.asarray(distinct.to_pylist(), dtype=object), tags))
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct), dtype=np.int64)
    return rank[np.asarray(pc.index_in(viewers, value_set=distinct))]


def _stream_ids(streamers: pa.Array, started: pa.Array, start: np.ndarray) -> np.ndarray:
    """0, 1, … per (streamer, started_at), by first step, streamer, started_at (none first:
    joins do not match nulls, so a missing started_at is keyed as "\0")."""
    keys = pa.table({"streamer": streamers, "started_at": pc.fill_null(started, "\0"),
                     "start": pa.array(start, pa.int64())})
    first = keys.group_by(["streamer", "started_at"]).aggregate([("start", "min")])
    first = first.sort_by([("start_min", "ascending"), ("streamer", "ascending"),
                           ("started_at", "ascending")])
    ids = pa.table({"streamer": first.column("streamer"),
                    "started_at": first.column("started_at"),
                    "stream_id": pa.array(np.arange(len(first), dtype=np.int64))})
    keyed = keys.append_column("row", pa.array(np.arange(len(keys), dtype=np.int64)))
    joined = keyed.join(ids, keys=["streamer", "started_at"], join_type="left outer")
    out = np.empty(len(keys), dtype=np.int64)
    out[np.asarray(joined.column("row"))] = np.asarray(joined.column("stream_id"))
    return out


def export_sessions(config: Config, since: str, until: str, fmt: str, bots: bool,
                    out: str | None) -> int:
    """Write the period's sessions as ``fmt`` to ``out`` (atomically) or standard output;
    the number of rows."""
    if fmt not in FORMATS:
        raise UsageError(f"export sessions --format must be rappaz or parquet, got {fmt!r}")
    path = check_out(out)            # before any work: a bad --out leaves nothing behind
    table = sessions_table(config, since, until, bots)
    if path is None:
        return _write(table, fmt, sys.stdout.buffer)
    return write_file(path, _write, table, fmt)


def _write(table: pa.Table, fmt: str, sink) -> int:
    if fmt == "parquet":
        pq.write_table(table, sink, compression="zstd")
    else:
        # logins have no comma or quote: plain fields, as the public dataset has them
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                        quoting_style="none"))
    sink.flush()
    return len(table)
