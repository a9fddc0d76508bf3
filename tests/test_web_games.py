"""Game pages (issue 21, item 3), on a real `tpdask web`: a game's channels and hours
watched a day add up to the rankings' figures, its audience overlap with other games is
in % and lift, a game name with HTML in it is escaped, and an unknown game answers 404."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.web_support import (DAYS, PASSWORDS, STREAMERS, XSS_GAME, XSS_STREAMER, add_user,
                               build_site_data, login, running_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("games"), viewers=60)
    add_user(fixture.config.data_dir, "admin", "admin", PASSWORDS["admin"])
    with running_site(fixture.config.data_dir) as base:
        yield login(base, "admin", PASSWORDS["admin"]), base


def test_a_game_page_adds_up(site):
    session, base = site
    data = session.get(base + "/api/games/Just Chatting").json()
    assert sorted(c["streamer"] for c in data["channels"]) == \
        sorted(set(STREAMERS) - {XSS_STREAMER})
    assert [d["day"] for d in data["days"]] == DAYS
    ranked = session.get(base + "/api/rankings", params={
        "kind": "games", "since": DAYS[0], "until": DAYS[-1]}).json()["rows"]
    total = next(r["hours_watched"] for r in ranked if r["name"] == "Just Chatting")
    assert data["hours_watched"] == pytest.approx(total, abs=0.2)
    assert all(d["channels"] == len(STREAMERS) - 1 for d in data["days"])
    other = session.get(base + "/api/games/" + quote(XSS_GAME)).json()
    assert other["neighbours"] and other["neighbours"][0]["game"] == "Just Chatting"
    n = other["neighbours"][0]
    assert 0 < n["share"] <= 1 and n["share"] == pytest.approx(n["viewers"] / other["audience"])
    assert n["lift"] > 0


def test_game_pages_escape_link_and_404(site):
    session, base = site
    page = session.get(base + "/games/" + quote(XSS_GAME)).text
    assert XSS_GAME not in page and "&lt;img src=x" in page
    assert 'href="/games/Just%20Chatting"' in page
    assert session.get(base + "/games/No such game").status_code == 404
    assert session.get(base + "/games/" + "x" * 201).status_code == 404
    assert 'href="/games/' in session.get(base + "/rankings?kind=games").text
