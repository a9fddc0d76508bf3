"""The stream health page (issue 21, item 5): over a simulated range with two view-botted
channels, its suspects are exactly their broadcasts, each with the reason in words, and
its chart holds every rated broadcast."""

from __future__ import annotations

from urllib.parse import quote

from tests.insight_support import DAYS, MIN_VIEWERS, MODEL, built, raw  # noqa: F401
from tests.web_support import PASSWORDS, add_user, login, running_site
from tpdask.simulator.audience import AudienceModel


def test_the_view_botted_channels_are_the_suspects_in_words(built):  # noqa: F811
    add_user(built.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    botted = set(AudienceModel(MODEL, DAYS[0]).view_botted)
    with running_site(built.data_dir, args=("--health_min_viewers", str(MIN_VIEWERS))) as base:
        visitor = login(base, "visitor", PASSWORDS["visitor"])
        data = visitor.get(base + "/api/stream-health",
                           params={"since": DAYS[0], "until": DAYS[-1]}).json()
        assert {s["streamer"] for s in data["suspects"]} == botted
        for s in data["suspects"]:
            assert s["reason"].startswith("suspect: logged-in chatters were")
            assert s["share"] < 0.5 * s["baseline"]
        assert len(data["points"]) == data["rated"] > len(data["suspects"])
        assert {p["streamer"] for p in data["points"] if p["suspect"]} == botted
        page = visitor.get(base + "/stream-health", params={"days": "7"}).text
        assert 'data-chart="scatter"' in page
        first = data["suspects"][0]
        assert f'/broadcasts/{first["streamer"]}/{quote(first["started_at"])}' in page
        assert visitor.get(base + "/stream-health", params={"days": "5"}).status_code == 400
