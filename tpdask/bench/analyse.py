"""`tpdask bench --job analyse`: the analyser's cost day after day, and the overlap's.

Days of the audience model (one population, seed 1, on consecutive days from 2022-08-01:
the same viewers with the same favourite streamers, other stays each day — as a real
audience) are generated and archived once (data/bench/inputs/). A fresh run folder then, day after day, processes
the next day (not measured) and times `tpdask analyse --day D` as a separate command
whose whole process tree is sampled — so day k's figure is the cost of analysing a new
day on top of k−1 analysed ones. Then `tpdask export overlap` over all the days is timed.
Last, the cost of a backfill: over a copy of days 2..N analysed one after the other, day 1
arrives (as if processed late) and `tpdask analyse --day <day 1>` is timed — it also makes
days 2..N's new and returning viewers again — against `tpdask analyse` of all N days at
once over a copy of the same lake with no analysis at all (lake copies are hard links:
nothing is processed again).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from tpdask.archive.pack import build_archive, filters_tag
from tpdask.bench.procmon import Measured, run_measured
from tpdask.errors import JobError
from tpdask.log import Log, Progress, print_log, progress
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day

FIRST_DAY = dt.date(2022, 8, 1)
SEED = 1


def bench_days(n: int) -> list[str]:
    return [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(n)]


def _input_archive(inputs: Path, scale: float, day: str, seed: int, log: Log) -> Path:
    target = inputs / f"scale-{scale:g}-seed-{seed}-{day}-{filters_tag()}.7z"
    if not target.exists():
        log(f"generating {day} at scale {scale:g} (seed {seed}) and archiving it ...")
        folder = inputs / f"tmp-{day}"
        shutil.rmtree(folder, ignore_errors=True)
        write_day(folder, day, AudienceConfig(seed=seed, scale=scale))
        build_archive(day, sorted((folder / day).glob("*.json")), target)
        shutil.rmtree(folder)
    return target


def _tpdask(run_dir: Path, store: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tpdask", "--data_dir", str(run_dir), "--store", store, *args]


def _measured(cmd: list[str], what: str, bar: Progress) -> Measured:
    m = run_measured(cmd)
    if m.returncode != 0:
        raise JobError(f"{what} failed (exit {m.returncode}):\n{m.stderr[-3000:]}")
    bar.update()
    return m


def _figures(m: Measured) -> dict:
    return {"wall_seconds": round(m.wall_seconds, 2), "cpu_seconds": round(m.cpu_seconds, 2),
            "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1)}


def bench_analyse(config: Config, scale: float, n_days: int, workers: int | None = None,
                  store: str | None = None, log: Log = print_log) -> dict:
    """Time analysing each of ``n_days`` days after the previous ones, then their overlap.
    Progress: the commands run (3 per day and 2, timed or not)."""
    inputs = config.data_dir / "bench" / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    run_dir = config.data_dir / "bench" / "analyse-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "archive").mkdir(parents=True)
    store = store or f"sqlite:///{run_dir / 'tpdask.sqlite'}"
    extra = ["--workers", str(workers)] if workers else []
    days = bench_days(n_days)
    with progress(log, "bench analyse", 3 * n_days + 2, "runs") as bar:
        return _bench_days(config, scale, days, run_dir, store, extra, log, bar)


def _bench_days(config: Config, scale: float, days: list[str], run_dir: Path, store: str,
                extra: list[str], log: Log, bar: Progress) -> dict:
    """Each day processed then analysed, the overlap, the backfill; ``bar`` counts runs."""
    inputs = config.data_dir / "bench" / "inputs"
    n_days = len(days)
    rows = []
    for day in days:
        archive = _input_archive(inputs, scale, day, SEED, log)
        os.link(archive, run_dir / "archive" / f"{day}.7z")
        log(f"processing {day} (not timed) ...")
        _measured(_tpdask(run_dir, store, "process", "--day", day, *extra), "tpdask process",
                  bar)
        log(f"timing `tpdask analyse --day {day}` ...")
        m = _measured(_tpdask(run_dir, store, "analyse", "--day", day, *extra), "tpdask analyse",
                      bar)
        rows.append({"day": day, **_figures(m), **_job_report(store, day)})
    log(f"timing `tpdask export overlap` over {n_days} days ...")
    m = _measured(_tpdask(run_dir, store, "export", "overlap", "--since", days[0], "--until",
                          days[-1], "--out", str(run_dir / "overlap.jsonl")), "export overlap",
                  bar)
    pairs = sum(1 for _ in open(run_dir / "overlap.jsonl"))
    backfill, scratch = _backfill(config, run_dir, days, extra, log, bar)
    return {"scale": scale, "days": rows, "store": store.split("://")[0],
            "overlap": {**_figures(m), "days": n_days, "pairs": pairs},
            "day_n_over_day_1": round(rows[-1]["wall_seconds"] / rows[0]["wall_seconds"], 2),
            "backfill": backfill, "from_scratch": scratch}


def _lake_copy(source: Path, target: Path, days: list[str]) -> None:
    """``days`` of the lake at ``source`` (its run folder) linked into ``target``'s lake."""
    from tpdask.process import lake

    for day in days:
        for table in lake.TABLES:
            shutil.copytree(lake.day_dir(source / "lake", table, day),
                            lake.day_dir(target / "lake", table, day), copy_function=os.link)


def _backfill(config: Config, run_dir: Path, days: list[str], extra: list[str],
              log: Log, bar: Progress) -> tuple[dict, dict]:
    """The backfill of the first day into the others, and all days from scratch (SQLite)."""
    late = config.data_dir / "bench" / "analyse-backfill"
    scratch = config.data_dir / "bench" / "analyse-scratch"
    for folder in (late, scratch):
        shutil.rmtree(folder, ignore_errors=True)
    store = f"sqlite:///{late / 'tpdask.sqlite'}"
    _lake_copy(run_dir, late, days[1:])
    log(f"analysing {days[1]} … {days[-1]} one after the other (not timed) ...")
    for day in days[1:]:
        _measured(_tpdask(late, store, "analyse", "--day", day, *extra), "tpdask analyse", bar)
    _lake_copy(run_dir, late, days[:1])
    log(f"timing the backfill: `tpdask analyse --day {days[0]}` after {days[1]} … {days[-1]} ...")
    m = _measured(_tpdask(late, store, "analyse", "--day", days[0], *extra), "tpdask analyse",
                  bar)
    backfill = {**_figures(m), **_job_report(store, days[0])}
    _lake_copy(run_dir, scratch, days)
    store = f"sqlite:///{scratch / 'tpdask.sqlite'}"
    scope = f"{days[0]}..{days[-1]}"
    log(f"timing `tpdask analyse --since {days[0]} --until {days[-1]}` from scratch ...")
    m = _measured(_tpdask(scratch, store, "analyse", "--since", days[0], "--until", days[-1],
                          *extra), "tpdask analyse", bar)
    return backfill, {**_figures(m), **_job_report(store, scope)}


def _job_report(store_uri: str, day: str) -> dict:
    from tpdask.stores import open_store

    with open_store(store_uri) as store:
        report = store.job_runs("analyse", day)[0]["report"]
    return {"viewers": report["viewers"], "profiles_written": report["profiles_written"],
            "phase_seconds": report["phase_seconds"],
            "updated_days": len(report.get("updated_days", [])),
            "contributed_days": report.get("contributed_days")}


def table(result: dict) -> str:
    lines = [f"bench analyse: scale {result['scale']:g}, store {result['store']}",
             f"  {'day':<11} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'viewers':>9} "
             f"{'profiles':>9}  phases (s)"]
    for r in result["days"]:
        lines.append(f"  {r['day']:<11} {r['wall_seconds']:>8} {r['cpu_seconds']:>8} "
                     f"{r['peak_rss_mb']:>9} {r['viewers']:>9,} {r['profiles_written']:>9,}  "
                     f"{r['phase_seconds']}")
    o = result["overlap"]
    lines.append(f"  overlap over {o['days']} days: {o['wall_seconds']} s wall, "
                 f"{o['cpu_seconds']} CPU s, peak {o['peak_rss_mb']} MiB, {o['pairs']:,} pairs")
    lines.append(f"  last day / first day (wall): {result['day_n_over_day_1']}")
    b, s = result["backfill"], result["from_scratch"]
    lines.append(f"  backfill of {result['days'][0]['day']} after the other days: "
                 f"{b['wall_seconds']} s wall, {b['cpu_seconds']} CPU s, peak {b['peak_rss_mb']} "
                 f"MiB ({b['contributed_days']} day contributed, {b['updated_days']} days made "
                 f"again, {b['profiles_written']:,} profiles written)")
    lines.append(f"  all {len(result['days'])} days from scratch: {s['wall_seconds']} s wall, "
                 f"{s['cpu_seconds']} CPU s, peak {s['peak_rss_mb']} MiB "
                 f"({s['contributed_days']} days contributed); backfill / from scratch "
                 f"(wall): {round(b['wall_seconds'] / s['wall_seconds'], 2)}")
    return "\n".join(lines)
