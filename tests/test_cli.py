"""The command line, run as a user runs it, checked through the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.support import make_config, sample, write_samples
from tpdask.cli.main import COMMANDS
from tpdask.process.reference import reference_viewer_days
from tpdask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
T0 = 1659312000


def tpdask(*args: str, env: dict | None = None, check: bool = True,
           cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `tpdask ARGS` as a user would; TPDASK_* variables of the caller are left out."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("TPDASK_") or k.startswith("TPDASK_TEST_")}
    full_env = {**base, "PYTHONPATH": str(ROOT), **(env or {})}
    result = subprocess.run([sys.executable, "-m", "tpdask", *args], capture_output=True,
                            text=True, env=full_env, timeout=300, cwd=cwd)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_no_arguments_lists_every_command_and_setting():
    out = tpdask().stdout
    for name, _ in COMMANDS:
        assert f"  {name} " in out
    for s in SETTINGS:
        assert f"--{s.name}" in out and s.env in out


def test_a_bad_day_is_a_message_not_a_traceback(tmp_path):
    result = tpdask("--data_dir", str(tmp_path), "process", "--day", "yesterdayish", check=False)
    assert result.returncode == 1
    assert "not a day" in result.stderr and "Traceback" not in result.stderr


def test_day_given_as_a_number_is_understood(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, [sample(T0, {"s": ["ann"]})])
    tpdask("--data_dir", str(config.data_dir), "process", "--day=20220801", "--local")
    out = tpdask("--data_dir", str(config.data_dir), "export", "viewer_days", "--day", DAY).stdout
    assert orjson.loads(out.splitlines()[0])["viewer"] == "ann"


def test_process_then_export_gives_the_records_of_the_rule(tmp_path, mongo_database_uri):
    samples = [sample(T0 + i * 300, {"a": [f"v{j}" for j in range(i % 4, 6)], "b": ["v1", " V9"]})
               for i in range(10) if i != 4]
    config = make_config(tmp_path)
    write_samples(config, DAY, samples)
    data = str(config.data_dir)
    tpdask("--data_dir", data, "process", "--day", DAY, "--workers", "2")
    out = tmp_path / "sqlite.jsonl"
    tpdask("--data_dir", data, "export", "viewer_days", "--day", DAY, "--out", str(out))
    lines = out.read_bytes().splitlines()
    expected = reference_viewer_days(samples, DAY)
    assert [orjson.loads(line) for line in lines] == [expected[v] for v in sorted(expected)]

    mongo = mongo_database_uri
    tpdask("--data_dir", data, "--store", mongo, "process", "--day", DAY, "--local")
    from_mongo = tpdask("--data_dir", data, "--store", mongo, "export", "viewer_days",
                        "--day", DAY).stdout.encode()
    assert from_mongo.splitlines() == lines
