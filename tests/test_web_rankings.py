"""Rankings of streamers and games (issue 21, item 2), on a real `tpdask web`: a range's
figures add up to its broadcasts', the change against the previous range is in %, rows
sort by any column, ranges come from presets or two days, bad values answer 400."""

from __future__ import annotations

import pytest

from tests.web_support import (DAYS, PASSWORDS, STREAMERS, XSS_GAME, XSS_STREAMER, add_user,
                               build_site_data, login, running_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("rankings"), viewers=40)
    add_user(fixture.config.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    with running_site(fixture.config.data_dir) as base:
        yield fixture, login(base, "visitor", PASSWORDS["visitor"]), base


def broadcasts_of(session, base: str, streamer: str, days: list[str]) -> list[dict]:
    listed = session.get(f"{base}/api/streamers/{streamer}").json()["broadcasts"]
    return [b for b in listed if b["started_at"][:10] in days]


def test_a_range_adds_its_broadcasts_up_and_compares_with_the_one_before(site):
    fixture, session, base = site
    got = session.get(base + "/api/rankings", params={"since": DAYS[2], "until": DAYS[2]}).json()
    assert got["previous"] == [DAYS[1], DAYS[1]] and got["total"] == len(STREAMERS)
    for row in got["rows"]:
        now = broadcasts_of(session, base, row["name"], [DAYS[2]])
        before = broadcasts_of(session, base, row["name"], [DAYS[1]])
        watched = sum(b["hours_watched"] for b in now)
        assert row["hours_watched"] == pytest.approx(watched, abs=0.06)
        was = sum(b["hours_watched"] for b in before)
        assert row["hours_watched_change"] == pytest.approx(100 * (watched - was) / was, abs=0.5)
        assert row["hours_streamed"] == 6.0 and row["peak_viewers"] == max(
            b["peak_viewer_count"] for b in now)
    watched = [r["hours_watched"] for r in got["rows"]]
    assert watched == sorted(watched, reverse=True)
    first = session.get(base + "/api/rankings", params={"since": DAYS[0], "until": DAYS[0]})
    assert all(r["hours_watched_change"] is None for r in first.json()["rows"]), \
        "nothing before the first day: no change to show"


def test_sorting_presets_games_and_bad_values(site):
    fixture, session, base = site
    asc = session.get(base + "/api/rankings", params={"sort": "avg_viewers",
                                                      "order": "asc"}).json()
    values = [r["avg_viewers"] for r in asc["rows"]]
    assert values == sorted(values) and asc["until"] == DAYS[-1]
    assert asc["since"] == "2022-07-28"                 # the 7 days ending on the last one
    names = [r["name"] for r in session.get(base + "/api/rankings", params={
        "sort": "name"}).json()["rows"]]
    assert names == sorted(STREAMERS)
    games = session.get(base + "/api/rankings", params={"kind": "games", "days": "30"}).json()
    channels = {r["name"]: r["channels"] for r in games["rows"]}
    assert channels == {"Just Chatting": len(STREAMERS) - 1, XSS_GAME: 1}
    assert session.get(base + "/api/rankings", params={"page": "9"}).json()["page"] == 1
    for bad in ({"kind": "x"}, {"sort": "login"}, {"since": DAYS[0]}, {"days": "8"},
                {"since": DAYS[2], "until": DAYS[0]}, {"page": "0"}, {"order": "up"},
                {"since": "2022-13-01", "until": DAYS[0]}):
        assert session.get(base + "/api/rankings", params=bad).status_code == 400, bad
    page = session.get(base + "/rankings", params={"kind": "games"}).text
    assert "last 30 days" in page and XSS_GAME not in page and "sort=hours_watched" in page
    assert f'/streamers/{XSS_STREAMER}' in session.get(base + "/rankings").text
