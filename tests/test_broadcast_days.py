"""The per-day broadcast results `analyse` keeps for the website (broadcast_days,
broadcast_curves, game_days): merged over a range they give the Insight contract's
broadcasts of that range; game audiences match a plain count from the viewer-days; they
follow their days and neighbours as every other result does."""

from __future__ import annotations

import shutil

import pytest

from jobs.analyse import analyse_command
from jobs.insight import broadcasts, flows
from jobs.process_day import process_command
from tests.support import make_config
from tests.insight_support import DAYS, MIN_VIEWERS, MODEL, QUIET, built, close, raw  # noqa: F401
from tpdask.analysis import broadcast_days as bd
from tpdask.analysis.basis import inputs_of
from tpdask.analysis.broadcasts import rate
from tpdask.analysis.plan import lake_runs, plan_analysis
from tpdask.simulator.audience import AudienceModel
from tpdask.stores import open_store

CONTRACT = ("streamer", "started_at", "first_ts", "last_ts", "samples", "minutes_live",
            "avg_viewer_count", "peak_viewer_count", "avg_chatters", "peak_chatters",
            "hours_watched", "chatter_hours", "main_game", "games", "share", "baseline",
            "suspect")


def day_docs(config, kind: str, days: list[str]) -> list[dict]:
    with open_store(config.store) as store:
        return [doc for day in days for _, _, doc in store.iter_results(kind, day)]


def merged(config, days: list[str]) -> list[dict]:
    docs = bd.merge_broadcasts(day_docs(config, bd.DAYS_KIND, days), config.interval)
    rate(docs, config.health_min_viewers, config.health_ratio)
    return list(docs.values())


@pytest.mark.parametrize("span", [(0, 2), (1, 1), (0, 1)])
def test_days_merged_give_the_contract_s_broadcasts_of_the_range(built, span):
    days = DAYS[span[0]:span[1] + 1]
    got = [{k: d[k] for k in CONTRACT} for d in merged(built, days)]
    expected = [{k: d[k] for k in CONTRACT} for d in broadcasts(built, days[0], days[-1], **QUIET)]
    close(got, expected)


def test_the_view_botted_channels_are_the_suspects_of_the_merged_range(built):
    botted = set(AudienceModel(MODEL, DAYS[0]).view_botted)
    assert {d["streamer"] for d in merged(built, DAYS) if d["suspect"]} == botted


def test_gone_counts_and_flows_per_broadcast(built):
    assert not any(d["gone_share"] for d in merged(built, DAYS)), \
        "analysed before any account was checked"
    analyse_command(built, DAYS, local=True, **QUIET)      # the statuses are there now
    docs = merged(built, DAYS)
    assert any(d["gone_share"] for d in docs) and all(d["statuses"] for d in docs)
    exported = flows(built, DAYS[0], DAYS[-1], 15, **QUIET)
    went: dict[str, int] = {}
    for d in docs:
        for to, n in d["went"].items():
            went[d["streamer"]] = went.get(d["streamer"], 0) + n
    by_from: dict[str, int] = {}
    for f in exported:
        by_from[f["from"]] = by_from.get(f["from"], 0) + f["viewers"]
    # per day, bots are those of the day and the next, not of the whole range: close, and
    # never more leavers going somewhere than the range's flows count
    assert went.keys() == by_from.keys()
    for streamer, n in by_from.items():
        assert 0.9 * n <= went[streamer] <= n, streamer
    came = sum(n for d in docs for n in d["came"].values())
    assert 0.8 * sum(went.values()) <= came <= sum(went.values())


def test_curves_hold_every_sample_of_each_broadcast(built):
    days = {d["streamer"] + " " + d["started_at"]: d for d in day_docs(built, bd.DAYS_KIND, DAYS[1:2])}
    curves = {c_key: c for c_key, c in zip(days, day_docs(built, bd.CURVES_KIND, DAYS[1:2]))}
    assert curves.keys() == days.keys()
    for key, curve in curves.items():
        doc = days[key]
        assert len(curve["ts"]) == doc["samples"] == len(curve["chatters"])
        assert curve["ts"][0] == doc["first_ts"] and curve["ts"][-1] == doc["last_ts"]
        assert sum(v or 0 for v in curve["viewers"]) == doc["viewer_sum"]
        assert curve["games"][0][0] == doc["first_ts"]


def test_game_audiences_match_a_count_from_the_viewer_days(built):
    day = DAYS[1]
    with open_store(built.store) as store:
        bots = {key for _, key, _ in store.iter_results("bots", day)}
        records = list(store.iter_viewer_days(day))
    rows = bd.day_rows(__import__("tpdask.analysis.streams", fromlist=["x"]).read_streams(
        built.lake_dir, day))
    main = dict(bd.main_games(rows))
    games_of: dict[str, set] = {}
    for r in records:
        if r["viewer"] in bots:
            continue
        minutes: dict[str, float] = {}
        for streamer, s in r["streamers"].items():
            if streamer != r["viewer"] and streamer in main:
                minutes[main[streamer]] = minutes.get(main[streamer], 0) + s["minutes"]
        games_of[r["viewer"]] = {g for g, m in minutes.items() if m >= bd.GAME_MIN_MINUTES}
    expected_viewers: dict[str, int] = {}
    expected_shared: dict[tuple[str, str], int] = {}
    for games in games_of.values():
        for g in games:
            expected_viewers[g] = expected_viewers.get(g, 0) + 1
            for h in games - {g}:
                expected_shared[g, h] = expected_shared.get((g, h), 0) + 1
    docs = day_docs(built, bd.GAMES_KIND, [day])
    assert {d["game"]: d["viewers"] for d in docs} == expected_viewers
    assert {(d["game"], h): n for d in docs for h, n in d["shared"].items()} == expected_shared
    assert {d["all"] for d in docs} == {sum(1 for g in games_of.values() if g)}
    viewers, shared, everyone = bd.merge_games(day_docs(built, bd.GAMES_KIND, DAYS))
    assert everyone == sum(d["all"] for day in DAYS
                           for d in day_docs(built, bd.GAMES_KIND, [day])[:1])


def test_a_day_processed_after_its_neighbour_makes_the_neighbour_again(tmp_path, raw):  # noqa: F811
    config = make_config(tmp_path, health_min_viewers=MIN_VIEWERS)

    def put(day: str) -> None:
        folder = config.samples_dir / day
        folder.mkdir(parents=True)
        for p in raw[day]:
            shutil.copy(p, folder / p.name)
        process_command(config, day, local=True, **QUIET)

    put(DAYS[0])
    analyse_command(config, DAYS[:1], local=True, **QUIET)
    alone = {d["started_at"]: d for d in day_docs(config, bd.DAYS_KIND, DAYS[:1])}
    put(DAYS[1])
    with open_store(config.store) as store:
        plan = plan_analysis(config, store, [], inputs_of(config, lake_runs(config)))
        assert plan.broadcasts == (DAYS[0],) and plan.report == ()
    report = analyse_command(config, [DAYS[1]], local=True, **QUIET)
    assert report["broadcast_days"] == 2 and report["updated_days"] == []
    after = day_docs(config, bd.DAYS_KIND, DAYS[:1])
    # the late streams go on after midnight: alone, day 1 could not see them end
    assert sum(d["leavers"] for d in after) > sum(d["leavers"] for d in alone.values())
    close(merged(config, DAYS[:2]), [d for d in merged(config, DAYS[:2])])
    with open_store(config.store) as store:
        plan = plan_analysis(config, store, [], inputs_of(config, lake_runs(config)))
        assert plan.broadcasts == ()
