"""Who was in which broadcast's chat, and where a chat went when its broadcast ended: the
part of a day's contributions the Insight contract reads (:mod:`tpdask.analysis.broadcasts`,
:mod:`tpdask.analysis.flows`).

From a lake part's memberships — (viewer, streamer, k), rebuilt from its sessions and T —
and the day's ``streams`` rows (a broadcast is a streamer with one ``started_at``; its
rows are the samples that list it with that value), per part:

- ``audience``: (viewer, streamer, started_at) for every viewer listed in some row of the
  broadcast that day, its own login left out;
- ``ends``: for the last row that day of each broadcast (a candidate end), its chatters
  (the leavers, own login out) and, per leaver, the first later sample of the day at
  which it is in another streamer's chat (``next_ts``), one row per such streamer
  (``to``); ``next_ts`` and ``to`` are null when the leaver is in no other chat later that
  day;
- ``head``: (viewer, ts, streamer) at the day's samples of its first hour, where a leaver
  of the previous day's last hour is looked for (so ``--within`` is at most an hour).

Bots are kept: the period's bot rule is applied when a period is asked for. Everything is
done on integer codes with numpy (a part has millions of memberships); strings are made
only for the rows written.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

AUDIENCE_SCHEMA = pa.schema([("viewer", pa.string()), ("streamer", pa.string()),
                             ("started_at", pa.string())])
ENDS_SCHEMA = pa.schema([("viewer", pa.string()), ("streamer", pa.string()),
                         ("started_at", pa.string()), ("end_ts", pa.int64()),
                         ("next_ts", pa.int64()), ("to", pa.string())])
HEAD_SCHEMA = pa.schema([("viewer", pa.string()), ("ts", pa.int64()), ("streamer", pa.string())])

#: How far into a day ``head`` reaches: the most ``--within`` can be, seconds.
HEAD_SECONDS = 3600


class Memberships:
    """A part's (viewer, streamer, k) rows as codes: ``v`` the viewer's row in the part,
    ``s`` the streamer's code in ``names`` (coded once per pair, not per row)."""

    def __init__(self, viewers: pa.Array, k_viewer: np.ndarray, k: np.ndarray,
                 pair_streamer: pa.Array, k_pair: np.ndarray) -> None:
        self.viewers = viewers
        self.names = (pc.unique(pair_streamer).sort() if len(pair_streamer)
                      else pa.array([], pa.string()))
        pair_code = np.asarray(pc.index_in(pair_streamer, value_set=self.names), dtype=np.int64)
        self.v = k_viewer.astype(np.int64)
        self.k = k.astype(np.int64)
        self.s = pair_code[k_pair] if len(k_pair) else np.zeros(0, dtype=np.int64)

    def code_of(self, streamers: pa.Array) -> np.ndarray:
        """Codes of ``streamers`` in ``names`` (-1 where absent)."""
        return np.asarray(pc.fill_null(pc.index_in(streamers, value_set=self.names), -1),
                          dtype=np.int64)


class _Broadcasts:
    """The day's broadcasts as listings: sorted keys ``streamer code × width + k`` of the
    samples listing one, each with its broadcast's number (a sample listing a stream twice:
    the first listing)."""

    def __init__(self, m: Memberships, streams: pa.Table, times: np.ndarray) -> None:
        rows = streams.filter(pc.is_valid(streams.column("started_at")))
        ts = np.asarray(rows.column("ts"), dtype=np.int64)
        row_k = np.searchsorted(times, ts)
        row_s = m.code_of(rows.column("streamer"))
        known = (row_s >= 0) & (row_k < len(times))
        known[known] &= times[row_k[known]] == ts[known]
        self.width = max(len(times), 1)
        self.keys, first = np.unique(row_s[known] * self.width + row_k[known], return_index=True)
        started = rows.column("started_at").combine_chunks().filter(pa.array(known)).take(
            pa.array(first))
        pairs = pa.table({"s": pa.array(self.keys // self.width), "b": started})
        ids = pairs.group_by(["s", "b"]).aggregate([]).sort_by([("s", "ascending"),
                                                                ("b", "ascending")])
        self.streamer = np.asarray(ids.column("s"), dtype=np.int64)     # per broadcast
        self.started_at = ids.column("b").combine_chunks()
        id_key = pa.table({"s": ids.column("s"), "b": ids.column("b"),
                           "id": pa.array(np.arange(len(ids)))})
        joined = pairs.append_column("row", pa.array(np.arange(len(pairs)))).join(
            id_key, ["s", "b"]).sort_by("row")
        self.of_listing = np.asarray(joined.column("id"), dtype=np.int64)

    def of(self, s: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The broadcast number listed at each (streamer, k), or -1."""
        wanted = s * self.width + k
        at = np.searchsorted(self.keys, wanted)
        found = at < len(self.keys)
        found[found] &= self.keys[at[found]] == wanted[found]
        return np.where(found, self.of_listing[np.minimum(at, len(self.keys) - 1)], -1) \
            if len(self.keys) else np.full(len(wanted), -1)

    def last_keys(self) -> np.ndarray:
        """Per broadcast, the key of its last listing that day."""
        last = np.full(len(self.streamer), -1, dtype=np.int64)
        np.maximum.at(last, self.of_listing, self.keys)
        return last


def part_tables(m: Memberships, streams: pa.Table, times: np.ndarray,
                day_start: int) -> dict[str, pa.Table]:
    """The part's ``audience``, ``ends`` and ``head`` tables."""
    casts = _Broadcasts(m, streams, times)
    return {"audience": audience(m, casts), "ends": ends(m, casts, times),
            "head": head(m, times, day_start)}


def audience(m: Memberships, casts: _Broadcasts) -> pa.Table:
    """Distinct (viewer, streamer, started_at) of the part, own login out."""
    b = casts.of(m.s, m.k)
    keep = b >= 0
    pairs = np.unique(m.v[keep] * max(len(casts.streamer), 1) + b[keep])
    v, b = pairs // max(len(casts.streamer), 1), pairs % max(len(casts.streamer), 1)
    table = pa.table({"viewer": m.viewers.take(pa.array(v)),
                      "streamer": m.names.take(pa.array(casts.streamer[b])),
                      "started_at": casts.started_at.take(pa.array(b))}, schema=AUDIENCE_SCHEMA)
    return table.filter(pc.invert(pc.equal(table.column("viewer"), table.column("streamer"))))


def ends(m: Memberships, casts: _Broadcasts, times: np.ndarray) -> pa.Table:
    """The leavers of each broadcast's last listing of the day, and where each is next seen."""
    if not len(casts.keys) or not len(m.v):
        return ENDS_SCHEMA.empty_table()
    end_keys = np.sort(casts.last_keys())
    width = casts.width
    member_keys = m.s * width + m.k
    at = np.searchsorted(end_keys, member_keys)
    is_end = (at < len(end_keys)) & (end_keys[np.minimum(at, len(end_keys) - 1)] == member_keys)
    leaver = np.flatnonzero(is_end)
    leaver = leaver[np.asarray(pc.not_equal(m.viewers.take(pa.array(m.v[leaver])),
                                            m.names.take(pa.array(m.s[leaver]))))]
    names = max(len(m.names), 1)                             # by viewer, then k, then streamer:
    order = np.argsort((m.v * width + m.k) * names + m.s, kind="stable")   # one int64 key
    v, k, s = m.v[order], m.k[order], m.s[order]
    vk = v * width + k
    start = np.flatnonzero(np.r_[True, vk[1:] != vk[:-1]])   # each (viewer, k) group
    count = np.diff(np.r_[start, len(vk)])
    group_of_row = np.repeat(np.arange(len(start)), count)
    lv, lk, ls = m.v[leaver], m.k[leaver], m.s[leaver]
    pos = np.searchsorted(vk, lv * width + lk, side="right")   # the groups after the end
    g = np.where(pos < len(vk), group_of_row[np.minimum(pos, len(vk) - 1)], len(start))
    found = np.full(len(leaver), -1, dtype=np.int64)
    active = np.arange(len(leaver))
    while len(active):
        ga = g[active]
        inside = ga < len(start)
        same = np.zeros(len(active), dtype=bool)
        same[inside] = v[start[ga[inside]]] == lv[active[inside]]
        elsewhere = same.copy()
        elsewhere[same] = (count[ga[same]] > 1) | (s[start[ga[same]]] != ls[active[same]])
        found[active[elsewhere]] = ga[elsewhere]
        active = active[same & ~elsewhere]
        g[active] += 1
    return _end_rows(m, casts, times, leaver, found, start, count, s, k)


def _end_rows(m: Memberships, casts: _Broadcasts, times: np.ndarray, leaver: np.ndarray,
              found: np.ndarray, start: np.ndarray, count: np.ndarray, s: np.ndarray,
              k: np.ndarray) -> pa.Table:
    """The ends table: one row per leaver and next streamer (one with nulls when none).
    ``s``, ``k``: the memberships sorted by (viewer, k, streamer), grouped at ``start``."""
    from_s = m.s[leaver]
    seen = found >= 0
    reps = np.where(seen, count[np.maximum(found, 0)], 1)
    row = np.repeat(np.arange(len(leaver)), reps)
    offset = np.arange(len(row)) - np.repeat(np.cumsum(reps) - reps, reps)
    member = start[np.maximum(found[row], 0)] + offset
    to = np.where(seen[row], s[np.minimum(member, len(s) - 1)], -1)
    keep = ~seen[row] | (to != from_s[row])                # the streamer that ended is no "to"
    row, to, member = row[keep], to[keep], member[keep]
    nowhere = to < 0
    next_ts = times[k[np.minimum(member, len(k) - 1)]]
    to_names = m.names.take(pa.array(np.maximum(to, 0))) if len(m.names) else \
        pa.array([None] * len(to), pa.string())
    return pa.table({
        "viewer": m.viewers.take(pa.array(m.v[leaver][row])),
        "streamer": m.names.take(pa.array(from_s[row])),
        "started_at": casts.started_at.take(pa.array(casts.of(from_s, m.k[leaver])[row])),
        "end_ts": pa.array(times[m.k[leaver][row]], pa.int64()),
        "next_ts": pa.array(next_ts, pa.int64(), mask=nowhere),
        "to": pc.if_else(pa.array(~nowhere), to_names, pa.nulls(len(to), pa.string()))},
        schema=ENDS_SCHEMA)


def head(m: Memberships, times: np.ndarray, day_start: int) -> pa.Table:
    """(viewer, ts, streamer) at the samples of the day's first :data:`HEAD_SECONDS`."""
    early = times[m.k] < day_start + HEAD_SECONDS if len(times) else np.zeros(0, dtype=bool)
    return pa.table({"viewer": m.viewers.take(pa.array(m.v[early])),
                     "ts": pa.array(times[m.k[early]], pa.int64()),
                     "streamer": m.names.take(pa.array(m.s[early]))}, schema=HEAD_SCHEMA)
