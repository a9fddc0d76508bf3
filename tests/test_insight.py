"""Insight II against its plain reference (tpdask/analysis/insight_reference.py), written
from the contract alone: broadcasts with stream health and gone_share, audience flows,
and the view-bot signal on generated days with view-botted channels; on both stores."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import orjson
import pytest

from jobs.analyse import analyse_command
from jobs.insight import broadcasts, export_flows, flows
from jobs.process_day import process_command
from tests.insight_support import (DAYS, MIN_VIEWERS, MODEL, QUIET, built, close,  # noqa: F401
                                   raw, samples, seed_statuses)
from tests.support import make_config
from tpdask.analysis.insight_reference import reference_broadcasts, reference_flows
from tpdask.cli.main import main
from tpdask.errors import StaleResultsError
from tpdask.settings import Config
from tpdask.simulator.audience import AudienceModel
from tpdask.stores import open_store

@pytest.fixture(scope="module")
def on_mongodb(built, mongo_uri) -> Iterator[Config]:
    """The built folder with a MongoDB store: the same lake and contributions, the
    statuses written there (what insight reads of the store)."""
    import uuid

    import pymongo

    from tests.conftest import with_database

    database = f"tpdask_test_{uuid.uuid4().hex[:12]}"
    uri = with_database(mongo_uri, database)
    seed_statuses(uri, built)
    yield make_config(built.data_dir.parent, store=uri, health_min_viewers=MIN_VIEWERS)
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    client.drop_database(database)
    client.close()


@pytest.fixture(params=["sqlite", "mongodb"])
def config(request, built) -> Config:
    return built if request.param == "sqlite" else request.getfixturevalue("on_mongodb")


def test_broadcasts_match_the_reference(config, raw):
    with open_store(config.store) as store:
        known = {s["viewer"]: s["status"] for s in store.iter_statuses()}
    got = broadcasts(config, DAYS[0], DAYS[2], **QUIET)
    expected = reference_broadcasts(samples(raw), DAYS[0], DAYS[2], statuses=known,
                                    min_viewers=MIN_VIEWERS)
    assert any(d["gone_share"] for d in expected) and any(d["baseline"] for d in expected)
    close(got, expected)


def test_a_broadcast_over_midnight_is_one_broadcast(built):
    docs = broadcasts(built, DAYS[0], DAYS[1], **QUIET)
    crossing = [d for d in docs if d["first_ts"] < 1659398400 <= d["last_ts"]]   # 08-02 00:00
    assert crossing, "the model's late streams run past midnight"
    assert all(d["started_at"] < "2022-08-02" for d in crossing)


def test_exactly_the_view_botted_channels_are_suspect(built):
    botted = set(AudienceModel(MODEL, DAYS[0]).view_botted)
    docs = broadcasts(built, DAYS[0], DAYS[2], **QUIET)
    rated = [d for d in docs if d["baseline"] is not None]
    assert {d["streamer"] for d in rated} & botted == botted, "the botted channels are rated"
    assert {d["streamer"] for d in docs if d["suspect"]} == botted
    assert all(d["suspect"] for d in rated if d["streamer"] in botted)


@pytest.mark.parametrize("within", [15, 5, 60])
def test_flows_match_the_reference(config, raw, within):
    got = flows(config, DAYS[0], DAYS[2], within, **QUIET)
    expected = reference_flows(samples(raw), DAYS[0], DAYS[2], within=within)
    assert expected, "leavers go somewhere"
    close(got, expected)


def test_flows_over_one_day_and_across_midnight(built, raw):
    for since, until in ((DAYS[1], DAYS[1]), (DAYS[0], DAYS[1])):
        close(flows(built, since, until, 60, **QUIET),
              reference_flows(samples(raw), since, until, within=60))


def test_within_is_a_positive_number_of_minutes_up_to_an_hour(built, capsys):
    for bad in ("0", "-5", "61", "abc"):
        code = main(["--data_dir", str(built.data_dir), "export", "flows", "--since", DAYS[0],
                     "--until", DAYS[1], "--within", bad])
        assert code == 2, bad
    assert "--within" in capsys.readouterr().err
    with pytest.raises(Exception):
        export_flows(built, DAYS[0], DAYS[1], 120, None)


def test_the_export_commands_write_the_contracts_lines(built, tmp_path, capsys):
    out = tmp_path / "b.jsonl"
    assert main(["--data_dir", str(built.data_dir), "--health_min_viewers", str(MIN_VIEWERS),
                 "export", "broadcasts", "--since", DAYS[0], "--until", DAYS[0],
                 "--out", str(out)]) == 0
    first = orjson.loads(out.read_bytes().splitlines()[0])
    assert list(first) == ["streamer", "started_at", "first_ts", "last_ts", "samples",
                           "minutes_live", "avg_viewer_count", "peak_viewer_count",
                           "avg_chatters", "peak_chatters", "hours_watched", "chatter_hours",
                           "main_game", "games", "share", "baseline", "suspect", "gone_share"]
    assert main(["--data_dir", str(built.data_dir), "export", "flows", "--since", DAYS[0],
                 "--until", DAYS[2]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and list(orjson.loads(lines[0])) == ["from", "to", "viewers", "share"]


def test_kept_periods_follow_a_day_processed_again(tmp_path, raw):
    """A kept period is made again by the next analyse, as the analyser's results are."""
    config = make_config(tmp_path, health_min_viewers=MIN_VIEWERS)
    for day in DAYS[:2]:
        folder = config.samples_dir / day
        folder.mkdir(parents=True)
        for p in raw[day]:
            shutil.copy(p, folder / p.name)
        process_command(config, day, local=True, **QUIET)
    analyse_command(config, DAYS[:2], local=True, **QUIET)
    broadcasts(config, DAYS[0], DAYS[1], **QUIET)
    flows(config, DAYS[0], DAYS[1], 15, **QUIET)
    for p in sorted(raw[DAYS[1]])[len(raw[DAYS[1]]) // 2:]:
        (config.samples_dir / DAYS[1] / p.name).unlink()
    process_command(config, DAYS[1], local=True, **QUIET)
    with pytest.raises(StaleResultsError):
        flows(config, DAYS[0], DAYS[1], 15, **QUIET)
    report = analyse_command(config, [DAYS[1]], local=True, **QUIET)
    assert report["insights_updated"] == 2
    half = {DAYS[0]: samples(raw)[DAYS[0]],
            DAYS[1]: sorted(samples(raw)[DAYS[1]], key=lambda s: s["ts"])[
                : len(raw[DAYS[1]]) // 2]}
    with open_store(config.store) as store:
        kept = [d for _, _, d in store.iter_results("flows", f"{DAYS[0]}..{DAYS[1]}:within=15")]
        kept_b = [d for _, _, d in store.iter_results("broadcasts", f"{DAYS[0]}..{DAYS[1]}")]
    close(kept, reference_flows(half, DAYS[0], DAYS[1]))
    close(kept_b, reference_broadcasts(half, DAYS[0], DAYS[1], min_viewers=MIN_VIEWERS))
