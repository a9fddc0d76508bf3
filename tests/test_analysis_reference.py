"""The analytics contract of docs/contracts.md, sentence by sentence, on hand-made days.

Every expected value is computed by hand in a comment next to it, from the two days
below. The module under test is tpdask/analysis/reference.py, the oracle of the fast
analyser; its docstring lists the readings these tests pin down.
"""

from __future__ import annotations

import pytest

from tpdask.analysis.reference import (KNOWN_BOTS, reference_bots, reference_overlap,
                                       reference_profiles, reference_streamer_days)

D1, D2, D3 = "2022-08-01", "2022-08-02", "2022-08-03"
T1 = 1659312000                  # 2022-08-01T00:00:00Z
T2 = T1 + 86400                  # 2022-08-02T00:00:00Z
STEP = 300                       # the default interval; one sample = 5 minutes


def listing(chatters: list, viewer_count: object = 10, game: object = "g") -> dict:
    """One stream of a sample (contract v1)."""
    return {"user_id": "1", "viewer_count": viewer_count, "title": "t", "game_name": game,
            "language": "fr", "started_at": "2022-08-01T00:00:00Z", "chatters": chatters}


def sample(ts: int, streams: dict[str, dict]) -> dict:
    return {"version": 1, "ts": ts, "source": "sim", "streams": streams}


# Day 1: k = 0..5 at 00:00, 00:05, … 00:25 UTC.
ALPHA_1 = [[" alice", "bob", "carol", " NightBot ", "alpha", "ALICE ", "bad-login"],
           ["alice", "bob", "carol", "nightbot", "alpha", "beta", 42],
           ["alice", "carol", "nightbot", "alpha"],
           ["alice", "carol", "nightbot", "alpha"],
           ["carol", "nightbot", "alpha"],
           ["carol", "nightbot", "alpha", "erin"]]
ALPHA_1_COUNTS = [100, 120, 110, 90, 80, 100]
ALPHA_1_GAMES = ["Chess", "Chess", "Chess", "Just Chatting", "Just Chatting", "Just Chatting"]
BETA_1 = [["bob", "beta"], ["bob"], ["bob", "carol"], ["bob"], ["alice"], ["alice", "erin"]]
GAMMA_1 = {2: ["carol"], 3: ["dave", ""], 4: ["bad-login"], 5: ["erin"]}   # listed k2..k5
DELTA_1 = {2: ["carol"]}                                                   # listed k0..k5


def day1() -> list[dict]:
    samples = []
    for k in range(6):
        streams = {"alpha": listing(ALPHA_1[k], ALPHA_1_COUNTS[k], ALPHA_1_GAMES[k]),
                   "Beta": listing(BETA_1[k], 50, "Minecraft"),
                   "delta": listing(DELTA_1.get(k, []), 7, "Retro")}
        if k in GAMMA_1:
            streams["gamma"] = listing(GAMMA_1[k], 10 * (k - 1), "Art")
        if k == 0:
            streams["solo"] = listing(["solo"], 3, "IRL")
        samples.append(sample(T1 + k * STEP, streams))
    samples.append(sample(T2 + 60, {"alpha": listing(["zed"])}))    # not of this day: ignored
    return samples


def day2() -> list[dict]:
    """k0 00:00, k1 00:05, k2 13:00 UTC."""
    return [sample(T2, {"alpha": listing(["alice", "alpha", "frank"], 200, "Chess"),
                        "beta": listing(["bob"], 60, "Minecraft")}),
            sample(T2 + STEP, {"alpha": listing(["alice", "alpha", "frank"], 200, "Chess"),
                               "beta": listing(["bob", "carol"], 60, "Minecraft")}),
            sample(T2 + 13 * 3600, {"alpha": listing(["alpha"], 200, "Chess"),
                                    "beta": listing(["alice", "bob"], 60, "Minecraft")})]


@pytest.fixture
def lake() -> dict[str, list[dict]]:
    return {D1: day1(), D2: day2()}


def by(rows: list[dict], key: str) -> dict[str, dict]:
    return {r[key]: r for r in rows}


# ---- Bots ------------------------------------------------------------------------------

def test_known_bots_is_the_shipped_list():
    # "default: nightbot, streamelements, moobot, streamlabs, fossabot, wizebot,
    #  soundalerts, commanderroot, sery_bot, kofistreambot"
    assert KNOWN_BOTS == ("nightbot", "streamelements", "moobot", "streamlabs", "fossabot",
                          "wizebot", "soundalerts", "commanderroot", "sery_bot",
                          "kofistreambot")


def test_bots_export_by_day_then_viewer(lake):
    # `tpdask export bots --day D` → {"viewer", "day", "reasons": [...]}, by viewer.
    # carol is in alpha, beta, gamma and delta at k2 of day 1: 4 > 3 → concurrent.
    # " NightBot " normalises to nightbot, on the list → known. erin is in 3 chats at k5
    # of day 1: not more than 3 → not a bot. Day 2 flags nobody (carol: 1 chat).
    assert reference_bots(lake) == [
        {"viewer": "carol", "day": D1, "reasons": ["concurrent"]},
        {"viewer": "nightbot", "day": D1, "reasons": ["known"]},
    ]


def test_concurrent_counts_more_than_bot_concurrent_streams(lake):
    # "concurrent when at some k the viewer is in the chatters of more than
    #  bot_concurrent streams": with bot_concurrent=2, erin's 3 chats at k5 flag her too.
    flagged = {(r["viewer"], r["day"]) for r in reference_bots(lake, bot_concurrent=2)}
    assert ("erin", D1) in flagged and ("bob", D1) not in flagged    # bob: 2 chats at k0


def test_always_on_threshold_is_inclusive():
    # "always_on when the day's samples × interval ≥ bot_hours × 3600":
    # 240 samples × 300 s = 72000 s = 20 h → flagged; 239 samples → not.
    lurker = [sample(T1 + k * STEP, {"s": listing(["lurker"] if k < 240 else ["late"])})
              for k in range(241)]
    short = [sample(T1 + k * STEP, {"s": listing(["lurker"])}) for k in range(239)]
    assert reference_bots({D1: lurker}) == [{"viewer": "lurker", "day": D1,
                                             "reasons": ["always_on"]}]
    assert reference_bots({D1: short}) == []


def test_always_on_counts_the_union_not_the_sum():
    # "the day's samples" are the viewer's samples = |∪s P(v,s)|: 2 chats at one k is
    # 1 sample. With bot_hours = 600/3600 (10 min): 2 samples × 300 = 600 s reaches it.
    one_k = [sample(T1, {"a": listing(["u"]), "b": listing(["u"])})]
    two_k = one_k + [sample(T1 + STEP, {"a": listing(["u"])})]
    assert reference_bots({D1: one_k}, bot_hours=600 / 3600) == []
    assert reference_bots({D1: two_k}, bot_hours=600 / 3600)[0]["reasons"] == ["always_on"]


def test_reasons_are_sorted():
    # "per viewer and day, reasons sorted": a listed bot in 4 chats for 2 samples.
    chats = {s: listing(["StreamElements"]) for s in ("a", "b", "c", "d")}
    days = {D1: [sample(T1, chats), sample(T1 + STEP, chats)]}
    assert reference_bots(days, bot_hours=0.1) == [
        {"viewer": "streamelements", "day": D1,
         "reasons": ["always_on", "concurrent", "known"]}]


def test_the_known_list_is_a_setting(lake):
    # "`known` when the login is on the shipped list (default: …)"
    rows = reference_bots(lake, known=("alice",))
    assert {r["viewer"] for r in rows if r["reasons"] == ["known"]} == {"alice"}


# ---- Streamer-day statistics -----------------------------------------------------------

def test_streamer_days_of_day_one(lake):
    rows = reference_streamer_days(lake, D1)
    # "by streamer, for every streamer with a record that day": solo's only record is its
    # own login, and still gives a row; "Beta" is normalised like a login.
    assert [r["streamer"] for r in rows] == ["alpha", "beta", "delta", "gamma", "solo"]
    alpha, beta, delta, gamma, solo = rows
    assert alpha == {
        "streamer": "alpha", "day": D1,
        "samples": 6,                 # every k has a login in alpha's chat
        # "distinct non-bot viewers": alice, bob, beta, erin; carol and nightbot are bots,
        # and "a streamer's own login in its own chat is never part of its audience".
        "viewers": 4,
        "minutes": 40,                # (alice 4 + bob 2 + beta 1 + erin 1) samples × 5
        # "valid distinct logins listed, everyone counted": k0 has alice (twice, once as
        # "ALICE "), bob, carol, nightbot, alpha = 5 (bad-login dropped); then 6 (beta
        # joins, 42 dropped), 4, 4, 3, 4.
        "avg_chatters": 26 / 6, "peak_chatters": 6,
        "new_viewers": 4, "returning_viewers": 0,          # no earlier day in the lake
        "avg_viewer_count": 600 / 6, "peak_viewer_count": 120,
        "games": {"Chess": 3, "Just Chatting": 3},          # the game changed at k3
    }
    # beta: viewers bob (4 samples), alice (2), erin (1) = 35 min; carol is a bot, and
    # beta's own login at k0 is left out of the audience but counted among the chatters
    # (k0: bob, beta = 2; then 1, 2, 1, 1, 2).
    assert (beta["viewers"], beta["minutes"], beta["samples"]) == (3, 35, 6)
    assert (beta["avg_chatters"], beta["peak_chatters"]) == (9 / 6, 2)
    assert (beta["avg_viewer_count"], beta["peak_viewer_count"], beta["games"]) == \
        (50.0, 50, {"Minecraft": 6})
    # delta is listed at every k but has a login only at k2 (carol, a bot):
    # "samples at which at least one login is in its chat" = 1, while viewer counts and
    # games are "over the samples that list the stream" = 6.
    assert delta == {"streamer": "delta", "day": D1, "samples": 1, "viewers": 0,
                     "minutes": 0, "avg_chatters": 1.0, "peak_chatters": 1,
                     "new_viewers": 0, "returning_viewers": 0, "avg_viewer_count": 7.0,
                     "peak_viewer_count": 7, "games": {"Retro": 6}}
    # gamma is listed at k2..k5; k4 lists only "bad-login", so it is not one of its samples
    # but does list the stream (viewer counts 10, 20, 30, 40).
    assert gamma == {"streamer": "gamma", "day": D1, "samples": 3, "viewers": 2,
                     "minutes": 10, "avg_chatters": 1.0, "peak_chatters": 1,
                     "new_viewers": 2, "returning_viewers": 0, "avg_viewer_count": 25.0,
                     "peak_viewer_count": 40, "games": {"Art": 4}}
    assert (solo["viewers"], solo["minutes"], solo["samples"], solo["peak_chatters"]) == \
        (0, 0, 1, 1)


def test_new_and_returning_viewers(lake):
    alpha, beta = reference_streamer_days(lake, D2)
    # alpha on day 2: alice (2 samples) and frank (2); alpha itself left out.
    # "new_viewers (of viewers, those with no record with this streamer on an earlier day
    #  in the lake)": alice watched alpha on day 1, frank did not.
    assert (alpha["viewers"], alpha["minutes"]) == (2, 20)
    assert (alpha["new_viewers"], alpha["returning_viewers"]) == (1, 1)
    # k2 (13:00) has only alpha's own login: still a sample, 1 chatter ("everyone counted").
    assert (alpha["samples"], alpha["avg_chatters"], alpha["peak_chatters"]) == (3, 7 / 3, 3)
    # beta on day 2: bob (3), alice (1), carol (1). carol is not flagged on day 2 and the
    # period of a day's export is that day, so she counts; all three had a record with
    # beta on day 1 (carol while a bot) → returning.
    assert (beta["viewers"], beta["minutes"]) == (3, 25)
    assert (beta["new_viewers"], beta["returning_viewers"]) == (0, 3)
    assert (beta["avg_chatters"], beta["peak_chatters"]) == (5 / 3, 2)


def test_earlier_means_earlier_days_only(lake):
    # "an earlier day in the lake" is earlier in the calendar, whatever the order the
    # days were given in; a later day is not: day 1 stays all new when day 2 is there.
    assert [r["new_viewers"] for r in reference_streamer_days(lake, D1)] == [4, 3, 0, 2, 0]
    assert reference_streamer_days({D2: day2(), D1: day1()}, D2) == \
        reference_streamer_days(lake, D2)


def test_missing_viewer_count_and_game_are_left_out():
    # Reading 6 of the module: a listing without an int viewer_count or a string game_name
    # is left out of those statistics only.
    days = {D1: [sample(T1, {"s": listing(["u"], 10, "A")}),
                 sample(T1 + STEP, {"s": listing(["u"], None, None)}),
                 sample(T1 + 2 * STEP, {"s": listing(["u"], 30, "B")})]}
    (row,) = reference_streamer_days(days, D1)
    assert (row["avg_viewer_count"], row["peak_viewer_count"]) == (20.0, 30)
    assert row["games"] == {"A": 1, "B": 1} and row["samples"] == 3
    lone = {D1: [sample(T1, {"s": {"chatters": ["u"]}})]}
    (row,) = reference_streamer_days(lone, D1)
    assert (row["avg_viewer_count"], row["peak_viewer_count"], row["games"]) == (None, None, {})


def test_a_stream_without_any_login_has_no_row():
    days = {D1: [sample(T1, {"empty": listing(["bad-login", ""]), "s": listing(["u"])})]}
    assert [r["streamer"] for r in reference_streamer_days(days, D1)] == ["s"]


def test_streamer_day_minutes_follow_the_interval():
    # minutes = samples × interval/60: 3 samples at 90 s = 4.5 (a float when not whole).
    days = {D1: [sample(T1 + i * 90, {"s": listing(["kim"])}) for i in range(3)]}
    (row,) = reference_streamer_days(days, D1, interval=90)
    assert row["minutes"] == 4.5 and isinstance(row["minutes"], float)
    (row,) = reference_streamer_days(days, D1)
    assert row["minutes"] == 15 and isinstance(row["minutes"], int)


# ---- Overlap ---------------------------------------------------------------------------

def test_overlap_over_both_days(lake):
    # A(s) = viewers whose minutes with s, summed over the period, reach min_minutes (10):
    # alpha: alice 30+10, bob 10 (exactly 10 counts), frank 10; beta 5, erin 5 do not;
    #        alpha's own 45 minutes never count; carol and nightbot are bots.
    # beta: bob 20+15, alice 10+5; erin 5; carol is a bot ("flagged on any of its days").
    # gamma (dave 5, erin 5) and delta (carol, a bot) have empty audiences.
    # shared = |{alice, bob}| = 2; |A ∪ B| = 3.
    # lift = shared × N / (|A(a)| × |A(b)|), N = viewers in at least one audience = 3.
    assert reference_overlap(lake, D1, D2) == [
        {"a": "alpha", "b": "beta", "shared": 2, "jaccard": 2 / 3,
         "share_a": 2 / 3, "share_b": 1.0, "lift": 2 * 3 / (3 * 2)}]


def test_overlap_with_bots(lake):
    # "--bots": carol (alpha 30, beta 5+5 = 10) and nightbot (alpha 30) join:
    # A(alpha) = {alice, bob, frank, carol, nightbot}, A(beta) = {alice, bob, carol}.
    # carol's 5 minutes with gamma and with delta stay below 10.
    # N = |{alice, bob, frank, carol, nightbot}| = 5.
    assert reference_overlap(lake, D1, D2, bots=True) == [
        {"a": "alpha", "b": "beta", "shared": 3, "jaccard": 3 / 5,
         "share_a": 3 / 5, "share_b": 1.0, "lift": 3 * 5 / (5 * 3)}]


def test_overlap_period_is_inclusive_and_sets_the_bots(lake):
    # Day 2 alone, min_minutes 5: A(alpha) = {alice, frank}, A(beta) = {alice, bob, carol}
    # (carol is not flagged on day 2, the only day of the period). shared = {alice}.
    # N = |{alice, frank, bob, carol}| = 4: lift = 1 × 4 / (2 × 3).
    assert reference_overlap(lake, D2, D2, min_minutes=5) == [
        {"a": "alpha", "b": "beta", "shared": 1, "jaccard": 1 / 4,
         "share_a": 1 / 2, "share_b": 1 / 3, "lift": 4 / 6}]
    # At 10 minutes alpha keeps alice and frank, beta keeps bob alone: nothing shared,
    # and "each pair a < b with shared ≥ 1" gives no row.
    assert reference_overlap(lake, D2, D2) == []
    # A period without lake days is empty.
    assert reference_overlap(lake, D3, D3) == []


def test_overlap_pairs_sorted_by_a_then_b():
    # u1 and u2 watch s1, s2, s3 for 10 minutes each: 3 pairs, all alike.
    streams = {s: listing(["u1", "u2"]) for s in ("s3", "s1", "s2")}
    days = {D1: [sample(T1, streams), sample(T1 + STEP, streams)]}
    rows = reference_overlap(days, D1, D1)
    assert [(r["a"], r["b"]) for r in rows] == [("s1", "s2"), ("s1", "s3"), ("s2", "s3")]
    assert all(r["shared"] == 2 and r["jaccard"] == 1.0 for r in rows)


def test_overlap_leaves_the_streamers_own_login_out():
    # b sits in its own chat and in a's: b is in A(a) but never in A(b).
    streams = {"a": listing(["u", "b"]), "b": listing(["u", "b"])}
    days = {D1: [sample(T1, streams), sample(T1 + STEP, streams)]}
    # A(a) = {u, b}, A(b) = {u}: N = 2, lift = 1 × 2 / (2 × 1).
    assert reference_overlap(days, D1, D1) == [
        {"a": "a", "b": "b", "shared": 1, "jaccard": 1 / 2, "share_a": 1 / 2,
         "share_b": 1.0, "lift": 1.0}]


# ---- Profiles --------------------------------------------------------------------------

def test_profile_of_a_viewer(lake):
    (alice,) = reference_profiles(lake, viewer=" Alice ")
    assert alice == {
        "viewer": "alice", "first_day": D1, "last_day": D2, "days_active": 2,
        "minutes": 45,                       # "sum of the viewer-day minutes": 30 + 15
        "streamers": {"alpha": 30, "beta": 15},     # alpha 4+2 samples, beta 2+1
        "main_streamer": "alpha",
        "loyalty": 30 / 45,                  # main's minutes / all its streamers' minutes
        # day 1 k0..k5 and day 2 k0, k1 at 00:xx (8 × 5), day 2 k2 at 13:00 (5)
        "hours": [40] + [0] * 12 + [5] + [0] * 10,
        "bot": None,
    }


def test_profiles_are_sorted_by_viewer_and_include_bots(lake):
    rows = reference_profiles(lake)
    assert [r["viewer"] for r in rows] == ["alice", "alpha", "beta", "bob", "carol", "dave",
                                           "erin", "frank", "nightbot", "solo"]
    profiles = by(rows, "viewer")
    # "bot" (reasons of any day, sorted, or null)
    assert profiles["carol"]["bot"] == ["concurrent"]
    assert profiles["nightbot"]["bot"] == ["known"]
    # carol: alpha 30, beta 5+5, delta 5, gamma 5; ties by login (delta before gamma)
    assert list(profiles["carol"]["streamers"].items()) == \
        [("alpha", 30), ("beta", 10), ("delta", 5), ("gamma", 5)]
    assert profiles["carol"]["loyalty"] == 30 / 50
    # erin: 5 minutes with each of alpha, beta, gamma at one k: main is the first login.
    erin = profiles["erin"]
    assert (erin["minutes"], erin["main_streamer"], erin["loyalty"]) == (5, "alpha", 1 / 3)


def test_profiles_leave_the_viewers_own_channel_out(lake):
    profiles = by(reference_profiles(lake), "viewer")
    # "these three leave the viewer's own channel out and are empty/null when nothing is
    #  left": alpha only ever sat in its own chat.
    alpha = profiles["alpha"]
    assert (alpha["streamers"], alpha["main_streamer"], alpha["loyalty"]) == ({}, None, None)
    assert alpha["minutes"] == 45 and alpha["hours"][0] == 40 and alpha["hours"][13] == 5
    # beta: own chat at day-1 k0, alpha's chat at k1. minutes and hours are the union's
    # (10); streamers, main_streamer and loyalty see alpha only.
    beta = profiles["beta"]
    assert (beta["minutes"], beta["streamers"], beta["main_streamer"], beta["loyalty"]) == \
        (10, {"alpha": 5}, "alpha", 1.0)
    assert beta["hours"][0] == 10 and (beta["first_day"], beta["days_active"]) == (D1, 1)


def test_profile_streamers_are_the_top_ten():
    # "the 10 with most minutes, ties by login": s00 … s11, s_i watched at i+1 samples
    # except s00 and s01 at 12 like s11; loyalty's denominator is all 12 streamers.
    samples = []
    for k in range(12):
        streams = {f"s{i:02d}": listing(["v"]) for i in range(12)
                   if k <= i or i < 2}
        samples.append(sample(T1 + k * STEP, streams))
    (v,) = reference_profiles({D1: samples}, bot_concurrent=100)
    # samples: s00 12, s01 12, s02 3, s03 4, … s11 12 → minutes × 5
    assert list(v["streamers"].items()) == [
        ("s00", 60), ("s01", 60), ("s11", 60), ("s10", 55), ("s09", 50), ("s08", 45),
        ("s07", 40), ("s06", 35), ("s05", 30), ("s04", 25)]
    total = 5 * (12 + 12 + sum(range(3, 13)))
    assert v["main_streamer"] == "s00" and v["loyalty"] == 60 / total
    assert v["minutes"] == 60 and v["hours"][0] == 60


def test_profiles_do_not_depend_on_day_order(lake):
    # "Analysing days one by one, in any order, or all at once gives the same profiles;
    #  analysing a day again changes nothing."
    assert reference_profiles({D2: day2(), D1: day1()}) == reference_profiles(lake)
    assert reference_profiles(lake) == reference_profiles(lake)


def test_unknown_or_invalid_viewer_has_no_profile(lake):
    assert reference_profiles(lake, viewer="nobody") == []
    assert reference_profiles(lake, viewer="bad-login") == []


def test_profile_hours_follow_the_interval():
    # "each k of the viewer's union counted at the hour of T[k]", interval/60 minutes each
    days = {D1: [sample(T1 + 3600 + i * 90, {"s": listing(["kim"]), "t": listing(["kim"])})
                 for i in range(3)]}
    (kim,) = reference_profiles(days, interval=90)
    assert kim["hours"][1] == 4.5 and kim["minutes"] == 4.5
    assert kim["streamers"] == {"s": 4.5, "t": 4.5} and kim["loyalty"] == 0.5
