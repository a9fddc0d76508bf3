"""`tpdask analyse` and the analyser's exports, run as a user runs them (in this process:
tests/test_analysis.py kills a real `tpdask analyse` process)."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from tests.support import ANALYSIS_DAYS as DAYS
from tests.support import ROOT, error_line, make_config, processed, samples_of, tpdask
from tpdask.analysis.reference import (reference_bots, reference_overlap, reference_profiles,
                                       reference_streamer_days)
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    raw = {day: write_day(root, day, AudienceConfig(seed=3, scale=0.001, dirty=True))
           for day in DAYS[:2]}
    config = processed(tmp_path_factory.mktemp("cli"), raw)
    return config, samples_of(raw)


def lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_analyse_a_period_then_export_every_result(two_days):
    config, samples = two_days
    data = ["--data_dir", str(config.data_dir)]
    out = tpdask(*data, "analyse", "--since", DAYS[0], "--until", DAYS[1], "--local").stdout
    assert "analysed 2 days" in out and DAYS[1] in out
    bots = lines(tpdask(*data, "export", "bots", "--day", DAYS[0]).stdout)
    assert bots == [b for b in reference_bots(samples) if b["day"] == DAYS[0]]
    days = lines(tpdask(*data, "export", "streamer_days", "--day", DAYS[1]).stdout)
    assert [d["streamer"] for d in days] == [
        d["streamer"] for d in reference_streamer_days(samples, DAYS[1])]
    profiles = lines(tpdask(*data, "export", "profiles").stdout)
    assert [p["viewer"] for p in profiles] == [p["viewer"] for p in reference_profiles(samples)]
    one = profiles[len(profiles) // 2]
    assert lines(tpdask(*data, "export", "profiles", "--viewer", one["viewer"].upper()).stdout) \
        == [one]
    pairs = lines(tpdask(*data, "export", "overlap", "--since", DAYS[0], "--until", DAYS[1],
                         "--min_minutes", "20").stdout)
    expected = reference_overlap(samples, DAYS[0], DAYS[1], min_minutes=20)
    assert [(p["a"], p["b"], p["shared"]) for p in pairs] == [
        (p["a"], p["b"], p["shared"]) for p in expected]


def test_exports_say_what_is_missing(two_days, tmp_path):
    config, _ = two_days
    data = ["--data_dir", str(config.data_dir)]
    missing = tpdask(*data, "export", "bots", "--day", "2022-07-01", check=False)
    assert missing.returncode == 3 and "not analysed" in missing.stderr
    nobody = tpdask(*data, "export", "profiles", "--viewer", "nobody_here", check=False)
    assert nobody.returncode == 3 and "no profile of nobody_here" in nobody.stderr
    wrong = tpdask(*data, "export", "profiles", "--day", DAYS[0], check=False)
    assert wrong.returncode == 2 and "does not take --day" in wrong.stderr
    what = tpdask(*data, "export", "streamers", check=False)
    assert what.returncode == 2 and "choose one of" in what.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_a_flag_the_export_does_not_take_is_refused_even_at_its_default_value(two_days):
    config, _ = two_days
    data = ["--data_dir", str(config.data_dir)]
    for flags, named in ((["--min_minutes", "10"], "--min_minutes"), (["--bots=false"], "--bots"),
                         (["--min_minutes", "20"], "--min_minutes")):
        wrong = tpdask(*data, "export", "viewer_days", "--day", DAYS[0], *flags, check=False)
        assert wrong.returncode == 2, (flags, wrong.stderr)
        assert wrong.stdout == "" and f"export viewer_days does not take {named}" in wrong.stderr


def test_overlap_without_min_minutes_means_10(two_days):
    config, samples = two_days
    data = ["--data_dir", str(config.data_dir)]
    tpdask(*data, "analyse", "--since", DAYS[0], "--until", DAYS[1], "--local")
    period = ["--since", DAYS[0], "--until", DAYS[1]]
    default = tpdask(*data, "export", "overlap", *period).stdout
    assert default == tpdask(*data, "export", "overlap", *period, "--min_minutes", "10").stdout
    expected = reference_overlap(samples, DAYS[0], DAYS[1], min_minutes=10)
    assert [(p["a"], p["b"], p["shared"]) for p in lines(default)] == [
        (p["a"], p["b"], p["shared"]) for p in expected]
    assert default != tpdask(*data, "export", "overlap", *period, "--min_minutes", "20").stdout


def test_analyse_refuses_a_day_not_processed(tmp_path):
    config = make_config(tmp_path)
    config.data_dir.mkdir(parents=True)
    result = tpdask("--data_dir", str(config.data_dir), "analyse", "--day", DAYS[0], "--local",
                    check=False)
    assert result.returncode == 1 and "not processed yet" in result.stderr
    both = tpdask("--data_dir", str(config.data_dir), "analyse", "--day", DAYS[0], "--since",
                  DAYS[0], check=False)
    assert both.returncode == 2 and "not both" in both.stderr


def test_a_disk_error_while_publishing_profiles_is_reported_as_itself(tmp_path):
    """The store's write of the results fails as on a full disk (RLIMIT_FSIZE caps every
    file at 150 KB, so SQLite's journal cannot take the profiles): the one line names that
    write and the disk, not the ledger write that fails after it; nothing is published, and
    the same analyse without the cap then succeeds (issue 17, item 5)."""
    config = make_config(tmp_path)
    write_day(config.samples_dir, DAYS[0], AudienceConfig(seed=5, scale=0.002))
    data = ["--data_dir", str(config.data_dir)]
    tpdask(*data, "process", "--day", DAYS[0], "--local")
    script = ("import resource, signal, sys; from tpdask.cli.main import main; "
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000)); "
              "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", script, *data, "analyse", "--day", DAYS[0],
                             "--local"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert error_line(result) == (f"error: SQLite could not publish the analysis results in "
                                  f"{config.data_dir / 'tpdask.sqlite'}: disk I/O error — check "
                                  "the file and free disk space")
    with open_store(config.store) as store:
        assert store.result_scopes("profiles") == [] and store.result_scopes("bots") == []
    tpdask(*data, "analyse", "--day", DAYS[0], "--local")
    assert lines(tpdask(*data, "export", "profiles").stdout)
