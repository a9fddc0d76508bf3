"""A worker killed while the day job runs: the job completes, and the store and the lake
hold exactly the right records — nothing lost, nothing twice."""

from __future__ import annotations

import signal

import orjson
import pytest

from jobs.process_day import process_command
from tests.support import (free_port, lake_rows, make_config, shutdown_dask, start_dask,
                           stored_records, wait_for_workers)
from tpdask.process.reference import reference_viewer_days
from tpdask.simulator.audience import AudienceConfig, write_day

DAY = "2022-08-01"


@pytest.mark.slow
def test_killing_a_worker_mid_job_loses_nothing_and_doubles_nothing(tmp_path):
    config = make_config(tmp_path)
    paths = write_day(config.samples_dir, DAY, AudienceConfig(seed=5, scale=0.03, dirty=True))
    expected = reference_viewer_days([orjson.loads(p.read_bytes()) for p in paths], DAY)

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start_dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                           "--dashboard-address", ":0")
    # --no-nanny: a killed worker stays dead, so its tasks must move to the other one
    workers = [start_dask("worker", address, "--nthreads", "1", "--no-nanny",
                          "--local-directory", str(tmp_path / f"w{i}")) for i in range(2)]
    victim = workers[1]
    killed = []

    def log(message: str) -> None:
        if "invert+write: 1/" in message and not killed:
            victim.send_signal(signal.SIGKILL)
            killed.append(message)

    try:
        wait_for_workers(address, 2)
        report = process_command(config, DAY, scheduler=address, log=log)
    finally:
        shutdown_dask(address, [*workers, scheduler])

    assert killed and victim.returncode == -signal.SIGKILL
    assert report["buckets"] >= 4
    assert stored_records(config, DAY) == expected
    rows = lake_rows(config)
    assert len(rows) == len(expected)
    assert sorted(r["viewer"] for r in rows) == sorted(expected)
    assert {r["viewer"]: r["samples"] for r in rows} == {v: e["samples"] for v, e in expected.items()}
