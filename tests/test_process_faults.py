"""The day job under faults: killed, interrupted, out of space, raced, or fed a broken archive.

Whatever happens to a run of `tpdask process`, the store holds the old day or the whole new
one, the lake likewise, the ledger never says `done` for a day read wrong, and the next run
cleans what a dead one left.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pymongo
import pytest

from jobs.process_day import clean_leftovers, day_lock, lake_day_dir, process_command
from tests.support import make_config, stored_records, write_multi_folder_archive
from tpdask.errors import JobError, TpdaskError
from tpdask.executor import LocalExecutor
from tpdask.process.reference import reference_viewer_days
from tpdask.process.store_writer import HOLD_ENV
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store
from tpdask.stores import sqlite as sqlite_store

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
QUIET = dict(log=lambda m: None)


@pytest.fixture(scope="module")
def day_files(tmp_path_factory) -> list[Path]:
    """A generated day big enough that phase 2 writes the store for a visible while."""
    root = tmp_path_factory.mktemp("day")
    return write_day(root, DAY, AudienceConfig(seed=5, scale=0.01))


def reference(files: list[Path]) -> dict[str, dict]:
    """The reference records of those sample files (computed once per list: read only)."""
    return _reference(tuple(files))


@functools.cache
def _reference(files: tuple[Path, ...]) -> dict[str, dict]:
    return reference_viewer_days([orjson.loads(f.read_bytes()) for f in files], DAY)


def put(config, files: list[Path]) -> None:
    folder = config.samples_dir / DAY
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())


@pytest.fixture(params=["sqlite", "mongodb"])
def store_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'tpdask.sqlite'}"
    return request.getfixturevalue("mongo_database_uri")


def unpublished_rows(uri: str) -> int:
    """Rows of DAY staged under a load readers do not see (invisible through the Store API)."""
    if uri.startswith("sqlite:"):
        conn = sqlite3.connect(uri.removeprefix("sqlite:///"), timeout=60)
        try:
            return conn.execute(
                "SELECT count(*) FROM viewer_days WHERE day = ? AND load IS NOT "
                "(SELECT load FROM day_loads WHERE day = ?)", (DAY, DAY)).fetchone()[0]
        finally:
            conn.close()
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    try:
        db = client.get_default_database()
        pointer = db["day_loads"].find_one({"_id": DAY})
        query = {"day": DAY} if pointer is None else {"day": DAY, "load": {"$ne": pointer["load"]}}
        return db["viewer_days"].count_documents(query)
    finally:
        client.close()


def start_process(config, *extra: str, preexec=None, hold: bool = False) -> subprocess.Popen:
    """``hold``: the store writer waits 60 s after staging its first part, so a test that
    sees staged rows kills a run that cannot have published yet (a small day is staged and
    published in well under a second: polling alone raced the publish on a loaded machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if hold:
        env[HOLD_ENV] = "60"
    return subprocess.Popen(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "--store",
         config.store, "process", "--day", DAY, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec)


def wait_for_staged_rows(proc: subprocess.Popen, uri: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while unpublished_rows(uri) == 0:
        assert proc.poll() is None, f"process ended before the store step: {proc.communicate()}"
        assert time.monotonic() < deadline, "phase 2 never started writing the store"
        time.sleep(0.005)


def old_day_processed(tmp_path, store_uri, day_files):
    """A data folder whose store and lake hold the day from the first half of its samples."""
    config = make_config(tmp_path, store=store_uri)
    half = day_files[: len(day_files) // 2]
    put(config, half)
    process_command(config, DAY, local=True, **QUIET)
    put(config, day_files)             # the rest of the day arrives (late samples)
    old = stored_records(config, DAY)
    assert old == reference(half) and len(old) < len(reference(day_files))
    return config, old


def assert_no_leftovers(config) -> None:
    assert unpublished_rows(config.store) == 0
    assert not list(config.scratch_dir.glob(f"process-{DAY}-*"))
    assert sorted(p.name for p in lake_day_dir(config, DAY).parent.iterdir()) == [f"day={DAY}"]


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_run_stopped_during_the_store_step_leaves_the_old_day(
        tmp_path, store_uri, day_files, how):
    config, old = old_day_processed(tmp_path, store_uri, day_files)
    lake_before = sorted(p.read_bytes() for p in lake_day_dir(config, DAY).iterdir())
    proc = start_process(config, "--local", hold=True)
    wait_for_staged_rows(proc, config.store)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (-9 if how == signal.SIGKILL else 130), err
    assert stored_records(config, DAY) == old            # not one record of the new run
    assert sorted(p.read_bytes() for p in lake_day_dir(config, DAY).iterdir()) == lake_before
    with open_store(config.store) as store:
        last = store.job_runs(job="process", day=DAY)[0]["status"]
    assert last == ("done" if how == signal.SIGKILL else "failed")

    process_command(config, DAY, local=True, **QUIET)                # the next run cleans up and finishes
    assert stored_records(config, DAY) == reference(day_files)
    assert_no_leftovers(config)


@pytest.mark.slow
def test_a_machine_crash_while_the_writer_stages_leaves_the_old_day(
        tmp_path, store_uri, day_files):
    """On Dask the client's one writer stages the buckets' rows while others invert: SIGKILL
    of the whole process tree then (client, scheduler, nannies, workers: a power cut)
    leaves readers the old day, never part of the new; the next run cleans up."""
    config, old = old_day_processed(tmp_path, store_uri, day_files)
    proc = start_process(config, "--workers", "2", preexec=os.setsid, hold=True)
    try:
        wait_for_staged_rows(proc, config.store)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -9
    assert stored_records(config, DAY) == old
    process_command(config, DAY, local=True, **QUIET)
    assert stored_records(config, DAY) == reference(day_files)
    assert_no_leftovers(config)


@pytest.mark.slow
def test_readers_see_the_old_day_then_the_new_one_while_the_writer_stages(
        tmp_path, store_uri, day_files, monkeypatch):
    """A reader polling all through a run on Dask is never blocked and never sees part of
    the new day: the old day's count until the publish, the new one's after."""
    config, old = old_day_processed(tmp_path, store_uri, day_files)
    new = len(reference(day_files))
    if store_uri.startswith("sqlite"):
        # WAL: a read never waits for the writer. The reader's busy timeout is 0, so a read
        # that had to wait for a lock would fail at once (a bound on the seconds each read
        # took stood here before, and flaked on loaded machines).
        monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0)
    seen: list[tuple[bool, int]] = []     # (rows staged then, count read)
    with open_store(config.store) as store:
        store.count_viewer_days(DAY)      # the reader's connection, before the writer starts
        proc = start_process(config, "--workers", "2")
        while proc.poll() is None:
            staged = unpublished_rows(config.store) > 0
            seen.append((staged, store.count_viewer_days(DAY)))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert {count for _, count in seen} <= {len(old), new}
    if store_uri.startswith("sqlite"):
        # FerretDB (SQLite underneath, one Go process) answers a read only after the write
        # command it is running (4 s seen behind the publish's delete of the old load), so
        # there only the counts are checked.
        assert any(staged and count == len(old) for staged, count in seen)  # mid-store
    assert stored_records(config, DAY) == reference(day_files)


@pytest.mark.slow
def test_a_full_disk_during_phase_2_leaves_the_old_day(tmp_path, day_files):
    """RLIMIT_FSIZE makes every write past 1 MB fail as a full disk does (EFBIG here)."""
    config, old = old_day_processed(tmp_path, None, day_files)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = start_process(config, "--local", preexec=small_disk)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and b"Traceback" not in err, err
    assert stored_records(config, DAY) == old
    process_command(config, DAY, local=True, **QUIET)
    assert stored_records(config, DAY) == reference(day_files)
    assert_no_leftovers(config)


def test_a_second_run_of_the_same_day_refuses_to_start(tmp_path, day_files):
    config = make_config(tmp_path)
    put(config, day_files[:10])
    with day_lock(config, DAY):
        result = subprocess.run(
            [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "process",
             "--day", DAY, "--local"],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=120)
        with pytest.raises(JobError, match="being processed"):
            process_command(config, DAY, local=True, **QUIET)
    assert result.returncode == 1 and "being processed by pid" in result.stderr
    assert not (config.data_dir / "tpdask.sqlite").exists()     # refused before anything


def test_leftovers_of_a_killed_run_are_removed_and_a_half_published_lake_put_back(
        tmp_path, day_files):
    config = make_config(tmp_path)
    put(config, day_files[:10])
    process_command(config, DAY, local=True, **QUIET)
    final = lake_day_dir(config, DAY)
    parts = sorted(p.name for p in final.iterdir())
    # a run killed between the two renames of publishing: only the old folder, renamed
    os.replace(final, final.with_name(f".day={DAY}.123-4.old"))
    (final.parent / f".day={DAY}.123-4").mkdir()                   # its unpublished folder
    (config.scratch_dir / f"process-{DAY}-123-4" / "bucket-00000").mkdir(parents=True)
    with open_store(config.store) as store:
        clean_leftovers(config, DAY, store, lambda m: None)
    assert sorted(p.name for p in final.iterdir()) == parts
    assert_no_leftovers(config)


def test_lake_parts_and_their_publishing_are_fsynced(tmp_path, day_files, monkeypatch):
    config = make_config(tmp_path)
    put(config, day_files[:10])
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    from jobs.process_day import process_day
    process_day(config, DAY, LocalExecutor(**QUIET), **QUIET)
    final = lake_day_dir(config, DAY)
    names = {Path(p).name for p in synced}
    for part in final.iterdir():
        assert any(re.fullmatch(rf"\.{re.escape(part.name)}\.[0-9]+\.tmp", n) for n in names), \
            f"{part.name} not fsynced"
    assert any(Path(p).name.startswith(f".day={DAY}.") for p in synced)   # the new folder
    assert str(final.parent) in synced                                    # the renames


@pytest.mark.slow
def test_a_multi_folder_archive_is_processed_whole(tmp_path, day_files):
    config = make_config(tmp_path)
    members = {f"{DAY}/{f.name}": f.read_bytes() for f in day_files}
    write_multi_folder_archive(config.archive_dir / f"{DAY}.7z", members)
    report = process_command(config, DAY, workers=2, **QUIET)
    assert report["samples_read"] == len(day_files) and report["files_quarantined"] == 0
    assert stored_records(config, DAY) == reference(day_files)


def test_a_member_that_does_not_match_the_manifest_fails_the_job(tmp_path, day_files):
    """What the job reads is checked against the manifest: never `done` on a day read wrong."""
    from tpdask.archive.manifest import manifest_path
    from tpdask.archive.pack import archive_day

    config = make_config(tmp_path)
    put(config, day_files[:10])
    process_command(config, DAY, local=True, **QUIET)
    old = stored_records(config, DAY)
    put(config, day_files[10:20])
    archive_day(config, DAY, **QUIET)
    path = manifest_path(config.archive_dir, DAY)
    manifest = orjson.loads(path.read_bytes())
    manifest["files"][3]["sha256"] = "0" * 64
    path.write_bytes(orjson.dumps(manifest))
    with pytest.raises(TpdaskError, match="other bytes than the manifest"):
        process_command(config, DAY, local=True, **QUIET)
    assert stored_records(config, DAY) == old
    with open_store(config.store) as store:
        assert store.job_runs(job="process", day=DAY)[0]["status"] == "failed"


def test_no_input_is_reported_before_a_cluster_starts(tmp_path):
    config = make_config(tmp_path)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(TpdaskError, match="no samples for 2022-08-01"):
        process_command(config, DAY, workers=2, log=said.append)
    assert not any("dashboard" in line for line in said) and time.monotonic() - started < 5
    assert not config.data_dir.exists()


def test_a_run_of_another_day_cleans_what_a_dead_run_left(tmp_path, day_files):
    config = make_config(tmp_path)
    put(config, day_files[:10])
    dead = config.scratch_dir / "process-2022-07-30-123-4" / "bucket-00000"
    dead.mkdir(parents=True)
    lake = lake_day_dir(config, DAY).parent
    (lake / ".day=2022-07-30.123-4").mkdir(parents=True)
    (config.scratch_dir / "process-2022-07-31-9-9").mkdir()     # a live run of another day
    with day_lock(config, "2022-07-31"):
        process_command(config, DAY, local=True, **QUIET)
    assert sorted(p.name for p in config.scratch_dir.iterdir() if p.is_dir()) == [
        "process-2022-07-31-9-9"]
    assert sorted(p.name for p in lake.iterdir()) == [f"day={DAY}"]
