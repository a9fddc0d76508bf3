"""Results stay true: whatever order days were processed and analysed in, whatever was
processed again and whatever bot settings changed, every export equals a from-scratch
analysis of the same lake under the current settings, or says what to run (exit 3).

The from-scratch analysis copies the lake into a fresh data folder with a fresh SQLite
store and analyses every day at once, so the incremental runs (on SQLite and on FerretDB)
are compared with a run that never saw their history.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from jobs.analyse import analyse_command
from jobs.overlap import export_overlap
from jobs.process_day import process_command
from tests.results_support import analyse, exports, from_scratch
from tests.support import make_config
from tpdask.analysis.export import export_day_results, export_profiles
from tpdask.errors import JobError, StaleResultsError
from tpdask.process import lake
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceConfig, write_day
from tpdask.stores import open_store

DAYS = ["2022-08-01", "2022-08-02", "2022-08-03"]
SEEDS = [1, 1, 2]          # the same seed twice: viewers come back to their streamers
QUIET = dict(log=lambda m: None)
ROOT = Path(__file__).resolve().parent.parent


LONELY = [f"lonely_{i}" for i in range(10)]     # in the last samples of DAYS[1] only


@pytest.fixture(scope="module")
def raw_days(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("raw")
    days = {day: sorted(write_day(root, day, AudienceConfig(seed=seed, scale=0.002, gaps=True,
                                                             dirty=True)))
            for day, seed in zip(DAYS, SEEDS)}
    for path in days[DAYS[1]][-3:]:
        sample = orjson.loads(path.read_bytes())
        stream = next(iter(sample["streams"].values()))
        stream["chatters"] = stream["chatters"] + LONELY
        path.write_bytes(orjson.dumps(sample))
    return days


def put(config: Config, raw_days: dict[str, list[Path]], day: str, half: bool = False) -> None:
    """The day's samples (its first half only, when ``half``) as its only loose samples."""
    folder = config.samples_dir / day
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = sorted(raw_days[day])
    for p in paths[: len(paths) // 2] if half else paths:
        (folder / p.name).write_bytes(p.read_bytes())


def process(config: Config, raw_days, day: str, half: bool = False) -> None:
    put(config, raw_days, day, half)
    process_command(config, day, local=True, **QUIET)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, raw_days) -> dict[str, Config]:
    """Processed once for the module: every day whole ("whole"), and DAYS[1] processed
    again from its first half only ("half"). Tests copy their lake days from these."""
    whole = make_config(tmp_path_factory.mktemp("whole"))
    for day in DAYS:
        process(whole, raw_days, day)
    half = make_config(tmp_path_factory.mktemp("half"))
    process(half, raw_days, DAYS[1], half=True)
    return {"whole": whole, "half": half}


def publish_lake_day(config: Config, source: Config, day: str) -> None:
    """What `process` of ``day`` publishes, taken from a lake processed beforehand."""
    for table in lake.TABLES:
        target = lake.day_dir(config.lake_dir, table, day)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(lake.day_dir(source.lake_dir, table, day), target)


@pytest.fixture(params=["sqlite", "mongodb"])
def config(request, tmp_path) -> Config:
    store = request.getfixturevalue("mongo_database_uri") if request.param == "mongodb" else None
    return make_config(tmp_path, store=store)


def assert_true(config: Config, days: list[str], tmp: Path) -> None:
    got = exports(config, days, tmp / "got")
    expected = from_scratch(config, days, tmp)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


def test_a_backfill_of_an_earlier_day_updates_the_later_days(config, lakes, tmp_path):
    for day in DAYS[1:]:
        publish_lake_day(config, lakes["whole"], day)
        analyse(config, day)
    publish_lake_day(config, lakes["whole"], DAYS[0])
    with pytest.raises(StaleResultsError, match="an earlier day was processed"):
        export_day_results(config, "streamer_days", DAYS[1], str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
    report = analyse(config, DAYS[0])
    assert report["updated_days"] == DAYS[1:] and report["contributed_days"] == 1
    assert_true(config, DAYS, tmp_path)


def test_a_day_processed_again_with_other_samples(config, lakes, tmp_path):
    for day in DAYS:
        publish_lake_day(config, lakes["whole"], day)
    analyse(config, *DAYS)
    before = {doc["viewer"] for doc in exports(config, DAYS, tmp_path / "before")["profiles"]}
    publish_lake_day(config, lakes["half"], DAYS[1])
    for kind in ("bots", "streamer_days"):
        with pytest.raises(StaleResultsError, match="processed again"):
            export_day_results(config, kind, DAYS[1], str(tmp_path / "x"))
    with pytest.raises(StaleResultsError, match=f"tpdask analyse --since {DAYS[1]}"):
        export_overlap(config, DAYS[0], DAYS[2], 10, False, str(tmp_path / "x"))
    report = analyse(config, DAYS[1])
    assert report["updated_days"] == [DAYS[2]]
    assert report["profiles_deleted"] == len(LONELY)
    assert_true(config, DAYS, tmp_path)
    after = {doc["viewer"] for doc in exports(config, DAYS, tmp_path / "after")["profiles"]}
    assert before - after == set(LONELY)


def test_changed_bot_rules_apply_everywhere(config, lakes, tmp_path):
    for day in DAYS:
        publish_lake_day(config, lakes["whole"], day)
    analyse(config, *DAYS)
    profiles = exports(config, DAYS, tmp_path / "before")["profiles"]
    regular = max((p for p in profiles if p["bot"] is None), key=lambda p: p["minutes"])
    listed = make_config(config.data_dir.parent, store=config.store,
                         bot_list=f"{config.bot_list},{regular['viewer']}", bot_hours=10)
    with pytest.raises(StaleResultsError, match="bot settings"):
        export_profiles(listed, regular["viewer"], str(tmp_path / "x"))
    analyse(listed, DAYS[1])
    got = exports(listed, DAYS, tmp_path / "after")
    mine = next(p for p in got["profiles"] if p["viewer"] == regular["viewer"])
    assert "known" in mine["bot"]
    assert any(b["viewer"] == regular["viewer"] for day in DAYS for b in got["bots", day])
    assert_true(listed, DAYS, tmp_path)


def test_analysing_again_changes_nothing_and_reads_no_lake(config, lakes, tmp_path):
    for day in DAYS:
        publish_lake_day(config, lakes["whole"], day)
    analyse(config, *DAYS)
    first = exports(config, DAYS, tmp_path / "first")
    report = analyse(config, DAYS[2])
    assert report["contributed_days"] == 0 and report["updated_days"] == []
    assert report["profiles_written"] == 0 and report["profiles_deleted"] == 0
    assert exports(config, DAYS, tmp_path / "second") == first


# ---- failures that publish nothing ------------------------------------------------------

def stored(config: Config) -> dict:
    with open_store(config.store) as store:
        return {kind: list(store.iter_results(kind)) for kind in
                ("bots", "streamer_days", "profiles")}


@pytest.fixture(scope="module")
def analysed_once(tmp_path_factory, lakes) -> Config:
    """The whole lake with its store (and so the process runs' ledger), DAYS[:2] analysed."""
    config = make_config(tmp_path_factory.mktemp("analysed"))
    shutil.copytree(lakes["whole"].data_dir, config.data_dir)
    analyse(config, *DAYS[:2])
    return config


@pytest.fixture
def analysed(tmp_path, analysed_once) -> Config:
    config = make_config(tmp_path)
    shutil.copytree(analysed_once.data_dir, config.data_dir)
    return config


def part(config: Config, table: str, day: str) -> Path:
    return sorted((config.lake_dir / table / f"day={day}").glob("*.parquet"))[0]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [
    ("viewer_days", "missing"), ("viewer_days", "truncated"), ("streams", "truncated"),
    ("times", "truncated"), ("streams", "missing")])
def test_a_damaged_lake_day_fails_in_one_line_and_publishes_nothing(analysed, damage):
    table, how = damage
    before = stored(analysed)
    path = part(analysed, table, DAYS[2])
    path.unlink() if how == "missing" else truncate(path)
    with pytest.raises(JobError) as caught:
        analyse(analysed, DAYS[2])
    message = str(caught.value)
    assert "\n" not in message and f"{table}/day={DAYS[2]}/{path.name}" in message
    assert f"tpdask process --day {DAYS[2]}" in message
    assert stored(analysed) == before


def test_the_command_line_says_it_in_one_line(analysed):
    part(analysed, "viewer_days", DAYS[2]).unlink()
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(analysed.data_dir), "analyse",
         "--day", DAYS[2], "--local"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is missing" in errors[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("what", ["state", "contributions"])
def test_corrupt_analyser_files_are_rebuilt_from_the_lake(analysed, tmp_path, what):
    folder = analysed.lake_dir / "analysis" / ("state" if what == "state" else "contrib")
    victim = sorted(folder.rglob("*.parquet"))[3]
    truncate(victim)
    said: list[str] = []
    analyse_command(analysed, [DAYS[2]], local=True, log=said.append)
    assert any(("rebuilt" if what == "state" else "computing them again") in line
               for line in said), said
    assert_true(analysed, DAYS, tmp_path)


# ---- process and analyse of one day at once ----------------------------------------------

def tpdask(config: Config, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tpdask", "--data_dir", str(config.data_dir),
                             *args], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("offset", [0.0, 0.5, 2.0])
def test_process_and_analyse_of_one_day_at_once(analysed, raw_days, tmp_path, offset):
    """Each runs whole or refuses at once naming the other; the results match the lake run
    the analysis read (the one it recorded), and are served only while that run is the
    day's: otherwise the export says what to run."""
    put(analysed, raw_days, DAYS[1], half=True)
    first = tpdask(analysed, "process", "--day", DAYS[1], "--local")
    time.sleep(offset)
    second = tpdask(analysed, "analyse", "--day", DAYS[1], "--local")
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in (first, second)]
    for code, err in outcomes:
        assert code == 0 or "is being processed by pid" in err or "is being analysed by pid" in err, err
    if outcomes[1][0] != 0:                            # analyse refused: it runs once process is done
        analyse(analysed, DAYS[1])
    try:
        got = exports(analysed, DAYS[:2], tmp_path / "got")
    except StaleResultsError:                          # analysed the old run, then process published
        analyse(analysed, DAYS[1])
        got = exports(analysed, DAYS[:2], tmp_path / "got")
    assert got == from_scratch(analysed, DAYS[:2], tmp_path)


def test_the_website_shows_no_result_whose_inputs_changed(analysed, lakes):
    """After DAYS[1] is processed again, the site leaves its results out (and says so)
    until analyse runs; then it shows them again."""
    from tpdask.stores import open_store as open_
    from tpdask.web.data import SiteData
    from tpdask.web.pseudonyms import Pseudonyms

    publish_lake_day(analysed, lakes["half"], DAYS[1])
    with open_(analysed.store) as store:
        data = SiteData(analysed, store, Pseudonyms(b"k" * 32))
        fresh = data.freshness()
        assert fresh["stale_days"] == [DAYS[1]] and fresh["profiles"] and fresh["any"]
        assert DAYS[1] not in data.bot_days() and DAYS[0] in data.bot_days()
        some = data.streamers()[0]["streamer"]
        assert all(d["day"] != DAYS[1] for d in data.streamer(some)["days"])
        assert not data.dashboard(admin=False)["daily"][1]["analysed"]
    analyse(analysed, DAYS[1])
    with open_(analysed.store) as store:
        data = SiteData(analysed, store, Pseudonyms(b"k" * 32))
        assert not data.freshness()["any"] and DAYS[1] in data.bot_days()
