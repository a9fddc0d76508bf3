"""Who was in which broadcast's chat, and where a chat went when its broadcast ended: the
part of a day's contributions the Insight contract reads (:mod:`tpdask.analysis.insight`).

From a lake part's memberships — (viewer, streamer, k), rebuilt from its sessions and T —
and the day's ``streams`` rows (a broadcast is a streamer with one ``started_at``; its
rows are the samples that list it with that value), per part:

- ``audience``: (viewer, streamer, started_at) for every viewer listed in some row of the
  broadcast that day, its own login left out;
- ``ends``: for the last row that day of each broadcast (a candidate end), its
  chatters (the leavers, own login out) and, per leaver, the first later sample of the
  day at which it is in another streamer's chat (``next_ts``) with those streamers (one
  row each); ``next_ts`` is null when the leaver is in no other chat later that day;
- ``head``: (viewer, ts, streamer) at the day's samples of its first hour, where a leaver
  of the previous day's last hour is looked for (so ``--within`` is at most 60 minutes).

Bots are kept: the period's bot rule is applied when a period is asked for.
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
    """A part's (viewer, streamer, k) rows as codes: viewers by row of the part, streamers
    by code into ``names``."""

    def __init__(self, viewers: pa.Array, k_viewer: np.ndarray, k: np.ndarray,
                 k_streamer: pa.Array) -> None:
        self.viewers = viewers
        self.names = pc.unique(k_streamer).sort() if len(k_streamer) else pa.array([], pa.string())
        self.v = k_viewer.astype(np.int64)
        self.k = k.astype(np.int64)
        self.s = np.asarray(pc.index_in(k_streamer, value_set=self.names), dtype=np.int64)

    def code_of(self, streamers: pa.Array) -> np.ndarray:
        """Codes of ``streamers`` in ``names`` (-1 where absent)."""
        return np.asarray(pc.fill_null(pc.index_in(streamers, value_set=self.names), -1),
                          dtype=np.int64)


def _listings(m: Memberships, streams: pa.Table, times: np.ndarray
              ) -> tuple[np.ndarray, list[str]]:
    """The day's listings of broadcasts: sorted keys ``streamer code × width + k`` and the
    started_at of each (a sample listing a stream twice: the first listing)."""
    rows = streams.filter(pc.is_valid(streams.column("started_at")))
    ts = np.asarray(rows.column("ts"), dtype=np.int64)
    row_k = np.searchsorted(times, ts)
    row_s = m.code_of(rows.column("streamer"))
    known = (row_s >= 0) & (row_k < len(times))
    known[known] &= times[row_k[known]] == ts[known]
    width = max(len(times), 1)
    keys, first = np.unique(row_s[known] * width + row_k[known], return_index=True)
    started = rows.column("started_at").combine_chunks().filter(pa.array(known))
    return keys, started.take(pa.array(first)).to_pylist()


def _lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each wanted key in the sorted ``keys``, or -1."""
    at = np.searchsorted(keys, wanted)
    found = at < len(keys)
    found[found] &= keys[at[found]] == wanted[found]
    return np.where(found, at, -1)


def audience(m: Memberships, streams: pa.Table, times: np.ndarray) -> pa.Table:
    """Distinct (viewer, streamer, started_at) of the part, own login out."""
    keys, started = _listings(m, streams, times)
    width = max(len(times), 1)
    where = _lookup(keys, m.s * width + m.k)
    keep = where >= 0
    table = pa.table({"viewer": m.viewers.take(pa.array(m.v[keep])),
                      "streamer": m.names.take(pa.array(m.s[keep])),
                      "started_at": pa.array(started, pa.string()).take(pa.array(where[keep]))})
    own = pc.equal(table.column("viewer"), table.column("streamer"))
    table = table.filter(pc.invert(own))
    return table.group_by(["viewer", "streamer", "started_at"]).aggregate([]).cast(AUDIENCE_SCHEMA)


def ends(m: Memberships, streams: pa.Table, times: np.ndarray) -> pa.Table:
    """The leavers of each broadcast's last row of the day and where each is next seen."""
    keys, started = _listings(m, streams, times)
    if not len(keys) or not len(m.v):
        return ENDS_SCHEMA.empty_table()
    width = max(len(times), 1)
    last: dict[tuple[int, str], int] = {}               # (streamer, started_at) → its last key
    for key, when in zip(keys.tolist(), started):
        last[(key // width, when)] = max(last.get((key // width, when), -1), key)
    end_keys = np.array(sorted(last.values()), dtype=np.int64)
    end_started = {key: when for (_, when), key in last.items()}
    is_end = _lookup(end_keys, m.s * width + m.k) >= 0
    order = np.lexsort((m.s, m.k, m.v))                 # by viewer, then k, then streamer
    v, k, s = m.v[order], m.k[order], m.s[order]
    vk = v * width + k
    names = m.names.to_pylist()
    viewers = m.viewers
    out: dict[str, list] = {name: [] for name in ENDS_SCHEMA.names}
    for i in np.flatnonzero(is_end).tolist():
        viewer, end_k, from_s = int(m.v[i]), int(m.k[i]), int(m.s[i])
        login = viewers[viewer].as_py()
        if login == names[from_s]:
            continue                                      # a streamer in its own chat
        to, next_k = _next_elsewhere(v, k, s, vk, viewer, end_k, from_s, width)
        for target in to or [None]:
            out["viewer"].append(login)
            out["streamer"].append(names[from_s])
            out["started_at"].append(end_started[from_s * width + end_k])
            out["end_ts"].append(int(times[end_k]))
            out["next_ts"].append(int(times[next_k]) if target is not None else None)
            out["to"].append(names[target] if target is not None else None)
    return pa.table(out, schema=ENDS_SCHEMA)


def _next_elsewhere(v: np.ndarray, k: np.ndarray, s: np.ndarray, vk: np.ndarray, viewer: int,
                    end_k: int, from_s: int, width: int) -> tuple[list[int], int]:
    """The streamers (not ``from_s``) ``viewer`` is with at its first k after ``end_k``
    where it is with any, and that k; ([], -1) when none that day."""
    p = int(np.searchsorted(vk, viewer * width + end_k, side="right"))
    while p < len(v) and v[p] == viewer:
        here = int(k[p])
        q = int(np.searchsorted(vk, viewer * width + here, side="right"))
        others = [int(x) for x in s[p:q] if int(x) != from_s]
        if others:
            return sorted(set(others)), here
        p = q
    return [], -1


def head(m: Memberships, times: np.ndarray, day_start: int) -> pa.Table:
    """(viewer, ts, streamer) at the samples of the day's first :data:`HEAD_SECONDS`."""
    early = times[m.k] < day_start + HEAD_SECONDS if len(times) else np.zeros(0, dtype=bool)
    return pa.table({"viewer": m.viewers.take(pa.array(m.v[early])),
                     "ts": pa.array(times[m.k[early]], pa.int64()),
                     "streamer": m.names.take(pa.array(m.s[early]))}, schema=HEAD_SCHEMA)
