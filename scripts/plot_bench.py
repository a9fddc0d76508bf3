"""Plot `tpdask bench` results: wall time and peak memory against scale.

    python scripts/plot_bench.py data/bench docs/bench-scaling.png

Takes the newest SQLite-store result per scale from the folder's bench-scale*.json files
(a MongoDB run measures the server, not the job). Needs
matplotlib (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson


def newest_per_scale(folder: Path) -> list[dict]:
    results: dict[float, dict] = {}
    for path in sorted(folder.glob("bench-scale*.json")):
        result = orjson.loads(path.read_bytes())
        if result["tpdask"].get("store", "sqlite") != "sqlite":
            continue
        if result["scale"] not in results or result["at"] > results[result["scale"]]["at"]:
            results[result["scale"]] = result
    return [results[s] for s in sorted(results)]


def main(folder: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = newest_per_scale(Path(folder))
    scales = [r["scale"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(scales, [r["tpdask"]["wall_seconds"] for r in results], "o-", label="wall")
    left.plot(scales, [r["tpdask"]["cpu_seconds"] for r in results], "s--", label="CPU")
    left.axhline(30, color="grey", linestyle=":", label="target at scale 1: 30 s")
    left.set(xlabel="scale (1 = 100 streamers, ~21M observations)", ylabel="seconds",
             title="tpdask process, from the .7z archive")
    right.plot(scales, [r["tpdask"]["peak_rss_mb"] for r in results], "o-",
               label="peak RSS, all processes")
    right.axhline(1431, color="grey", linestyle=":", label="target: 1.5 GB (1,431 MiB)")
    right.set(xlabel="scale", ylabel="MiB", title="peak memory", ylim=(0, None))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    machine = results[-1]["machine"]
    fig.suptitle(f"{machine['cpus']} CPUs, {machine['memory_gb']} GiB, "
                 f"{results[-1]['tpdask']['workers']} workers, SQLite store")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out} from {len(results)} results")


if __name__ == "__main__":
    main(*sys.argv[1:3])
