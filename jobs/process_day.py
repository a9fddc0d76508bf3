"""The day processor: a day's samples → viewer-days in the lake and the serving store.

Plan: phase 1 parses batches of sample files and hash-partitions their observations by
viewer into buckets on disk; phase 2 inverts each bucket, writes its lake part and
encodes its store records, which one writer thread of this process stages in the store
while the other buckets still invert (tpdask.process.store_writer). Run it with an executor from
tpdask.executor (Dask, or in-process).
"""

from __future__ import annotations

import math
import re
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from tpdask.archive.manifest import day_inputs as process_inputs
from tpdask.archive.manifest import manifest_path, read_manifest
from tpdask.archive.members import DayFiles, list_day
from tpdask.archive.unpack import ArchiveUnpacker
from tpdask.errors import ArchiveError, ConfigError, JobError, TpdaskError
from tpdask.executor import Executor, performance_report, reports_dir
from tpdask.files import try_lock
from tpdask.log import Log, print_log, sum_step_seconds
from tpdask.privacy.modes import secure_data_dir
from tpdask.process import lake
from tpdask.process.bucket import BucketTask, process_bucket
from tpdask.process.partition import PartitionTask, partition
from tpdask.process.store_writer import StoreWriter
from tpdask.running import announce, day_lock_path, hold_days, new_run_id, running_dir
from tpdask.settings import Config, sqlite_path
from tpdask.stores import Store, open_store

BUCKET_BYTES = 32 << 20        # raw JSON per viewer bucket: ~2M observations
TASK_BYTES = 64 << 20          # raw JSON per phase-1 task of loose files
UNPACKED_TASK_BYTES = 24 << 20  # raw JSON per phase-1 task of archive members
MIN_BUCKETS = 4


def lake_day_dir(config: Config, day: str) -> Path:
    """The day's published viewer-day parts."""
    return lake.day_dir(config.lake_dir, "viewer_days", day)


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


def plan_partition(files: DayFiles, members: tuple[tuple[str, int, str], ...], n_buckets: int,
                   scratch: Path, quarantine_dir: Path, parallel: int, lake_dir: Path,
                   run: str) -> list[PartitionTask]:
    common = dict(day=files.day, n_buckets=n_buckets, scratch=str(scratch),
                  quarantine_dir=str(quarantine_dir), data_dir=str(lake_dir.parent),
                  streams_dir=str(lake.run_dir(lake_dir, "streams", files.day, run)),
                  ids_dir=str(lake.run_dir(lake_dir, "chatter_ids", files.day, run)))
    tasks = []
    # the archive is unpacked once, in order, by the client (tpdask.archive.unpack): tasks take
    # consecutive members, small enough that every worker follows the unpacker closely
    for batch in _batches([(name, size) for name, size, _ in members], UNPACKED_TASK_BYTES):
        tasks.append(PartitionTask(task_id=len(tasks), unpacked_dir=str(scratch / "raw"),
                                   unpacked_files=batch, **common))
    loose_bytes = sum(size for _, size in files.folder_files)
    limit = max(1, min(TASK_BYTES, math.ceil(loose_bytes / parallel)))   # every worker busy
    for batch in _batches(list(files.folder_files), limit):
        tasks.append(PartitionTask(task_id=len(tasks), folder=files.folder, folder_files=batch,
                                   **common))
    return tasks


def find_input(config: Config, day: str) -> DayFiles:
    """The day's sample files; ConfigError when there are none (before any cluster starts)."""
    files = list_day(config.samples_dir, config.archive_dir, day)
    if files.count == 0 and not Path(files.folder).is_dir():
        raise ConfigError(f"no samples for {day}: neither {files.folder}/ nor "
                          f"{config.archive_dir / (day + '.7z')} exists")
    return files


def expected_members(config: Config, files: DayFiles) -> tuple[tuple[str, int, str], ...]:
    """(name, size, sha256) of every archive member the job must read, from the manifest.

    An archive without a manifest (from another tool) is checked by name and size only
    (sha256 ""). A manifest that does not describe this archive stops the job: what it
    would read could not be checked.
    """
    if files.archive is None:
        return ()
    path = manifest_path(config.archive_dir, files.day)
    if not path.exists():
        return tuple((name, size, "") for name, size in files.archive_members)
    manifest = read_manifest(path)
    if manifest.get("archive_size") != Path(files.archive).stat().st_size:
        raise ArchiveError(f"{path} does not describe {files.archive} (other size): run "
                           f"`tpdask archive --day {files.day}` to finish or repair the archive")
    listed = {Path(str(f["name"])).name: f for f in manifest["files"]}
    if set(listed) != {name for name, _ in files.archive_members}:
        raise ArchiveError(f"{files.archive} and {path} list other members: restore both "
                           "from a backup, or move the manifest away to check by size only")
    return tuple((name, int(listed[name]["size"]), str(listed[name]["sha256"]))
                 for name, _ in files.archive_members)


def day_lock(config: Config, day: str) -> AbstractContextManager[None]:
    """Hold the day for this run: a second `process` of the same day, or an `analyse`
    reading it, refuses to start (:func:`tpdask.running.hold_days`)."""
    return hold_days(config.scratch_dir, [day], "process")


def _flock(config: Config, day: str) -> AbstractContextManager[IO[str] | None]:
    """The day's lock file, locked by this process; None when another job holds it."""
    return try_lock(day_lock_path(config.scratch_dir, day))


def clean_dead_runs(config: Config, store: Store, log: Log) -> None:
    """Clean the leftovers of killed runs of other days, each day whose lock is free."""
    names = [p.name for p in config.scratch_dir.glob("process-*-*") if p.is_dir()]
    names += [p.name for p in lake.unpublished(config.lake_dir)]
    days = {m.group(1) for m in map(_LEFTOVER.match, names) if m}
    for day in sorted(days):
        with _flock(config, day) as f:
            if f is not None:
                clean_leftovers(config, day, store, log)


_LEFTOVER = re.compile(r"^(?:process-|\.day=)(\d{4}-\d{2}-\d{2})[-.]")


def clean_leftovers(config: Config, day: str, store: Store, log: Log) -> None:
    """Remove what killed runs of this day left: scratch, unpublished lake folders, staged rows.

    Called under the day lock, so no live run of the day owns any of it. A lake day caught
    between its two publishing renames (only `.day=<day>.<run>.old` left) is put back first.
    """
    for folder in lake.restore_half_published(config.lake_dir, day):
        log(f"restored {folder}, left renamed away by a run killed while publishing")
    leftovers = list(config.scratch_dir.glob(f"process-{day}-*"))
    leftovers += lake.unpublished(config.lake_dir, day)
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    staged = store.drop_unpublished(day)
    if leftovers or staged:
        log(f"cleaned what an earlier run of {day} left: {len(leftovers)} folders, "
            f"{staged} unpublished store records")


#: What process_day runs on: an executor, or a function that starts one (a Dask cluster)
#: as a context manager, called once the archive is being unpacked.
ExecutorSource = Executor | Callable[[], AbstractContextManager[Executor]]


def process_day(config: Config, day: str, executor: ExecutorSource, log: Log = print_log) -> dict:
    """Process one day end to end; returns the job report (also kept in the ledger).

    The store gets the day staged under this run's load id and published at the end in one
    step, after the lake; a run that fails or is killed leaves the previous day in both.
    With a function for ``executor``, the cluster starts while the archive already
    unpacks (a local cluster takes ~3-4 s to start, the unpacking 7-12 s at scale 1).
    """
    files = find_input(config, day)
    members = expected_members(config, files)
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    with day_lock(config, day), open_store(config.store) as store:
        clean_leftovers(config, day, store, log)
        clean_dead_runs(config, store, log)
        started = time.time()
        # unique even for two runs of one process in the same second (the store's load id)
        run = new_run_id(started)
        scratch = config.scratch_dir / f"process-{day}-{run}"
        unpacker = (ArchiveUnpacker(files.archive, members, scratch / "raw", day).start()
                    if files.archive is not None else None)
        try:
            return _process(config, files, members, executor, store, log, started, run,
                            scratch, unpacker)
        finally:
            if unpacker is not None:
                unpacker.stop()
            shutil.rmtree(scratch, ignore_errors=True)


def _started(executor: ExecutorSource) -> AbstractContextManager[Executor]:
    if callable(executor):
        return executor()
    return nullcontext(executor)


@dataclass
class _Phases:
    """What the two phases on the executor made, and how long they took."""
    parts: list
    buckets: list
    workers: int
    partition_seconds: float
    invert_seconds: float


def _process(config: Config, files: DayFiles, members: tuple, executor: ExecutorSource,
             store: Store, log: Log, started: float, run: str, scratch: Path,
             unpacker: ArchiveUnpacker | None) -> dict:
    """Both phases on the executor, the rest of the store writer's parts, then publish.

    A cluster this job started is closed as soon as the last bucket is inverted: an idle
    LocalCluster still takes ~15 % of a core (heartbeats, the workers' profilers), which
    the store writer (with MongoDB, the server) has a use for. The job stays announced to
    the website meanwhile, without a dashboard.
    """
    day = files.day
    writer = StoreWriter(store, scratch / "store", day, run)
    try:
        try:
            report_path = reports_dir(config.data_dir) / f"process-{day}-{run}.html"
            with _started(executor) as ready, performance_report(ready, report_path) as saved:
                phases = _run_phases(config, files, members, ready, writer, log, run,
                                     scratch, unpacker)
            tail_started = time.time()
            with _announced(config, day, executor):
                staged = writer.finish()
        finally:
            writer.stop()
        store_tail_seconds = time.time() - tail_started
        buckets = phases.buckets
        viewers = sum(b.viewers for b in buckets)
        if staged != viewers:
            raise JobError(f"the store writer staged {staged} records of day {day} where the "
                           f"buckets made {viewers}: run process again")
        described = lake.describe_run(config.lake_dir, day, run)
        lake.publish_day(config.lake_dir, day, run)
        published = store.publish_day(day, run)
        if published != viewers:
            raise JobError(f"the store holds {published} records of day {day} where this run "
                           f"wrote {viewers}: another writer changed the day; run process again")
        parts = phases.parts
        report = {
            "day": day,
            "samples_read": sum(len(p.samples) for p in parts),
            "files_quarantined": sum(len(p.quarantined) for p in parts),
            "invalid_entries": sum(p.invalid_entries for p in parts),
            "suppressed_entries": sum(p.suppressed_entries for p in parts),
            "entries": sum(p.observations for p in parts),
            "observations": sum(b.observations for b in buckets),
            "viewers": viewers,
            "sessions": sum(b.sessions for b in buckets),
            "buckets": len(buckets),
            "workers": phases.workers,
            "seconds": round(time.time() - started, 2),
            "phase_seconds": {"parse+partition": round(phases.partition_seconds, 2),
                              "invert+write": round(phases.invert_seconds, 2),
                              "store after the buckets": round(store_tail_seconds, 2)},
            "bucket_seconds": sum_step_seconds(buckets),
            "store_writer_seconds": round(writer.seconds, 2),
            "unpack_seconds": round(unpacker.seconds, 2) if unpacker is not None else None,
            "quarantined": [f"{name}: {why}" for p in parts for name, why in p.quarantined],
            "run": run,
            "inputs": process_inputs(files),
            "lake": described,
            "performance_report": saved,
        }
        store.record_job("process", day, "done", report, started, time.time())
        return report
    except BaseException as exc:
        lake.discard_run(config.lake_dir, day, run)
        _after_failure(store, day, exc, started)
        if isinstance(exc, OSError):         # a full disk, in-process (Dask wraps its own)
            raise JobError(f"process {day} failed and kept the day as it was: {exc} — check "
                           f"free space and permissions under {config.data_dir}") from exc
        raise


def _run_phases(config: Config, files: DayFiles, members: tuple, executor: Executor,
                writer: StoreWriter, log: Log, run: str, scratch: Path,
                unpacker: ArchiveUnpacker | None) -> _Phases:
    """Phase 1 (parse + partition) and phase 2 (invert + write, the writer staging)."""
    day = files.day
    n_buckets = bucket_count(files)
    log(f"process {day}: {files.count} sample files ({files.total_bytes / 1e6:.1f} MB), "
        f"{n_buckets} viewer buckets, {executor.workers} workers")
    tasks = plan_partition(files, members, n_buckets, scratch, config.quarantine_dir,
                           executor.workers, lake_dir=config.lake_dir, run=run)
    phase_started = time.time()
    try:
        parts = executor.map(partition, tasks, "parse+partition")
    except BaseException:
        if unpacker is not None and unpacker.error is not None:
            raise unpacker.error from None     # what the tasks stopped for, as it was
        raise
    finally:
        if unpacker is not None:
            unpacker.stop()
    if unpacker is not None:
        unpacker.finish()
        shutil.rmtree(scratch / "raw", ignore_errors=True)
    partition_seconds = time.time() - phase_started
    times = tuple(sorted({ts for p in parts for _, ts in p.samples}))
    lake.write_times(config.lake_dir, day, run, times)
    bucket_tasks = [BucketTask(day=day, bucket=b, scratch=str(scratch), times=times,
                               interval=config.interval, max_gap=config.max_gap,
                               lake_dir=str(lake.run_dir(config.lake_dir, "viewer_days", day, run)),
                               store=config.store, load=run, rows_dir=str(writer.folder))
                    for b in range(n_buckets)]
    phase_started = time.time()
    writer.start()
    buckets = executor.map(process_bucket, bucket_tasks, "invert+write")
    return _Phases(parts=parts, buckets=buckets, workers=executor.workers,
                   partition_seconds=partition_seconds,
                   invert_seconds=time.time() - phase_started)


def _announced(config: Config, day: str, executor: ExecutorSource) -> AbstractContextManager:
    """The job announced to the website once the cluster it started is closed."""
    if not callable(executor):
        return nullcontext()
    return announce(running_dir(config.data_dir), f"process {day}", None)


def _after_failure(store: Store, day: str, exc: BaseException, started: float) -> None:
    """Best effort (the store may be what failed): drop this run's staged rows — the next
    run's clean_leftovers drops whatever is left — and record the failure in the ledger."""
    for step in (lambda: store.drop_unpublished(day),
                 lambda: store.record_job("process", day, "failed", {"error": repr(exc)},
                                          started, time.time())):
        try:
            step()
        except TpdaskError:
            pass


def process_command(config: Config, day: str, scheduler: str | None = None, workers: int | None = None,
        local: bool = False, log: Log = print_log) -> dict:
    """Process a day on Dask (a new LocalCluster, or `scheduler`), or in-process with local."""
    from tpdask.executor import LocalExecutor, dask_executor

    find_input(config, day)            # no samples: say so before starting a cluster
    if local:
        return process_day(config, day, LocalExecutor(log), log)
    if scheduler and config.store.startswith("sqlite:"):
        log(f"warning: SQLite store {config.store} with scheduler {scheduler}: every worker "
            "must run on this machine; use a MongoDB store for a cluster of machines")
    return process_day(config, day, lambda: dask_executor(
        scheduler, workers, log, dashboard_host=config.dashboard_host, data_dir=config.data_dir,
        job=f"process {day}"), log)
