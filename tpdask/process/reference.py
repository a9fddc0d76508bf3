"""A plain-Python reference of the inversion rule, written straight from docs/contracts.md.

Slow and obvious on purpose: the tests check that the Dask job gives exactly what this
gives, and `tpdask bench` runs it as the baseline (the whole day in Python dicts, the
way the original single script worked).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

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


def read_day_folder(folder: Path, day: str) -> list[dict]:
    """Every readable sample of a day folder, loaded whole into Python objects."""
    samples = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("version") == 1 and isinstance(doc.get("ts"), int):
            samples.append(doc)
    return samples


def main(argv: list[str]) -> int:
    """`python -m tpdask.process.reference FOLDER DAY`: the baseline of `tpdask bench`.

    Does what the original single script did: load the whole day into Python dicts, invert
    it, and keep every record in memory; prints counts as JSON.
    """
    folder, day = Path(argv[0]), argv[1]
    samples = read_day_folder(folder, day)
    entries = sum(len(s["chatters"]) for sample in samples for s in sample["streams"].values())
    records = reference_viewer_days(samples, day)
    print(json.dumps({"samples": len(samples), "entries": entries, "viewers": len(records)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
