"""`tpdask bench --job insight`: broadcasts, stream health and flows of N analysed days.

The days of `tpdask bench --job analyse` (the audience model, seed 1, consecutive days,
generated and archived once under data/bench/inputs/) are processed and analysed in a
fresh run folder — the analysis all at once, measured, as the analyser's own figure of the
same run — then `tpdask export broadcasts` and `tpdask export flows` over all the days are
timed, each a separate command whose whole process tree is sampled.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tpdask.bench.analyse import SEED, _figures, _input_archive, _measured, _tpdask, bench_days
from tpdask.log import Log, Progress, print_log, progress
from tpdask.settings import Config


def bench_insight(config: Config, scale: float, n_days: int, workers: int | None = None,
                  store: str | None = None, log: Log = print_log) -> dict:
    inputs = config.data_dir / "bench" / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    run_dir = config.data_dir / "bench" / "insight-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "archive").mkdir(parents=True)
    store = store or f"sqlite:///{run_dir / 'tpdask.sqlite'}"
    extra = ["--workers", str(workers)] if workers else []
    days = bench_days(n_days)
    with progress(log, "bench insight", n_days + 3, "runs") as bar:
        return _bench_runs(run_dir, store, days, extra, scale, log, bar)


def _bench_runs(run_dir: Path, store: str, days: list[str], extra: list[str], scale: float,
                log: Log, bar: Progress) -> dict:
    """Each day processed (not timed), the analysis of all days, then the two exports;
    ``bar`` counts the runs."""
    inputs = run_dir.parent / "inputs"
    for day in days:
        os.link(_input_archive(inputs, scale, day, SEED, log), run_dir / "archive" / f"{day}.7z")
        log(f"processing {day} (not timed) ...")
        _measured(_tpdask(run_dir, store, "process", "--day", day, *extra), "tpdask process",
                  bar)
    span = ["--since", days[0], "--until", days[-1]]
    log(f"timing `tpdask analyse` of the {len(days)} days ...")
    analysed = _measured(_tpdask(run_dir, store, "analyse", *span, *extra), "tpdask analyse",
                         bar)
    result = {"scale": scale, "days": len(days), "store": store.split("://")[0],
              "analyse": _figures(analysed)}
    for what in ("broadcasts", "flows"):
        out = run_dir / f"{what}.jsonl"
        log(f"timing `tpdask export {what}` over the {len(days)} days ...")
        m = _measured(_tpdask(run_dir, store, "export", what, *span, "--out", str(out)),
                      f"export {what}", bar)
        lines = out.read_bytes().splitlines()
        result[what] = {**_figures(m), "records": len(lines)}
        if what == "broadcasts":
            result[what]["suspect"] = sum(b'"suspect":true' in line for line in lines)
    return result


def table(result: dict) -> str:
    a, b, f = result["analyse"], result["broadcasts"], result["flows"]
    return "\n".join([
        f"bench insight: scale {result['scale']:g}, {result['days']} days, store {result['store']}",
        f"  analyse (all days at once): {a['wall_seconds']} s wall, {a['cpu_seconds']} CPU s, "
        f"peak {a['peak_rss_mb']} MiB",
        f"  export broadcasts: {b['wall_seconds']} s wall, {b['cpu_seconds']} CPU s, peak "
        f"{b['peak_rss_mb']} MiB, {b['records']:,} broadcasts ({b['suspect']} suspect)",
        f"  export flows: {f['wall_seconds']} s wall, {f['cpu_seconds']} CPU s, peak "
        f"{f['peak_rss_mb']} MiB, {f['records']:,} pairs",
        f"  broadcasts + flows: {round(b['wall_seconds'] + f['wall_seconds'], 2)} s wall"])
