"""The whole day job on real Dask clusters, against the plain reference, and its idempotency."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from jobs.process_day import lake_day_dir, process_day, process_command
from tests.support import (free_port, lake_rows, make_config, shutdown_dask, start_dask,
                           stored_records, wait_for_workers)
from tpdask.executor import ThreadExecutor
from tpdask.process.reference import reference_viewer_days
from tpdask.running import running_dir, running_jobs
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores.sqlite import SQLiteStore

DAY = "2022-08-01"
QUIET = dict(log=lambda m: None)


@pytest.fixture(scope="module")
def dirty_day(tmp_path_factory):
    """A generated dirty day with collection gaps, and its reference records."""
    root = tmp_path_factory.mktemp("dirty")
    paths = write_day(root, DAY, AudienceConfig(seed=11, scale=0.004, gaps=True, dirty=True))
    samples = [orjson.loads(p.read_bytes()) for p in paths]
    return root / DAY, reference_viewer_days(samples, DAY)


def copy_day(source: Path, config) -> None:
    target = config.samples_dir / DAY
    target.mkdir(parents=True)
    for f in source.iterdir():
        (target / f.name).write_bytes(f.read_bytes())


@pytest.mark.slow
def test_local_cluster_of_two_worker_processes_matches_the_reference(tmp_path, dirty_day):
    source, expected = dirty_day
    config = make_config(tmp_path)
    copy_day(source, config)
    report = process_command(config, DAY, workers=2, **QUIET)
    assert report["workers"] == 2 and report["invalid_entries"] > 0
    assert report["viewers"] == len(expected)
    assert stored_records(config, DAY) == expected
    assert sorted(r["viewer"] for r in lake_rows(config)) == sorted(expected)


def test_the_cluster_closes_before_the_store_writer_stages_the_last_parts(
        tmp_path, dirty_day, monkeypatch):
    """An idle cluster costs CPU the writer (or the MongoDB server) can use: the job closes
    the cluster it started once the buckets are inverted and stays announced meanwhile."""
    source, expected = dirty_day
    config = make_config(tmp_path)
    copy_day(source, config)
    closed = threading.Event()
    announced: list[list[dict]] = []

    @contextmanager
    def cluster():
        yield ThreadExecutor(2, log=lambda m: None)
        closed.set()

    stage_part = SQLiteStore.stage_part

    def stage_once_closed(self, day, load, part):
        assert closed.wait(30), "the cluster was still up: the job waited for the writer first"
        deadline = time.monotonic() + 5     # announced again a moment after the close
        while not (jobs := running_jobs(running_dir(config.data_dir))):
            assert time.monotonic() < deadline, "the job is not announced any more"
            time.sleep(0.01)
        announced.append(jobs)
        return stage_part(self, day, load, part)

    monkeypatch.setattr(SQLiteStore, "stage_part", stage_once_closed)
    process_day(config, DAY, cluster, **QUIET)
    assert stored_records(config, DAY) == expected
    assert announced and all([(e["job"], e["dashboard"]) for e in jobs] == [
        (f"process {DAY}", None)] for jobs in announced)
    assert running_jobs(running_dir(config.data_dir)) == []


@pytest.mark.slow
def test_processing_a_day_twice_leaves_store_and_lake_unchanged(tmp_path, dirty_day):
    source, expected = dirty_day
    config = make_config(tmp_path)
    copy_day(source, config)
    process_command(config, DAY, local=True, **QUIET)
    first_store, first_lake = stored_records(config, DAY), lake_rows(config)
    process_command(config, DAY, workers=2, **QUIET)
    assert stored_records(config, DAY) == first_store == expected
    assert lake_rows(config) == first_lake
    assert sorted(p.name for p in lake_day_dir(config, DAY).parent.iterdir()) == [f"day={DAY}"]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes, started as separate commands."""
    workdir = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [start_dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--dashboard-address", ":0")]
    try:
        for _ in range(2):
            procs.append(start_dask("worker", address, "--nthreads", "1",
                                    "--local-directory", str(workdir / "workers")))
        wait_for_workers(address, 2)
        yield address
    finally:
        shutdown_dask(address, list(reversed(procs)))


@pytest.mark.slow
def test_separate_dask_scheduler_and_two_dask_workers(tmp_path, dirty_day, dask_cluster):
    source, expected = dirty_day
    config = make_config(tmp_path)
    copy_day(source, config)
    report = process_command(config, DAY, scheduler=dask_cluster, **QUIET)
    assert report["workers"] == 2
    assert stored_records(config, DAY) == expected


@pytest.mark.slow
def test_two_jobs_at_once_on_one_cluster_each_get_their_own_records(
        tmp_path, dirty_day, dask_cluster):
    """The same day of two data folders (so the same plans), run from two threads of one
    process: each job has its own Client. Both once failed: with equal task keys they took
    each other's results, and then one of them waited for ever on the other's event loop."""
    source, expected = dirty_day
    config = make_config(tmp_path)
    copy_day(source, config)
    other = make_config(tmp_path / "other")
    half = sorted(source.iterdir())[::2]
    (other.samples_dir / DAY).mkdir(parents=True)
    for f in half:
        (other.samples_dir / DAY / f.name).write_bytes(f.read_bytes())
    expected_other = reference_viewer_days([orjson.loads(f.read_bytes()) for f in half], DAY)

    reports = run_in_daemon_threads(
        [lambda c=c: process_command(c, DAY, scheduler=dask_cluster, **QUIET) for c in (config, other)],
        timeout=120)
    assert [r["viewers"] for r in reports] == [len(expected), len(expected_other)]
    assert stored_records(config, DAY) == expected
    assert stored_records(other, DAY) == expected_other


def run_in_daemon_threads(calls: list, timeout: float) -> list:
    """Run the calls at once, each in a daemon thread; their results, or AssertionError after
    ``timeout`` seconds. Daemon threads, so that a hung call cannot keep pytest from exiting
    (a ThreadPoolExecutor's threads are joined at exit)."""
    import threading

    results: list = [None] * len(calls)
    errors: list = []

    def target(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"a job was still running after {timeout} s"
    if errors:
        raise errors[0]
    return results
