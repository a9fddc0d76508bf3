"""`tpdask nightly`: the chain over three generated days, killed in the middle of each stage
and run again, ends exactly as an uninterrupted run; a second nightly is refused; stages
with nothing to do are skipped with the reason.

Verify runs against the Twitch simulator, whose accounts are the audience model's (the
generated days' viewers), with the simulator's credentials in the environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from jobs.nightly import nightly_lock
from tests.support import make_config
from tpdask.cli.main import main
from tpdask.process import lake
from tpdask.running import hold_days
from tpdask.settings import Config
from tpdask.simulator import Simulator
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store

DAYS = ["2022-08-01", "2022-08-02", "2022-08-03"]
ROOT = Path(__file__).resolve().parent.parent
MODEL = AudienceConfig(seed=1, scale=0.002)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    for day in DAYS:
        write_day(root, day, MODEL)
    return root


@pytest.fixture(scope="module")
def sim():
    with Simulator(DAYS[0], MODEL) as simulator:
        yield simulator


def fresh(tmp: Path, raw: Path) -> Config:
    config = make_config(tmp)
    shutil.copytree(raw, config.samples_dir)
    return config


def env_for(sim: Simulator) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TPDASK_")},
            "PYTHONPATH": str(ROOT), "TPDASK_CLIENT_ID": sim.client_id,
            "TPDASK_CLIENT_SECRET": sim.client_secret}


def start(config: Config, sim: Simulator, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
         "--helix_url", sim.urls["helix_url"], "--auth_url", sim.urls["auth_url"], "nightly",
         "--since", DAYS[0], "--until", DAYS[-1], *extra],
        env=env_for(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def run(config: Config, sim: Simulator, *extra: str) -> tuple[int, str]:
    proc = start(config, sim, *extra)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def kill_when(proc: subprocess.Popen, line_start: str, delay: float) -> None:
    """SIGKILL the nightly's whole process group ``delay`` s after it logs ``line_start``."""
    for line in proc.stderr:
        if line_start in line:                # after the UTC time of a progress line
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            return
    raise AssertionError(f"the nightly ended before {line_start!r}: {proc.wait()}")


def final_state(config: Config) -> dict:
    """What an operator relies on: exports, the lake, the archives, the ledger's verdicts."""
    state: dict = {}
    with open_store(config.store) as store:
        for kind in ("bots", "streamer_days", "profiles"):
            state[kind] = [doc for _, _, doc in store.iter_results(kind)]
        state["statuses"] = [{k: s[k] for k in ("viewer", "status", "user_id", "login_now")}
                             for s in store.iter_statuses()]
        for day in DAYS:
            state["store", day] = list(store.iter_viewer_days(day))
            state["verdicts", day] = {job: next((r["status"] for r in store.job_runs(job, day)),
                                                None) for job in ("archive", "process")}
        state["nightly"] = store.job_runs("nightly")[0]["status"]
    for day in DAYS:
        for table in lake.TABLES:
            folder = lake.day_dir(config.lake_dir, table, day)
            state["lake", table, day] = sorted(
                (p.name, pq.read_table(p).to_pylist()) for p in folder.glob("*.parquet"))
        manifest = orjson.loads((config.archive_dir / f"{day}.manifest.json").read_bytes())
        state["archive", day] = manifest["files"]
        assert not (config.samples_dir / day).exists(), "raw samples left after archiving"
    return state


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, raw, sim) -> dict:
    config = fresh(tmp_path_factory.mktemp("whole"), raw)
    code, output = run(config, sim, "--local")
    assert code == 0, output
    return final_state(config)


@pytest.mark.parametrize("stage, line, delay, extra", [
    ("archive", f"nightly: archive {DAYS[1]}", 0.1, ("--local",)),
    ("process", f"nightly: process {DAYS[1]}", 2.0, ("--workers", "1")),
    ("analyse", "nightly: analyse", 0.3, ("--local",)),
    ("verify", "nightly: verify", 0.3, ("--local",)),
])
def test_a_nightly_killed_in_a_stage_and_run_again_ends_as_an_uninterrupted_one(
        tmp_path, raw, sim, uninterrupted, stage, line, delay, extra):
    config = fresh(tmp_path, raw)
    kill_when(start(config, sim, *extra), line, delay)
    with open_store(config.store) as store:       # killed before its end: no nightly recorded
        assert store.job_runs("nightly") == []
    code, output = run(config, sim, "--local")
    assert code == 0, output
    assert f"{stage}" in output
    assert final_state(config) == uninterrupted


def test_a_second_nightly_is_refused_at_once_naming_the_first(tmp_path, raw, capsys):
    config = fresh(tmp_path, raw)
    args = ["--data_dir", str(config.data_dir), "nightly", "--day", DAYS[0], "--local"]
    with nightly_lock(config):
        assert main(args) == 1
    assert f"another `tpdask nightly` is running on this data folder (pid {os.getpid()})" in \
        capsys.readouterr().err
    with hold_days(config.scratch_dir, [DAYS[0]], "process"):
        assert main(args) == 1
    assert f"day {DAYS[0]} is being processed by pid {os.getpid()}" in capsys.readouterr().err


def test_stages_with_nothing_to_do_are_skipped_and_a_day_without_samples_is_no_error(
        tmp_path, raw, capsys):
    config = fresh(tmp_path, raw)
    shutil.rmtree(config.samples_dir / DAYS[1])
    args = ["--data_dir", str(config.data_dir), "nightly", "--since", DAYS[0], "--until",
            DAYS[2], "--local"]
    env = {k: v for k, v in os.environ.items() if k.startswith("TPDASK_CLIENT")}
    for name in env:
        os.environ.pop(name)
    try:
        assert main(args) == 0
        first = capsys.readouterr().out
        assert main(args) == 0
        again = capsys.readouterr().out
    finally:
        os.environ.update(env)
    assert f"{DAYS[1]}  archive  skipped  (no samples for this day)" in first
    assert "verify   skipped  (no Twitch credentials" in first
    assert f"{DAYS[0]}  process  done" in first and f"{DAYS[2]}  analyse  done" in first
    assert f"{DAYS[0]}  process  skipped  (processed already from the same archive)" in again
    assert f"{DAYS[2]}  analyse  skipped  (results current)" in again


def test_a_failing_day_is_partial_and_the_other_days_go_on(tmp_path, raw, capsys):
    config = fresh(tmp_path, raw)
    bad = config.samples_dir / DAYS[1]
    (config.archive_dir).mkdir(parents=True)
    (config.archive_dir / f"{DAYS[1]}.7z").write_bytes(b"not an archive")   # archived wrong
    assert bad.is_dir()
    args = ["--data_dir", str(config.data_dir), "nightly", "--since", DAYS[0], "--until",
            DAYS[2], "--local"]
    assert main(args) == 4
    out = capsys.readouterr()
    assert f"{DAYS[1]}  archive  failed" in out.out and f"{DAYS[2]}  process  done" in out.out
    assert "stages failed (see above); the next run retries them" in out.err
