"""``bench_archive``: `tpdask archive` of the seeded day from its loose samples, timed as a
separate command, then the day job's read of that archive.

The day's sample files (generated once under ``<data_dir>/bench/inputs/``) are hard-linked
into a fresh data folder, so the archiver deletes links and the inputs stay. The read is
what the day job's unpacker does on its critical path: one thread streaming every member
in archive order (:func:`tpdask.archive.members.stream_archive`); its CPU-seconds are
that thread's.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time

import orjson
import py7zr

from tpdask.archive.members import archive_path, stream_archive
from tpdask.archive.sevenz import default_threads
from tpdask.bench.process import BENCH_DAY, _check, _fmt_scale, _input_day, machine
from tpdask.bench.procmon import run_measured
from tpdask.log import Log, print_log
from tpdask.settings import Config


def bench_archive(config: Config, scale: float, log: Log = print_log) -> dict:
    """Archive the seeded day at `scale` from loose files; time it and reading it back."""
    day = _input_day(config.data_dir / "bench" / "inputs", scale, log)
    run_dir = config.data_dir / "bench" / "archive-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    folder = run_dir / "samples" / BENCH_DAY
    folder.mkdir(parents=True)
    files = sorted(day.glob("*.json"))
    for path in files:
        os.link(path, folder / path.name)
    load_before = os.getloadavg()
    log(f"timing `tpdask archive --day {BENCH_DAY}` of {len(files)} files ...")
    m = run_measured([sys.executable, "-m", "tpdask", "--data_dir", str(run_dir),
                      "--archive_block_mb", str(config.archive_block_mb),
                      "archive", "--day", BENCH_DAY])
    _check(m, "tpdask archive")
    archive = archive_path(run_dir / "archive", BENCH_DAY)
    log("reading it back as the day job does (one thread, archive order) ...")
    read = _read_back(archive)
    with py7zr.SevenZipFile(archive, "r") as z:
        folders = z.header.main_streams.unpackinfo.numfolders
    result = {
        "scale": scale, "day": BENCH_DAY, "files": len(files),
        "raw_json_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "archive_mb": round(archive.stat().st_size / 1e6, 2), "folders": folders,
        "threads": default_threads(), "block_mb": config.archive_block_mb,
        "wall_seconds": round(m.wall_seconds, 2), "cpu_seconds": round(m.cpu_seconds, 2),
        "peak_rss_mb": round(m.peak_rss_bytes / 2**20, 1), **read,
        "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    out = (config.data_dir / "bench" /
           f"bench-archive-scale{_fmt_scale(scale)}-{result['at']}.json")
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return {**result, "saved_to": str(out)}


def _read_back(archive: os.PathLike) -> dict:
    """Stream every member once on this thread: its CPU-seconds and wall seconds."""
    members = 0

    def count(name: str, data: bytes) -> None:
        nonlocal members
        members += 1

    cpu, wall = time.thread_time(), time.perf_counter()
    stream_archive(archive, count)
    return {"read_cpu_seconds": round(time.thread_time() - cpu, 2),
            "read_wall_seconds": round(time.perf_counter() - wall, 2), "members": members}


def table(result: dict) -> str:
    """The figures, as `tpdask bench --job archive` prints them."""
    return "\n".join([
        f"bench archive: scale {result['scale']:g}, {result['files']} files, "
        f"{result['raw_json_mb']} MB of JSON, {result['machine']['cpus']} CPUs, load average "
        f"{result['load_average_before'][0]} before, {result['load_average_after'][0]} after",
        f"  tpdask archive: {result['wall_seconds']} s wall, {result['cpu_seconds']} CPU s, "
        f"peak {result['peak_rss_mb']} MiB",
        f"  archive: {result['archive_mb']} MB ({result['folders']} 7z folders, "
        f"{result['threads']} threads, blocks of at least {result['block_mb']:g} MiB)",
        f"  read back in one pass (the day job's unpacker): {result['read_cpu_seconds']} CPU s, "
        f"{result['read_wall_seconds']} s wall, {result['members']} members",
        f"  saved to {result['saved_to']}"])
