"""`tpdask bench`: time the day job at full scale from a .7z archive, against a baseline.

The day comes from the audience model (seeded, so every run processes the same day) and
is archived once; later runs reuse data/bench/inputs/. Each measured run is a separate
command whose whole process tree (client, scheduler, nannies, workers) is sampled.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil

from tpdask.archive.pack import build_archive, filters_tag
from tpdask.bench.procmon import Measured, run_measured
from tpdask.errors import ConfigError, JobError
from tpdask.log import Log, print_log, progress
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day

BENCH_DAY = "2022-08-01"
SEED = 1


@dataclass(frozen=True)
class BenchPlan:
    scale: float
    store: str | None = None          # default: a fresh SQLite file in the run folder
    workers: int | None = None
    baseline_scale: float = 0.25
    peer: str | None = None           # "duckdb": the same inversion as a DuckDB query


def _fmt_scale(scale: float) -> str:
    return f"{scale:g}"


def _input_day(inputs: Path, scale: float, log: Log) -> Path:
    """The seeded day at `scale` as loose files (cached)."""
    folder = inputs / f"scale-{_fmt_scale(scale)}-seed-{SEED}"
    done = folder / ".complete"
    if not done.exists():
        log(f"generating the scale {_fmt_scale(scale)} day with the audience model ...")
        shutil.rmtree(folder, ignore_errors=True)
        write_day(folder, BENCH_DAY, AudienceConfig(seed=SEED, scale=scale))
        done.touch()
    return folder / BENCH_DAY


def _input_archive(inputs: Path, scale: float, log: Log) -> Path:
    target = inputs / f"scale-{_fmt_scale(scale)}-seed-{SEED}-{filters_tag()}.7z"
    if not target.exists():
        folder = _input_day(inputs, scale, log)
        log(f"archiving it to {target} ...")
        build_archive(BENCH_DAY, sorted(folder.glob("*.json")), target)
    return target


def _figures(m: Measured, observations: int) -> dict:
    return {"wall_seconds": round(m.wall_seconds, 2), "cpu_seconds": round(m.cpu_seconds, 2),
            "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1),
            "observations_per_second": round(observations / m.wall_seconds)}


def _check(m: Measured, what: str) -> None:
    if m.returncode != 0:
        raise JobError(f"{what} failed (exit {m.returncode}):\n{m.stderr[-3000:]}")


def run_tpdask(config: Config, plan: BenchPlan, archive: Path, log: Log) -> dict:
    run_dir = config.data_dir / "bench" / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "archive").mkdir(parents=True)
    os.link(archive, run_dir / "archive" / f"{BENCH_DAY}.7z")
    store = plan.store or f"sqlite:///{run_dir / 'tpdask.sqlite'}"
    cmd = [sys.executable, "-m", "tpdask", "--data_dir", str(run_dir), "--store", store,
           "process", "--day", BENCH_DAY]
    if plan.workers:
        cmd += ["--workers", str(plan.workers)]
    log(f"timing `tpdask process` from the archive into {store.split('://')[0]} ...")
    m = run_measured(cmd)
    _check(m, "tpdask process")
    from tpdask.stores import open_store

    with open_store(store) as s:
        report = s.job_runs("process", BENCH_DAY)[0]["report"]
    return {**_figures(m, report["observations"]), "job_seconds": report["seconds"],
            "phase_seconds": report["phase_seconds"], "bucket_seconds": report["bucket_seconds"],
            "store_writer_seconds": report.get("store_writer_seconds"),
            "unpack_seconds": report.get("unpack_seconds"),
            "observations": report["observations"], "viewers": report["viewers"],
            "sessions": report["sessions"], "buckets": report["buckets"],
            "workers": report["workers"], "store": store.split("://")[0]}


def run_baseline(config: Config, scale: float, log: Log) -> dict:
    folder = _input_day(config.data_dir / "bench" / "inputs", scale, log)
    log(f"timing the single-process baseline at scale {_fmt_scale(scale)} ...")
    m = run_measured([sys.executable, "-m", "tpdask.process.reference", str(folder), BENCH_DAY])
    _check(m, "the baseline")
    counts = orjson.loads(m.stdout.strip().splitlines()[-1])
    return {"scale": scale, **_figures(m, counts["entries"]), "observations": counts["entries"],
            "viewers": counts["viewers"]}


def run_peer(config: Config, plan: BenchPlan, job: dict, log: Log) -> dict:
    """Time the peer on the same day (its loose JSON files), right after the job."""
    from tpdask.bench.peer import PEERS

    if plan.peer not in PEERS:
        raise ConfigError(f"bench --peer {plan.peer}: the peers are {', '.join(PEERS)}")
    folder = _input_day(config.data_dir / "bench" / "inputs", plan.scale, log)
    out = config.data_dir / "bench" / "run" / f"peer-{plan.peer}.parquet"
    log(f"timing the {plan.peer} peer on the same day ...")
    m = run_measured([sys.executable, "-m", "tpdask.bench.peer", str(folder), str(out),
                      BENCH_DAY, str(config.interval), str(config.max_gap)])
    _check(m, f"the {plan.peer} peer")
    counts = orjson.loads(m.stdout.strip().splitlines()[-1])
    for key in ("viewers", "sessions", "observations"):
        if counts[key] != job[key]:
            raise JobError(f"the {plan.peer} peer found {counts[key]:,} {key} where tpdask "
                           f"process found {job[key]:,}: they did not do the same inversion")
    return {"peer": plan.peer, **_figures(m, counts["observations"]), **counts}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def run_bench(config: Config, plan: BenchPlan, log: Log = print_log) -> dict:
    """Generate (once), archive (once) and time the day job; then the baseline; save JSON.
    Progress: the measured runs (the job, the peer, the baseline)."""
    inputs = config.data_dir / "bench" / "inputs"
    archive = _input_archive(inputs, plan.scale, log)
    raw_bytes = sum(p.stat().st_size for p in _input_day(inputs, plan.scale, log).glob("*.json"))
    result = {
        "scale": plan.scale, "day": BENCH_DAY, "seed": SEED, "raw_json_mb": round(raw_bytes / 1e6, 1),
        "archive_mb": round(archive.stat().st_size / 1e6, 1),
        "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    runs = 1 + bool(plan.peer) + bool(plan.baseline_scale)
    with progress(log, "bench process", runs, "runs") as bar:
        result["tpdask"] = run_tpdask(config, plan, archive, log)
        bar.update()
        result["peer"] = run_peer(config, plan, result["tpdask"], log) if plan.peer else None
        bar.update(bool(plan.peer))
        result["baseline"] = (run_baseline(config, plan.baseline_scale, log)
                              if plan.baseline_scale else None)
        bar.update(bool(plan.baseline_scale))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = config.data_dir / "bench" / f"bench-scale{_fmt_scale(plan.scale)}-{result['at']}.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    result["saved_to"] = str(out)
    return result


def table(result: dict) -> str:
    t, b, p = result["tpdask"], result["baseline"], result.get("peer")
    header = ["", "tpdask process"]
    header += [f"{p['peer']} peer", "peer / tpdask"] if p else []
    header += [f"baseline (scale {b['scale']:g})" if b else "baseline"]
    rows = [tuple(header)]
    for key, label in (("observations", "observations"), ("viewers", "viewers"),
                       ("wall_seconds", "wall seconds"), ("cpu_seconds", "CPU seconds"),
                       ("peak_rss_mb", "peak memory, all processes (MiB)"),
                       ("observations_per_second", "observations per second")):
        row = [label, f"{t[key]:,}"]
        if p:
            row += [f"{p[key]:,}", f"{p[key] / t[key]:.2f}×" if t[key] else "-"]
        row += [f"{b[key]:,}" if b else "-"]
        rows.append(tuple(row))
    width = max(len(r[0]) for r in rows)
    lines = [f"bench: scale {result['scale']:g}, {result['raw_json_mb']} MB of JSON, "
             f"archive {result['archive_mb']} MB, store {t['store']}, {t['workers']} workers, "
             f"{result['machine']['cpus']} CPUs, load average {result['load_average_before'][0]}"
             f" before, {result['load_average_after'][0]} after"]
    lines += ["  " + f"{r[0]:<{width}}" + "".join(f"  {c:>16}" for c in r[1:]) for r in rows]
    lines.append(f"  phases (s): {t['phase_seconds']}; phase-2 task seconds: {t['bucket_seconds']}"
                 f"; unpack seconds: {t.get('unpack_seconds', '-')}"
                 f"; store writer seconds: {t.get('store_writer_seconds', '-')}")
    if p:
        lines.append(f"  the {p['peer']} peer read the day's loose JSON (no .7z to decompress) "
                     "and found the same viewers, sessions and observations")
    lines.append(f"  saved to {result['saved_to']}")
    return "\n".join(lines)
