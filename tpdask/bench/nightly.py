"""`tpdask bench --job nightly`: the whole nightly chain on a generated day, measured.

The seeded day of `tpdask bench` (the audience model at ``--scale``, generated once under
``<data_dir>/bench/inputs/``) is put as loose samples into a fresh data folder (hard
links: archiving deletes the links, never the cached copy), and `tpdask nightly --day D`
runs as a separate command whose whole process tree is sampled: archive, process, analyse
(verify is skipped: the bench has no Twitch credentials). The figures: wall and CPU
seconds, peak memory summed over every process, and each stage's seconds from the
nightly's ledger report.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys

import orjson

from tpdask.bench.process import BENCH_DAY, SEED, _input_day, machine
from tpdask.bench.procmon import run_measured
from tpdask.errors import JobError
from tpdask.log import Log, print_log
from tpdask.settings import Config


def bench_nightly(config: Config, scale: float, workers: int | None = None,
                  store: str | None = None, log: Log = print_log) -> dict:
    """Time `tpdask nightly` of the bench day from loose samples to an analysed day."""
    inputs = config.data_dir / "bench" / "inputs"
    day_files = sorted(_input_day(inputs, scale, log).glob("*.json"))
    run_dir = config.data_dir / "bench" / "nightly-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    samples = run_dir / "samples" / BENCH_DAY
    samples.mkdir(parents=True)
    for path in day_files:
        os.link(path, samples / path.name)
    store = store or f"sqlite:///{run_dir / 'tpdask.sqlite'}"
    cmd = [sys.executable, "-m", "tpdask", "--data_dir", str(run_dir), "--store", store,
           "nightly", "--day", BENCH_DAY, *(["--workers", str(workers)] if workers else [])]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TPDASK_CLIENT_ID", "TPDASK_CLIENT_SECRET", "TPDASK_SECRETS_FILE")}
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"timing `tpdask nightly --day {BENCH_DAY}` from {len(day_files)} loose samples ...")
    m = run_measured(cmd, env=env)
    if m.returncode != 0:
        raise JobError(f"tpdask nightly failed (exit {m.returncode}):\n{m.stderr[-3000:]}")
    from tpdask.stores import open_store

    with open_store(store) as s:
        report = s.job_runs("nightly", BENCH_DAY)[0]["report"]
    result = {
        "scale": scale, "day": BENCH_DAY, "seed": SEED,
        "raw_json_mb": round(sum(p.stat().st_size for p in day_files) / 1e6, 1),
        "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(), "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "wall_seconds": round(m.wall_seconds, 2), "cpu_seconds": round(m.cpu_seconds, 2),
        "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1), "store": store.split("://")[0],
        "stages": {f"{o['stage']}": {"verdict": o["verdict"], "seconds": o["seconds"],
                                     "reason": o["reason"]} for o in report["stages"]},
    }
    out = config.data_dir / "bench" / f"bench-nightly-scale{scale:g}-{result['at']}.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    result["saved_to"] = str(out)
    return result


def table(result: dict) -> str:
    lines = [f"bench nightly: scale {result['scale']:g}, {result['raw_json_mb']} MB of JSON as "
             f"loose samples, store {result['store']}, {result['machine']['cpus']} CPUs, load "
             f"average {result['load_average_before'][0]} before, "
             f"{result['load_average_after'][0]} after",
             f"  wall {result['wall_seconds']} s, CPU {result['cpu_seconds']} s, peak memory "
             f"(all processes) {result['peak_rss_mb']:,} MiB"]
    for stage, s in result["stages"].items():
        detail = f"{s['seconds']} s" if s["verdict"] == "done" else s["reason"]
        lines.append(f"  {stage:<8} {s['verdict']:<8} {detail}")
    lines.append(f"  saved to {result['saved_to']}")
    return "\n".join(lines)
