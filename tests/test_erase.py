"""`tpdask erase` (issue 19, item 2): a viewer erased is in no file of the data folder
(archive members and Parquet rows included) and no collection of the store, on both
backends; processing a day that still holds it does not bring it back; an erasure killed
at any step and run again ends as an uninterrupted one. Results after an erase: see
tests/test_erase_results.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.process_day import process_command
from tests.privacy_support import files_naming, raw_store_naming, store_naming
from tests.erase_support import DAYS, LOGIN, QUIET, WHO, build
from tests.support import make_config
from tpdask.archive.manifest import manifest_path, read_manifest, verify_archive
from tpdask.privacy.erase import FAULT_ENV, erase
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.stores import open_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "mongodb"])
def built(request, tmp_path) -> Config:
    store = request.getfixturevalue("mongo_database_uri") if request.param == "mongodb" else None
    config = make_config(tmp_path, store=store)
    build(config)
    assert files_naming(config.data_dir, WHO) and store_naming(config.store, WHO)
    return config


def test_an_erased_viewer_is_nowhere_and_stays_out(built, tmp_path):
    config = built
    report = erase(config, LOGIN, **QUIET)
    assert report.lake_days == DAYS and report.linked == ["old_name_of_it"]
    assert report.removed["store"]["viewer_days"] == 2 and report.removed["store"]["accounts"] == 1
    text = report.text(WHO)
    assert "lake" in text and "archives     not touched" in text
    assert files_naming(config.data_dir, WHO, skip=("archive",)) == []
    assert store_naming(config.store, WHO) == [] and raw_store_naming(config.store, WHO) == []
    assert files_naming(config.data_dir, WHO)          # the archives still hold it

    process_command(config, DAYS[0], local=True, **QUIET)    # its archive names the viewer
    assert files_naming(config.data_dir, WHO, skip=("archive",)) == []
    assert store_naming(config.store, WHO) == []
    with open_store(config.store) as store:
        report0 = store.job_runs("process", DAYS[0])[0]["report"]
    assert report0["suppressed_entries"] >= 30

    again = erase(config, LOGIN, archives=True, **QUIET)
    assert again.removed["archives"]["archives_rewritten"] == 2
    assert files_naming(config.data_dir, WHO) == []
    assert store_naming(config.store, WHO) == [] and raw_store_naming(config.store, WHO) == []
    for day in DAYS:
        verify_archive(config.archive_dir / f"{day}.7z",
                       read_manifest(manifest_path(config.archive_dir, day)))
    assert (config.data_dir / "privacy" / "suppressed.txt").exists()


def test_processing_again_after_an_erase_gives_the_erased_lake(tmp_path):
    """Erasing a day's lake is what processing it with the viewer suppressed gives."""
    config = make_config(tmp_path)
    build(config)
    erase(config, LOGIN, **QUIET)
    erased = {t: table_rows(config, t, DAYS[1]) for t in ("viewer_days", "streams", "chatter_ids")}
    process_command(config, DAYS[1], local=True, **QUIET)
    assert {t: table_rows(config, t, DAYS[1]) for t in erased} == erased


def table_rows(config: Config, table: str, day: str) -> list:
    parts = sorted(lake.day_dir(config.lake_dir, table, day).glob("*.parquet"))
    rows = pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []
    return sorted(rows, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))


# ---- killed at any step, run again --------------------------------------------------------

def snapshot(config: Config) -> dict:
    """What an erasure leaves, minus what differs by nature between runs (run ids, times)."""
    out: dict = {}
    for table in ("viewer_days", "streams", "chatter_ids", "times"):
        for day in DAYS:
            out[table, day] = table_rows(config, table, day)
    for day in DAYS:
        manifest = read_manifest(manifest_path(config.archive_dir, day))
        out["archive", day] = sorted((f["name"], f["sha256"]) for f in manifest["files"])
        folder = config.samples_dir / day
        out["samples", day] = sorted((p.name, p.read_bytes()) for p in folder.glob("*.json")) \
            if folder.is_dir() else []
    out["quarantine"] = sorted(str(p.relative_to(config.quarantine_dir))
                               for p in config.quarantine_dir.rglob("*") if p.is_file())
    with open_store(config.store) as store:
        for day in DAYS:
            out["store", day] = list(store.iter_viewer_days(day))
        out["profiles"] = sorted(k for _, k, _ in store.iter_results("profiles"))
        out["statuses"] = list(store.iter_statuses())
    out["suppressed"] = (config.data_dir / "privacy" / "suppressed.txt").read_text()
    out["journals"] = sorted(p.name for p in (config.data_dir / "privacy" / "erase").glob("*"))
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Config:
    from tpdask.privacy.keys import folder_key

    config = make_config(tmp_path_factory.mktemp("history"))
    build(config)
    folder_key(config.data_dir)        # one key for every copy: the same suppression list
    return config


def copy_of(history: Config, tmp_path: Path, name: str) -> Config:
    config = make_config(tmp_path / name)
    shutil.copytree(history.data_dir, config.data_dir)
    return config


def run_erase(config: Config, env: dict | None = None, timeout: float = 300) -> int:
    return subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "erase", LOGIN,
         "--archives"], env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True, timeout=timeout).returncode


@pytest.fixture(scope="module")
def uninterrupted(history, tmp_path_factory) -> dict:
    config = copy_of(history, tmp_path_factory.mktemp("whole"), "whole")
    assert run_erase(config) == 0
    return snapshot(config)


@pytest.mark.parametrize("step", ["suppressed", "samples", "archive", "prepared", "swapped-one",
                                  "published", "analysis", "store"])
def test_an_erase_killed_after_any_step_and_run_again_ends_the_same(history, uninterrupted,
                                                                    tmp_path, step):
    config = copy_of(history, tmp_path, "killed")
    assert run_erase(config, {FAULT_ENV: step}) == 137
    assert list((config.data_dir / "privacy" / "erase").glob("*.json"))   # the journal
    if step == "archive":             # the install's health names it until it is run again
        from tpdask.ops import check_health

        health = check_health(config)
        assert [r.text for r in health.reasons if r.check == "erasures"] == [
            f"erasure {journal.stem} unfinished (started 1 time): unless a `tpdask erase` is "
            "running now, run the same `tpdask erase LOGIN` again to finish it"
            for journal in (config.data_dir / "privacy" / "erase").glob("*.json")]
    assert run_erase(config) == 0
    if step == "archive":
        assert not [r for r in check_health(config).reasons if r.check == "erasures"]
    assert snapshot(config) == uninterrupted
    assert files_naming(config.data_dir, WHO) == [] and store_naming(config.store, WHO) == []


def test_an_erase_sigkilled_at_random_moments_and_run_again_ends_the_same(
        history, uninterrupted, tmp_path):
    import random
    import signal
    import time

    config = copy_of(history, tmp_path, "sigkilled")
    rng = random.Random(19)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "erase", LOGIN,
             "--archives"], env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert run_erase(config) == 0
    assert snapshot(config) == uninterrupted
    assert files_naming(config.data_dir, WHO) == [] and store_naming(config.store, WHO) == []


def test_an_erase_refuses_while_a_job_holds_a_day(history, tmp_path):
    from tpdask.errors import JobError
    from tpdask.running import hold_days

    config = copy_of(history, tmp_path, "held")
    with hold_days(config.scratch_dir, [DAYS[1]], "process"):
        with pytest.raises(JobError, match="is being processed by pid"):
            erase(config, LOGIN, **QUIET)
    assert (config.data_dir / "privacy" / "suppressed.txt").exists()    # the first step
    erase(config, LOGIN, **QUIET)
    assert files_naming(config.data_dir, WHO, skip=("archive",)) == []
