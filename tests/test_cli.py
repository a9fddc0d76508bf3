"""The command line, run as a user runs it, checked through the library.

Argument checks run `tpdask` in this process (tests.support.tpdask); what needs a real
process (its exit, a Dask cluster it starts) runs it as one (tests.support.tpdask_process).
"""

from __future__ import annotations

import orjson
import pytest

from tests.support import make_config, sample, tpdask, tpdask_process, write_samples
from tpdask.cli.main import COMMANDS
from tpdask.process.reference import reference_viewer_days
from tpdask.settings import SETTINGS

DAY = "2022-08-01"
T0 = 1659312000


def test_no_arguments_lists_every_command_and_setting():
    out = tpdask().stdout
    for name, _ in COMMANDS:
        assert f"  {name} " in out
    for s in SETTINGS:
        assert f"--{s.name}" in out and s.env in out


def test_a_bad_day_is_a_message_not_a_traceback(tmp_path):
    """From a real process: its exit code and all it prints."""
    result = tpdask_process("--data_dir", str(tmp_path), "process", "--day", "yesterdayish",
                            check=False)
    assert result.returncode == 1
    assert "not a day" in result.stderr and "Traceback" not in result.stderr


def test_day_given_as_a_number_is_understood(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, [sample(T0, {"s": ["ann"]})])
    tpdask("--data_dir", str(config.data_dir), "process", "--day=20220801", "--local")
    out = tpdask("--data_dir", str(config.data_dir), "export", "viewer_days", "--day", DAY).stdout
    assert orjson.loads(out.splitlines()[0])["viewer"] == "ann"


@pytest.mark.slow
def test_process_then_export_gives_the_records_of_the_rule(tmp_path, mongo_database_uri):
    samples = [sample(T0 + i * 300, {"a": [f"v{j}" for j in range(i % 4, 6)], "b": ["v1", " V9"]})
               for i in range(10) if i != 4]
    config = make_config(tmp_path)
    write_samples(config, DAY, samples)
    data = str(config.data_dir)
    tpdask_process("--data_dir", data, "process", "--day", DAY, "--workers", "2")
    out = tmp_path / "sqlite.jsonl"
    tpdask_process("--data_dir", data, "export", "viewer_days", "--day", DAY, "--out", str(out))
    lines = out.read_bytes().splitlines()
    expected = reference_viewer_days(samples, DAY)
    assert [orjson.loads(line) for line in lines] == [expected[v] for v in sorted(expected)]

    mongo = mongo_database_uri
    tpdask_process("--data_dir", data, "--store", mongo, "process", "--day", DAY, "--local")
    from_mongo = tpdask_process("--data_dir", data, "--store", mongo, "export", "viewer_days",
                                "--day", DAY).stdout.encode()
    assert from_mongo.splitlines() == lines
