"""The inversion rule of docs/contracts.md, one case per test, through the real day job (in-process)."""

from __future__ import annotations

import pytest

from jobs.process_day import process_day
from tests.support import make_config, sample, stored_records, write_samples
from tpdask.executor import LocalExecutor
from tpdask.process.reference import reference_viewer_days

DAY = "2022-08-01"
T0 = 1659312000          # 2022-08-01T00:00:00Z
STEP = 300


def run(tmp_path, samples, **settings):
    config = make_config(tmp_path, **settings)
    write_samples(config, DAY, samples)
    report = process_day(config, DAY, LocalExecutor(log=lambda m: None), log=lambda m: None)
    return stored_records(config, DAY), report


def at(i: int) -> int:
    return T0 + i * STEP


def test_one_absent_sample_breaks_a_session(tmp_path):
    samples = [sample(at(i), {"streamer_a": ["alice"] if i != 2 else []}) for i in range(5)]
    records, _ = run(tmp_path, samples)
    alice = records["alice"]
    assert alice["streamers"]["streamer_a"]["sessions"] == [[at(0), at(1)], [at(3), at(4)]]
    assert alice["samples"] == 4 and alice["minutes"] == 20


def test_collection_gap_below_max_gap_continues_the_session(tmp_path):
    samples = [sample(T0, {"s": ["bob"]}), sample(T0 + 900, {"s": ["bob"]})]
    records, _ = run(tmp_path, samples)
    assert records["bob"]["streamers"]["s"]["sessions"] == [[T0, T0 + 900]]


def test_collection_gap_above_max_gap_breaks_the_session(tmp_path):
    samples = [sample(T0, {"s": ["bob"]}), sample(T0 + 901, {"s": ["bob"]})]
    records, _ = run(tmp_path, samples)
    assert records["bob"]["streamers"]["s"]["sessions"] == [[T0, T0], [T0 + 901, T0 + 901]]


def test_max_gap_is_a_setting(tmp_path):
    samples = [sample(T0, {"s": ["bob"]}), sample(T0 + 1200, {"s": ["bob"]})]
    records, _ = run(tmp_path, samples, max_gap=1200)
    assert records["bob"]["streamers"]["s"]["sessions"] == [[T0, T0 + 1200]]


def test_a_login_listed_twice_counts_once(tmp_path):
    records, report = run(tmp_path, [sample(T0, {"s": ["carol", "carol", "Carol "]})])
    assert records["carol"]["samples"] == 1
    assert records["carol"]["streamers"]["s"] == {"samples": 1, "minutes": 5,
                                                  "sessions": [[T0, T0]]}
    assert report["observations"] == 1 and report["entries"] == 3


def test_upper_case_and_padded_logins_are_normalised(tmp_path):
    records, report = run(tmp_path, [sample(T0, {"s": ["  DaVe\t", "ERIN"]})])
    assert set(records) == {"dave", "erin"}
    assert report["invalid_entries"] == 0


@pytest.mark.parametrize("entry", ["", "   ", "bad-login", "no!", "x" * 26, "dé", 42, None])
def test_invalid_logins_are_dropped_and_counted(tmp_path, entry):
    records, report = run(tmp_path, [sample(T0, {"s": ["frank", entry]})])
    assert set(records) == {"frank"}
    assert report["invalid_entries"] == 1


def test_a_viewer_in_two_chats_in_the_same_sample(tmp_path):
    samples = [sample(at(0), {"s1": ["gina"], "s2": ["gina"]}),
               sample(at(1), {"s1": ["gina"]})]
    records, _ = run(tmp_path, samples)
    gina = records["gina"]
    assert gina["samples"] == 2 and gina["minutes"] == 10          # union, not the sum
    assert gina["streamers"]["s1"]["samples"] == 2
    assert gina["streamers"]["s2"] == {"samples": 1, "minutes": 5, "sessions": [[at(0), at(0)]]}
    assert (gina["first_ts"], gina["last_ts"]) == (at(0), at(1))


def test_samples_outside_the_day_are_quarantined_not_counted(tmp_path):
    samples = [sample(at(0), {"s": ["hugo"]}), sample(T0 - 1, {"s": ["hugo", "ivan"]}),
               sample(T0 + 86400, {"s": ["ivan"]})]
    records, report = run(tmp_path, samples)
    assert set(records) == {"hugo"}
    assert records["hugo"]["samples"] == 1
    assert report["files_quarantined"] == 2


def test_an_empty_day_gives_no_records(tmp_path):
    config = make_config(tmp_path)
    (config.samples_dir / DAY).mkdir(parents=True)
    report = process_day(config, DAY, LocalExecutor(log=lambda m: None), log=lambda m: None)
    assert stored_records(config, DAY) == {}
    assert report["viewers"] == 0 and report["samples_read"] == 0


def test_a_streamer_key_is_normalised_like_a_login(tmp_path):
    records, _ = run(tmp_path, [sample(T0, {"Streamer_A ": ["jo"]})])
    assert list(records["jo"]["streamers"]) == ["streamer_a"]


def test_minutes_follow_the_interval_setting(tmp_path):
    samples = [sample(T0 + i * 90, {"s": ["kim"]}) for i in range(3)]
    records, _ = run(tmp_path, samples, interval=90)
    assert records["kim"]["minutes"] == 4.5
    assert records["kim"]["streamers"]["s"]["sessions"] == [[T0, T0 + 180]]


def test_whole_records_match_the_reference(tmp_path):
    samples = [sample(at(0), {"a": ["u1", "u2"], "b": ["u2"]}),
               sample(at(1), {"a": ["u1"], "b": ["u2", "U3"]}),
               sample(at(4), {"a": ["u1", "u3"]}),
               sample(at(5), {"b": ["u1"]})]
    records, _ = run(tmp_path, samples)
    assert records == reference_viewer_days(samples, DAY)
