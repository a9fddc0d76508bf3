"""The streamer page's broadcasts and the broadcast page (issue 21, item 1), on a real
`tpdask web` over the tests' analysed folder: each broadcast listed with its figures and
health, its 5-minute curve (Twitch's count and the chatters at every sample), its game
changes, and its flows; unknown broadcasts answer 404."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.web_support import (DAYS, PASSWORDS, STREAMERS, XSS_GAME, XSS_STREAMER, add_user,
                               build_site_data, login, running_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("broadcasts"), viewers=30)
    add_user(fixture.config.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    with running_site(fixture.config.data_dir) as base:
        yield fixture, base


def test_a_streamer_page_leads_with_its_broadcasts(site):
    fixture, base = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    data = visitor.get(f"{base}/api/streamers/{STREAMERS[0]}").json()
    listed = data["broadcasts"]
    assert [b["started_at"] for b in listed] == [f"{d}T17:55:00Z" for d in reversed(DAYS)]
    newest = listed[0]
    assert newest["duration_minutes"] == 72 * 5 and newest["main_game"] == "Just Chatting"
    assert newest["avg_viewer_count"] > 0 and newest["hours_watched"] > 0
    assert newest["health"].startswith("not rated")      # a few dozen viewers: not rated
    page = visitor.get(f"{base}/streamers/{STREAMERS[0]}").text
    assert page.index("Broadcasts") < page.index("Viewers a day")
    assert f'href="/broadcasts/{STREAMERS[0]}/{quote(newest["started_at"])}"' in page
    assert "6 h 00 min" in page


def test_a_broadcast_page_has_its_curve_games_and_flows(site):
    fixture, base = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    started = f"{DAYS[1]}T17:55:00Z"
    data = visitor.get(f"{base}/api/broadcasts/{XSS_STREAMER}/{started}").json()
    curve = data["curve"]
    assert len(curve) == 64                      # the second day misses 8 ticks
    assert all(p["twitch"] == 10 * p["chatters"] + 7 for p in curve)
    assert [p["ts"] for p in curve] == sorted(p["ts"] for p in curve)
    assert data["games"] == [{"ts": curve[0]["ts"], "game": XSS_GAME}]
    assert isinstance(data["went"], list) and isinstance(data["came"], list)
    page = visitor.get(f"{base}/broadcasts/{XSS_STREAMER}/{quote(started)}")
    assert page.status_code == 200 and 'data-chart="curve"' in page.text
    assert XSS_GAME not in page.text.split("</script>", 3)[-1]   # escaped outside JSON
    for wrong in (f"/broadcasts/{XSS_STREAMER}/2022-08-09T00:00:00Z",
                  f"/broadcasts/{XSS_STREAMER}/yesterday", "/broadcasts/NOT_A_LOGIN!/x"):
        assert visitor.get(base + wrong).status_code == 404, wrong
    assert "Streamers" in visitor.get(base + "/broadcasts/nobody/2022-08-01T00:00:00Z").text
