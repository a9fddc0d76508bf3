"""A plain-Python reference of the inversion rule, written straight from DESIGN.md.

Slow and obvious on purpose: the Dask job must give exactly what this gives.
"""

from __future__ import annotations

import re
from collections import defaultdict

from tpdask.days import day_bounds

LOGIN = re.compile(r"[a-z0-9_]{1,25}")


def _login(entry):
    if not isinstance(entry, str):
        return None
    entry = entry.strip().lower()
    return entry if LOGIN.fullmatch(entry) else None


def _minutes(samples, interval):
    value = samples * interval / 60
    return int(value) if value.is_integer() else value


def _sessions(ks, times, max_gap):
    runs = []
    for k in sorted(ks):
        if runs and k == runs[-1][-1] + 1 and times[k] - times[k - 1] <= max_gap:
            runs[-1].append(k)
        else:
            runs.append([k])
    return [[times[r[0]], times[r[-1]]] for r in runs]


def reference_viewer_days(samples: list[dict], day: str, interval: int = 300,
                          max_gap: int = 900) -> dict[str, dict]:
    """viewer → viewer-day record, for the samples of `day` (others are ignored)."""
    start, end = day_bounds(day)
    kept = [s for s in samples if start <= s["ts"] < end]
    times = sorted({s["ts"] for s in kept})
    index = {t: k for k, t in enumerate(times)}
    seen = defaultdict(set)                 # (viewer, streamer) -> {k}
    for sample in kept:
        k = index[sample["ts"]]
        for streamer, stream in sample["streams"].items():
            for entry in stream["chatters"]:
                login = _login(entry)
                if login is not None:
                    seen[(login, streamer.strip().lower())].add(k)
    per_viewer = defaultdict(dict)
    for (viewer, streamer), ks in seen.items():
        per_viewer[viewer][streamer] = ks
    out = {}
    for viewer, streams in per_viewer.items():
        union = set().union(*streams.values())
        out[viewer] = {
            "viewer": viewer, "day": day, "samples": len(union),
            "minutes": _minutes(len(union), interval),
            "first_ts": times[min(union)], "last_ts": times[max(union)],
            "streamers": {s: {"samples": len(ks), "minutes": _minutes(len(ks), interval),
                              "sessions": _sessions(ks, times, max_gap)}
                          for s, ks in sorted(streams.items())},
        }
    return out
