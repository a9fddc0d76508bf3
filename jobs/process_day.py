"""The day processor: a day's samples → viewer-days in the lake and the serving store.

Plan: phase 1 parses batches of sample files and hash-partitions their observations by
viewer into buckets on disk; phase 2 inverts each bucket and writes its lake part and
store records. Run it with an executor from tpdask.executor (Dask, or in-process).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

from tpdask.bucket import BucketTask, process_bucket
from tpdask.errors import ConfigError
from tpdask.executor import Executor
from tpdask.log import Log, print_log
from tpdask.partition import PartitionTask, partition
from tpdask.samples import DayFiles, list_day
from tpdask.settings import Config
from tpdask.stores import open_store

BUCKET_BYTES = 32 << 20        # raw JSON per viewer bucket: ~2M observations
TASK_BYTES = 64 << 20          # raw JSON per phase-1 task of loose files
MIN_BUCKETS = 4


def lake_day_dir(config: Config, day: str) -> Path:
    return config.lake_dir / "viewer_days" / f"day={day}"


def bucket_count(files: DayFiles) -> int:
    """Sized by data only, so the same day always gives the same part files."""
    return max(MIN_BUCKETS, math.ceil(files.total_bytes / BUCKET_BYTES))


def _batches(files: list[tuple[str, int]], limit: int) -> list[tuple[str, ...]]:
    batches, current, size = [], [], 0
    for name, n in files:
        current.append(name)
        size += n
        if size >= limit:
            batches.append(tuple(current))
            current, size = [], 0
    if current:
        batches.append(tuple(current))
    return batches


def plan_partition(files: DayFiles, n_buckets: int, scratch: Path, quarantine_dir: Path,
                   parallel: int) -> list[PartitionTask]:
    common = dict(day=files.day, n_buckets=n_buckets, scratch=str(scratch),
                  quarantine_dir=str(quarantine_dir))
    tasks = []
    # a solid archive is streamed whole by each reader: one reader per worker, members striped
    names = [name for name, _ in files.archive_members]
    readers = max(1, min(parallel, len(names)))
    for r in range(readers if names else 0):
        tasks.append(PartitionTask(task_id=len(tasks), archive=files.archive,
                                   archive_members=tuple(names[r::readers]), **common))
    loose_bytes = sum(size for _, size in files.folder_files)
    limit = max(1, min(TASK_BYTES, math.ceil(loose_bytes / parallel)))   # every worker busy
    for batch in _batches(list(files.folder_files), limit):
        tasks.append(PartitionTask(task_id=len(tasks), folder=files.folder, folder_files=batch,
                                   **common))
    return tasks


def process_day(config: Config, day: str, executor: Executor, log: Log = print_log) -> dict:
    """Process one day end to end; returns the job report (also kept in the ledger)."""
    started = time.time()
    files = list_day(config.samples_dir, config.archive_dir, day)
    if files.count == 0 and not Path(files.folder).is_dir():
        raise ConfigError(f"no samples for {day}: neither {files.folder}/ nor "
                          f"{config.archive_dir / (day + '.7z')} exists")
    run = f"{int(started)}-{os.getpid()}"
    scratch = config.scratch_dir / f"process-{day}-{run}"
    lake_tmp = lake_day_dir(config, day).with_name(f".day={day}.{run}")
    n_buckets = bucket_count(files)
    log(f"process {day}: {files.count} sample files ({files.total_bytes / 1e6:.1f} MB), "
        f"{n_buckets} viewer buckets, {executor.workers} workers")
    store = open_store(config.store)
    try:
        tasks = plan_partition(files, n_buckets, scratch, config.quarantine_dir, executor.workers)
        phase_started = time.time()
        parts = executor.map(partition, tasks, "parse+partition")
        partition_seconds = time.time() - phase_started
        times = tuple(sorted({ts for p in parts for _, ts in p.samples}))
        store.delete_day(day)
        bucket_tasks = [BucketTask(day=day, bucket=b, scratch=str(scratch), times=times,
                                   interval=config.interval, max_gap=config.max_gap,
                                   lake_dir=str(lake_tmp), store=config.store)
                        for b in range(n_buckets)]
        phase_started = time.time()
        buckets = executor.map(process_bucket, bucket_tasks, "invert+write")
        invert_seconds = time.time() - phase_started
        _publish_lake(lake_tmp, lake_day_dir(config, day))
        report = {
            "day": day,
            "samples_read": sum(len(p.samples) for p in parts),
            "files_quarantined": sum(len(p.quarantined) for p in parts),
            "invalid_entries": sum(p.invalid_entries for p in parts),
            "entries": sum(p.observations for p in parts),
            "observations": sum(b.observations for b in buckets),
            "viewers": sum(b.viewers for b in buckets),
            "sessions": sum(b.sessions for b in buckets),
            "buckets": len(bucket_tasks),
            "workers": executor.workers,
            "seconds": round(time.time() - started, 2),
            "phase_seconds": {"parse+partition": round(partition_seconds, 2),
                              "invert+write": round(invert_seconds, 2)},
            "bucket_seconds": _sum_seconds(buckets),
            "quarantined": [f"{name}: {why}" for p in parts for name, why in p.quarantined],
        }
        store.record_job("process", day, "done", report, started, time.time())
        return report
    except BaseException as exc:
        store.record_job("process", day, "failed", {"error": repr(exc)}, started, time.time())
        shutil.rmtree(lake_tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        store.close()


def _sum_seconds(buckets: list) -> dict:
    """Task seconds of phase 2 summed over buckets, per step (read, invert, lake, store)."""
    total: dict[str, float] = {}
    for b in buckets:
        for step, seconds in b.seconds.items():
            total[step] = round(total.get(step, 0) + seconds, 2)
    return total


def _publish_lake(new: Path, final: Path) -> None:
    """Swap the day's lake folder for the one this run wrote (an empty day gets an empty one)."""
    new.mkdir(parents=True, exist_ok=True)
    old = final.with_name(new.name + ".old")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def run(config: Config, day: str, scheduler: str | None = None, workers: int | None = None,
        local: bool = False, log: Log = print_log) -> dict:
    """Process a day on Dask (a new LocalCluster, or `scheduler`), or in-process with local."""
    from tpdask.executor import LocalExecutor, dask_executor

    if local:
        return process_day(config, day, LocalExecutor(log), log)
    if scheduler and config.store.startswith("sqlite:"):
        log(f"warning: SQLite store {config.store} with scheduler {scheduler}: every worker "
            "must run on this machine; use a MongoDB store for a cluster of machines")
    with dask_executor(scheduler, workers, log) as executor:
        return process_day(config, day, executor, log)
