"""Read-only commands and exports (issue 7, items 10–13): they create nothing, say what is
missing, write to stdout with `--out -`, stop quietly when the reader goes away, and hand on
absolute paths. Commands run in this process, except where a pipe to a real process is the
point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support import ROOT, make_config, sample, tpdask, write_samples
from tpdask.settings import resolve

DAY = "2022-08-01"
T0 = 1659312000
VIEWERS = 3000  # ~400 KB of JSON lines: more than a pipe holds, so `| head` cuts it short


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A data folder whose store holds DAY (3000 viewers), processed in-process."""
    config = make_config(tmp_path_factory.mktemp("processed"))
    write_samples(config, DAY, [sample(T0 + i * 300, {"s": [f"v{j}" for j in range(VIEWERS)]})
                                for i in range(3)])
    tpdask("--data_dir", str(config.data_dir), "process", "--day", DAY, "--local")
    return config.data_dir


def test_status_on_a_mistyped_data_dir_says_so_and_creates_nothing(tmp_path):
    missing = tmp_path / "dta"
    result = tpdask("--data_dir", str(missing), "status", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr == f"error: no data folder at {missing}: check --data_dir (or TPDASK_DATA_DIR)\n"
    assert list(tmp_path.iterdir()) == []


def test_status_and_export_on_a_folder_without_store_create_none(tmp_path):
    for args in (["status"], ["export", "viewer_days", "--day", DAY]):
        result = tpdask("--data_dir", str(tmp_path), *args, check=False)
        assert result.returncode == 1 and "error: no store at" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_status_on_a_mistyped_store_says_so(tmp_path, processed):
    store = f"sqlite:///{tmp_path}/tpdask.sqlit"
    result = tpdask("--data_dir", str(processed), "--store", store, "status", check=False)
    assert result.returncode == 1 and "no store at" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_status_on_a_mongodb_database_that_does_not_exist_says_so(tmp_path, mongo_database_uri):
    result = tpdask("--store", mongo_database_uri, "status", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "no tpdask store" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_exporting_a_day_without_records_exits_3_and_writes_no_file(tmp_path, processed):
    out = tmp_path / "out.jsonl"
    for args in ([], ["--out", str(out)]):
        result = tpdask("--data_dir", str(processed), "export", "viewer_days",
                        "--day", "2022-08-02", *args, check=False)
        assert result.returncode == 3, result.stderr
        assert result.stdout == "" and "no viewer-day records of 2022-08-02" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_dash_is_standard_output(processed):
    plain = tpdask("--data_dir", str(processed), "export", "viewer_days", "--day", DAY).stdout
    dash = tpdask("--data_dir", str(processed), "export", "viewer_days", "--day", DAY,
                  "--out", "-")
    assert dash.stdout == plain and dash.stderr == ""
    assert len(plain.splitlines()) == VIEWERS
    assert not (Path.cwd() / "-").exists()


def test_a_reader_that_goes_away_ends_the_export_quietly(processed):
    """`tpdask export … | head -1`: no traceback, exit 141 (as a tool killed by SIGPIPE)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", "--data_dir", str(processed),
                             "export", "viewer_days", "--day", DAY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert orjson.loads(proc.stdout.readline())["viewer"] == "v0"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, stderr
    assert stderr == ""


def test_the_shell_pipe_of_the_readme_prints_no_error(processed):
    result = subprocess.run(
        f"'{sys.executable}' -m tpdask --data_dir '{processed}' export viewer_days "
        f"--day {DAY} | head -3", shell=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert len(result.stdout.splitlines()) == 3 and result.stderr == ""


def test_a_relative_data_dir_and_store_are_handed_on_absolute(tmp_path, processed):
    (tmp_path / "data").symlink_to(processed)
    out = tpdask("--data_dir", "data", "status", cwd=tmp_path).stdout
    assert out.startswith(f"store: sqlite:///{tmp_path}/data/tpdask.sqlite\n")
    out = tpdask("--store", "sqlite:///data/tpdask.sqlite", "status", cwd=tmp_path).stdout
    assert out.startswith(f"store: sqlite:///{tmp_path}/data/tpdask.sqlite\n")


def test_resolve_makes_paths_absolute_and_keeps_other_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = resolve(data_dir="d/../data", store="sqlite:///s/x.sqlite")
    assert config.data_dir == tmp_path / "data"
    assert config.store == f"sqlite:///{tmp_path}/s/x.sqlite"
    assert resolve(data_dir="data").store == f"sqlite:///{tmp_path}/data/tpdask.sqlite"
    mongo = "mongodb://user:pw@host:27017/db"
    assert resolve(store=mongo).store == mongo


def test_printed_text_into_a_closed_pipe_ends_quietly_too(tmp_path):
    """Text printed with print() is flushed before exit, so a closed pipe is caught there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tpdask", "process", "-h"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and stderr == ""
