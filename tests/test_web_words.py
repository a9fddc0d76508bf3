"""Words, not internals (issue 21, item 8): periods as dates, shares as %, game time in
hours, error pages that keep the navigation, and /viewers/random uniform over viewers."""

from __future__ import annotations

import pytest

from tests.web_support import (PASSWORDS, STREAMERS, add_user, build_site_data, login,
                               running_site)
from tpdask.web.render import percent, period
from tpdask.web.site import Site


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    built = build_site_data(tmp_path_factory.mktemp("words"), viewers=60)
    add_user(built.config.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    return built


def test_periods_and_shares_in_words():
    assert period("2022-08-01..2022-08-03:min_minutes=10:bots=0") == \
        "1 Aug 2022 – 3 Aug 2022, viewers with 10+ minutes with a streamer"
    assert period("2022-08-03..2022-08-03:min_minutes=2.5:bots=1") == \
        "3 Aug 2022, viewers with 2.5+ minutes with a streamer, bots included"
    assert percent(0.0512) == "5.1 %" and percent("fewer than 5") == "fewer than 5"


def test_random_viewers_are_drawn_uniformly(fixture):
    """A chi-square test over the profiles: the old draw (one of the 16 keys after a
    random string) gave some viewers a third of the draws and failed it by far."""
    site = Site(fixture.config)
    try:
        keys = site.store.result_keys("profiles", "", "", 10_000)
        draws = 40 * len(keys)
        counts = dict.fromkeys(keys, 0)
        for _ in range(draws):
            counts[site.data.random_viewer()] += 1
    finally:
        site.close()
    expected = draws / len(keys)
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    dof = len(keys) - 1
    # mean dof, standard deviation sqrt(2 dof): 6 deviations is p < 1e-6
    assert chi2 < dof + 6 * (2 * dof) ** 0.5, (chi2, dof)
    assert min(counts.values()) > 0


def test_pages_speak_words_and_errors_keep_the_nav(fixture):
    with running_site(fixture.config.data_dir) as base:
        visitor = login(base, "visitor", PASSWORDS["visitor"])
        page = visitor.get(f"{base}/streamers/{STREAMERS[0]}").text
        assert "samples)" not in page and " h live)" in page
        assert "min_minutes=" not in page and "Aug 2022" in page
        overlap = visitor.get(base + "/overlap").text
        assert "min_minutes=" not in overlap and " %</td>" in overlap
        assert "s community</b>" in overlap and "Community 0" not in overlap
        assert "×</td>" in overlap                                   # lift
        for path in ("/no/such/page", "/streamers/NOT-A-LOGIN", "/viewers/forged-token"):
            answer = visitor.get(base + path)
            assert answer.status_code == 404, path
            assert 'href="/streamers"' in answer.text and "Log out" in answer.text, path
        assert visitor.get(base + "/api/no/such").json() == {"error": "Not Found"}
