"""The analyser against the plain reference of the analytics contract, on generated days.

Days are processed first, then analysed one by one in a shuffled order, all at once on a
Dask cluster of two worker processes, again (nothing changes), and after a day was
processed again with other samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jobs.analyse import analyse_command as analyse
from jobs.overlap import overlap
from jobs.process_day import process_command as process
from tests.support import ANALYSIS_DAYS as DAYS
from tests.support import ROOT, copy_data_folder, make_config, processed, samples_of
from tpdask.analysis.reference import (reference_bots, reference_overlap, reference_profiles,
                                       reference_streamer_days)
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store

SEEDS = [1, 1, 2]          # the same seed twice: viewers come back to their streamers
QUIET = dict(log=lambda m: None)


@pytest.fixture(scope="module")
def raw_days(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("raw")
    return {day: write_day(root, day, AudienceConfig(seed=seed, scale=0.002, gaps=True,
                                                      dirty=True))
            for day, seed in zip(DAYS, SEEDS)}


@pytest.fixture(scope="module")
def processed_days(tmp_path_factory, raw_days):
    """The three days processed (SQLite store), once for the module: tests take a copy."""
    return processed(tmp_path_factory.mktemp("processed"), raw_days)


def results(config, kind: str, scope: str | None = None) -> list[dict]:
    with open_store(config.store) as store:
        return [doc for _, _, doc in store.iter_results(kind, scope)]


def assert_same(got: list[dict], expected: list[dict]) -> None:
    """Equal documents, floats to 1e-9 (as the contract's exports are checked)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.keys() == e.keys(), (g, e)
        for key in e:
            assert _close(g[key], e[key]), (key, g, e)


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.fixture(scope="module")
def analysed_one_by_one(tmp_path_factory, processed_days):
    config = copy_data_folder(processed_days, tmp_path_factory.mktemp("one"))
    for day in (DAYS[2], DAYS[0], DAYS[1]):
        analyse(config, [day], local=True, **QUIET)
    return config


def test_bots_per_day_match_the_reference(analysed_one_by_one, raw_days):
    expected = reference_bots(samples_of(raw_days))
    assert expected, "the generated days have bots"
    got = [doc for day in DAYS for doc in results(analysed_one_by_one, "bots", day)]
    assert got == expected


@pytest.mark.parametrize("day", DAYS)
def test_streamer_days_match_the_reference(analysed_one_by_one, raw_days, day):
    expected = reference_streamer_days(samples_of(raw_days), day)
    assert any(d["returning_viewers"] for d in expected) or day != DAYS[1]
    assert_same(results(analysed_one_by_one, "streamer_days", day), expected)


def test_profiles_match_the_reference(analysed_one_by_one, raw_days):
    assert_same(results(analysed_one_by_one, "profiles"), reference_profiles(samples_of(raw_days)))


@pytest.mark.parametrize("bots", [False, True])
def test_overlap_matches_the_reference(analysed_one_by_one, raw_days, bots):
    docs, groups = overlap(analysed_one_by_one, DAYS[0], DAYS[1], min_minutes=10, bots=bots,
                           **QUIET)
    assert_same(docs, reference_overlap(samples_of(raw_days), DAYS[0], DAYS[1], 10, bots))
    assert set(groups) == {d["a"] for d in docs} | {d["b"] for d in docs}


@pytest.mark.slow
def test_all_at_once_on_dask_gives_the_same_results(tmp_path, analysed_one_by_one,
                                                     processed_days):
    config = copy_data_folder(processed_days, tmp_path)
    analyse(config, DAYS, workers=2, **QUIET)
    for kind in ("bots", "streamer_days", "profiles"):
        assert results(config, kind) == results(analysed_one_by_one, kind)


def test_analysing_a_day_again_changes_nothing(tmp_path, processed_days):
    config = copy_data_folder(processed_days, tmp_path)
    analyse(config, DAYS, local=True, **QUIET)
    before = {kind: results(config, kind) for kind in ("bots", "streamer_days", "profiles")}
    state = sorted((p.name, p.read_bytes()) for p in (config.lake_dir / "analysis" / "state")
                   .rglob("*.parquet"))
    report = analyse(config, [DAYS[1]], local=True, **QUIET)
    assert report["profiles_written"] == 0
    assert {kind: results(config, kind) for kind in before} == before
    assert sorted((p.name, p.read_bytes()) for p in (config.lake_dir / "analysis" / "state")
                  .rglob("*.parquet")) == state


def test_a_day_processed_again_is_taken_into_the_profiles(tmp_path, processed_days, raw_days):
    config = copy_data_folder(processed_days, tmp_path)
    analyse(config, DAYS, local=True, **QUIET)
    fewer = dict(raw_days)
    fewer[DAYS[1]] = raw_days[DAYS[1]][::2]
    folder = config.samples_dir / DAYS[1]
    for p in raw_days[DAYS[1]][1::2]:
        (folder / p.name).unlink()
    process(config, DAYS[1], local=True, **QUIET)
    report = analyse(config, [DAYS[2]], local=True, **QUIET)
    assert report["rebuilt_buckets"] > 0
    assert_same(results(config, "profiles"), reference_profiles(samples_of(fewer)))


@pytest.mark.slow
def test_a_killed_analyse_is_finished_by_the_next(tmp_path, processed_days, raw_days):
    """SIGKILL while the buckets merge: the state keeps the old buckets, nothing half-stored
    is taken for done, and the next run leaves exactly the reference's profiles."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config = copy_data_folder(processed_days, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir), "analyse",
         "--since", DAYS[0], "--until", DAYS[2], "--local"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(config.scratch_dir.glob("analyse-*/profiles-b*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, "no bucket was merged"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    analyse(config, DAYS, local=True, **QUIET)
    assert_same(results(config, "profiles"), reference_profiles(samples_of(raw_days)))
    assert not list(config.scratch_dir.glob("analyse-*"))
    state = config.lake_dir / "analysis" / "state"
    assert sorted(p.name for p in state.iterdir()) == [f"bucket={b:03d}" for b in range(16)]


@pytest.mark.slow
def test_on_the_mongodb_store_too(tmp_path, raw_days, mongo_database_uri):
    config = processed(tmp_path, raw_days, store=mongo_database_uri)
    analyse(config, DAYS, workers=2, **QUIET)
    samples = samples_of(raw_days)
    assert_same(results(config, "profiles"), reference_profiles(samples))
    assert_same(results(config, "streamer_days", DAYS[1]),
                reference_streamer_days(samples, DAYS[1]))
    assert results(config, "bots", DAYS[2]) == [b for b in reference_bots(samples)
                                                 if b["day"] == DAYS[2]]


def test_a_second_analyse_on_the_same_data_folder_refuses_to_start(tmp_path):
    from jobs.analyse import analyse_lock
    from tpdask.errors import JobError

    config = make_config(tmp_path)
    with analyse_lock(config):
        with pytest.raises(JobError, match="another `tpdask analyse` is running"):
            with analyse_lock(config):
                pass
