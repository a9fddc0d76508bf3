"""The design card's literal path, measured once: ``dask.bag`` + ``groupby`` on the same day.

    python -m tpdask.bench.bag FOLDER DAY [WORKERS]

Reads the day's sample files into a bag (one partition per ~16 files), flattens them into
one Python tuple per observation ``(viewer, streamer, k)``, groups the bag by viewer
(Dask's task-based shuffle between worker processes), and builds each viewer's record
with the reference's rule (:mod:`tpdask.process.reference`); then counts viewers, sessions and
observations and prints them as JSON. It runs on a LocalCluster of worker processes, as
the day job does, and is measured from outside by ``tpdask bench`` (docs/benchmarks.md).
It exists to show what the job's columnar hash partitioning saves: every observation here
is a Python object pickled through the shuffle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from tpdask.process.reference import _login, _minutes, _sessions


def _observations(path: str, index: dict[int, int]) -> list[tuple[str, str, int]]:
    sample = orjson.loads(Path(path).read_bytes())
    k = index[sample["ts"]]
    out = []
    for streamer, stream in sample["streams"].items():
        for entry in stream["chatters"]:
            login = _login(entry)
            if login is not None:
                out.append((login, streamer, k))
    return out


def _record(group: tuple[str, list], times: list[int], day: str) -> dict:
    viewer, rows = group
    streams: dict[str, set[int]] = {}
    for _, streamer, k in rows:
        streams.setdefault(streamer, set()).add(k)
    union = set().union(*streams.values())
    return {"viewer": viewer, "day": day, "samples": len(union),
            "minutes": _minutes(len(union), 300),
            "first_ts": times[min(union)], "last_ts": times[max(union)],
            "streamers": {s: {"samples": len(ks), "minutes": _minutes(len(ks), 300),
                              "sessions": _sessions(ks, times, 900)}
                          for s, ks in sorted(streams.items())}}


def run_bag(folder: Path, day: str, workers: int = 2) -> dict:
    import dask.bag as db
    from distributed import Client, LocalCluster

    files = sorted(str(p) for p in folder.glob("*.json"))
    times = sorted(orjson.loads(Path(f).read_bytes())["ts"] for f in files)
    index = {t: k for k, t in enumerate(times)}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster):
        records = (db.from_sequence(files, npartitions=max(1, len(files) // 16))
                   .map(_observations, index).flatten()
                   .groupby(lambda row: row[0], shuffle="tasks")
                   .map(_record, times, day))
        counts = records.map(lambda r: (1, sum(len(s["sessions"]) for s in r["streamers"].values()),
                                        sum(s["samples"] for s in r["streamers"].values())))
        totals = counts.fold(lambda a, b: tuple(x + y for x, y in zip(a, b)),
                             initial=(0, 0, 0)).compute()
    return {"viewers": totals[0], "sessions": totals[1], "observations": totals[2]}


if __name__ == "__main__":
    argv = sys.argv[1:]
    result = run_bag(Path(argv[0]), argv[1], int(argv[2]) if len(argv) > 2 else 2)
    print(orjson.dumps(result).decode())
