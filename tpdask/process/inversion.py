"""The inversion rule of docs/contracts.md as numpy kernels: observations in, viewer-days out.

Input is columnar: one row per observation (sample ts, streamer code, viewer code), all
valid and normalised. Codes are ranks in sorted order (viewer code 0 is the
alphabetically first login), so every output comes out sorted by viewer, then streamer,
then time, with no Python object per observation.

For viewer v and streamer s, P(v,s) is the set of sample indexes k where v was seen in
s's chat. A session is a maximal run of consecutive k whose steps are at most max_gap
seconds apart. Samples and minutes are counted per (v, s) and over the union for v.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa


@dataclass
class Inverted:
    """Viewer-days of one bucket, as flat arrays with offsets (like Arrow list columns)."""

    viewers: list[str]              # V logins, sorted
    streamer_names: list[str]       # S logins, sorted; pair_streamer indexes this
    samples: np.ndarray             # V: |union of P(v,s)|
    first_ts: np.ndarray            # V
    last_ts: np.ndarray             # V
    pair_offsets: np.ndarray        # V+1: viewer i owns pairs [pair_offsets[i], pair_offsets[i+1])
    pair_streamer: np.ndarray       # P: streamer code of each (viewer, streamer) pair
    pair_samples: np.ndarray        # P: |P(v,s)|
    session_offsets: np.ndarray     # P+1: pair j owns sessions [session_offsets[j], ...[j+1])
    session_start: np.ndarray       # N sessions
    session_end: np.ndarray         # N sessions

    @property
    def n_sessions(self) -> int:
        return len(self.session_start)


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Indexes where a new run of equal values starts in a sorted array."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(sorted_values), dtype=bool)
    change[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:])
    return np.flatnonzero(change)


def _ends(starts: np.ndarray, n: int) -> np.ndarray:
    """Last index of each run, given the run starts and the array length."""
    return np.append(starts[1:], n) - 1


def sorted_unique(values: np.ndarray, runs: bool = False) -> np.ndarray:
    """Sorted distinct values. np.unique hashes since numpy 2.3, which is ~20× slower here.

    runs: the values are mostly sorted runs already; timsort (kind="stable") merges them
    4× faster than numpy's default sort, which is 1.6× faster on values in no order.
    """
    values = np.sort(values, kind="stable" if runs else None)
    return values[_run_starts(values)]


def sample_index(times: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """np.searchsorted(times, ts), one search per run of equal ts: a bucket's chunks hold
    each sample's observations together (2.37M observations, 282 runs: 4 ms against 28)."""
    starts = _run_starts(ts)
    lengths = np.diff(np.append(starts, len(ts)))
    return np.repeat(np.searchsorted(times, ts[starts]), lengths)


def invert(ts: np.ndarray, streamer: np.ndarray, viewer: np.ndarray, times: np.ndarray,
           viewers: list[str], streamer_names: list[str], max_gap: int) -> Inverted:
    """Apply the inversion rule to one bucket of observations.

    ts: sample ts of each observation (each one is in `times`); streamer, viewer: codes
    into `streamer_names` / `viewers` (both sorted); times: the day's sorted sample
    timestamps T. Duplicate observations count once.
    """
    times = np.asarray(times, dtype=np.int64)
    n_k, n_s = max(len(times), 1), max(len(streamer_names), 1)
    k = sample_index(times, np.asarray(ts, dtype=np.int64))
    key = (np.asarray(viewer, dtype=np.int64) * n_s + streamer) * n_k + k
    key = sorted_unique(key)                           # dedupe and sort by (v, s, k)
    k = key % n_k
    pair_key = key // n_k                              # v * S + s
    tk = times[k]

    pair_first = _run_starts(pair_key)
    session_break = np.zeros(len(key), dtype=bool)
    session_break[pair_first] = True
    session_break[1:] |= (k[1:] != k[:-1] + 1) | (tk[1:] - tk[:-1] > max_gap)
    session_first = np.flatnonzero(session_break)

    pair_v = pair_key[pair_first] // n_s
    # union over streamers, per viewer: (v, k) keys sorted within each (v, s) run
    viewer_k = sorted_unique(pair_key // n_s * n_k + k, runs=True)
    viewer_first = _run_starts(viewer_k // n_k)
    viewer_codes = viewer_k[viewer_first] // n_k

    return Inverted(
        viewers=[viewers[i] for i in viewer_codes.tolist()],
        streamer_names=list(streamer_names),
        samples=np.diff(np.append(viewer_first, len(viewer_k))),
        first_ts=times[viewer_k[viewer_first] % n_k],
        last_ts=times[viewer_k[_ends(viewer_first, len(viewer_k))] % n_k],
        pair_offsets=np.append(np.searchsorted(pair_v, viewer_codes), len(pair_first)),
        pair_streamer=pair_key[pair_first] % n_s,
        pair_samples=np.diff(np.append(pair_first, len(key))),
        session_offsets=np.append(np.searchsorted(session_first, pair_first), len(session_first)),
        session_start=tk[session_first],
        session_end=tk[_ends(session_first, len(key))],
    )


def minutes(samples: int, interval: int) -> int | float:
    """samples × interval / 60, as an int when it is whole (the usual 300 s interval)."""
    value = samples * interval / 60
    return int(value) if value.is_integer() else value


def records(inv: Inverted, day: str, interval: int) -> Iterator[dict]:
    """The viewer-day records of docs/contracts.md, in viewer order."""
    names = inv.streamer_names
    pair_offsets = inv.pair_offsets.tolist()
    pair_streamer = inv.pair_streamer.tolist()
    pair_samples = inv.pair_samples.tolist()
    session_offsets = inv.session_offsets.tolist()
    starts, ends = inv.session_start.tolist(), inv.session_end.tolist()
    for i, (login, samples, first, last) in enumerate(zip(
            inv.viewers, inv.samples.tolist(), inv.first_ts.tolist(), inv.last_ts.tolist())):
        streamers = {}
        for j in range(pair_offsets[i], pair_offsets[i + 1]):
            a, b = session_offsets[j], session_offsets[j + 1]
            streamers[names[pair_streamer[j]]] = {
                "samples": pair_samples[j],
                "minutes": minutes(pair_samples[j], interval),
                "sessions": [[s, e] for s, e in zip(starts[a:b], ends[a:b])],
            }
        yield {"viewer": login, "day": day, "samples": samples,
               "minutes": minutes(samples, interval), "first_ts": first, "last_ts": last,
               "streamers": streamers}


SESSION_TYPE = pa.list_(pa.int64(), 2)
STREAMER_TYPE = pa.struct([
    ("streamer", pa.string()), ("samples", pa.int32()), ("minutes", pa.float64()),
    ("sessions", pa.list_(SESSION_TYPE)),
])
LAKE_SCHEMA = pa.schema([
    ("viewer", pa.string()), ("day", pa.string()), ("samples", pa.int32()),
    ("minutes", pa.float64()), ("first_ts", pa.int64()), ("last_ts", pa.int64()),
    ("streamers", pa.list_(STREAMER_TYPE)),
])


def lake_table(inv: Inverted, day: str, interval: int) -> pa.Table:
    """The same viewer-days as an Arrow table (nested lists built from the offsets)."""
    per_sample = interval / 60
    bounds = np.column_stack([inv.session_start, inv.session_end]).ravel().astype(np.int64)
    sessions = pa.FixedSizeListArray.from_arrays(pa.array(bounds, pa.int64()), 2)
    streamer_structs = pa.StructArray.from_arrays(
        [pa.array(inv.streamer_names, pa.string()).take(pa.array(inv.pair_streamer)),
         pa.array(inv.pair_samples.astype(np.int32)),
         pa.array(inv.pair_samples * per_sample, pa.float64()),
         pa.ListArray.from_arrays(pa.array(inv.session_offsets.astype(np.int32)), sessions)],
        fields=list(STREAMER_TYPE))
    return pa.Table.from_arrays([
        pa.array(inv.viewers, pa.string()),
        pa.array([day] * len(inv.viewers), pa.string()),
        pa.array(inv.samples.astype(np.int32)),
        pa.array(inv.samples * per_sample, pa.float64()),
        pa.array(inv.first_ts, pa.int64()),
        pa.array(inv.last_ts, pa.int64()),
        pa.ListArray.from_arrays(pa.array(inv.pair_offsets.astype(np.int32)), streamer_structs),
    ], schema=LAKE_SCHEMA)
