"""`tpdask analyse` and the analyser's exports, run as a user runs them (in this process:
tests/test_analysis.py kills a real `tpdask analyse` process)."""

from __future__ import annotations

import orjson
import pytest

from tests.support import ANALYSIS_DAYS as DAYS
from tests.support import make_config, processed, samples_of, tpdask
from tpdask.analysis.reference import (reference_bots, reference_overlap, reference_profiles,
                                       reference_streamer_days)
from tpdask.simulator.audience import AudienceConfig, write_day


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


def test_analyse_refuses_a_day_not_processed(tmp_path):
    config = make_config(tmp_path)
    config.data_dir.mkdir(parents=True)
    result = tpdask("--data_dir", str(config.data_dir), "analyse", "--day", DAYS[0], "--local",
                    check=False)
    assert result.returncode == 1 and "not processed yet" in result.stderr
    both = tpdask("--data_dir", str(config.data_dir), "analyse", "--day", DAYS[0], "--since",
                  DAYS[0], check=False)
    assert both.returncode == 2 and "not both" in both.stderr
