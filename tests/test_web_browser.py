"""The website in headless Chromium (Debian's chromium and chromedriver, see
tests/browser_support.py), as a visitor and as an admin would see it.

One site on one small analysed data folder; one browser per role. Each logs in through
the real /login form with an account made by `tpdask users add`, then crawls the nav
links, several streamer pages and a broadcast, a random viewer's profile, and /lookup,
1,366 and 390 px wide. On every page: every chart container gets ``data-drawn="true"``
and holds a drawn canvas, the console has no error, nothing was loaded from anywhere but
the site, and the page does not scroll sideways. A screenshot of each
page goes to $TPDASK_SCREENSHOTS (docs/web/ for the docs) or a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import Browser, require_chromium, screenshot_dir, start_browser
from tests.web_support import add_user, build_site_data, running_site

pytestmark = pytest.mark.slow      # every test here drives a real browser

CHARTS = "[data-chart]"           # chart containers; charts.js sets data-drawn="true" on them
STREAMER_PAGES = 4                # streamer pages opened per role, besides the list
PASSWORDS = {"visitor": "visitor-pass-1234", "admin": "admin-pass-5678"}
USERS = {"visitor": "ada_visitor", "admin": "root_admin"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, the logins a visitor must never see, viewers to look up) of one site."""
    require_chromium()               # before building anything: fail or skip at once
    data = build_site_data(tmp_path_factory.mktemp("browser-site"))
    for role, name in USERS.items():
        add_user(data.config.data_dir, name, role, PASSWORDS[role])
    with running_site(data.config.data_dir, data.config.store) as url:
        viewers = [v for v in data.viewers if v.startswith("zq")]   # not streamers, not bots
        yield url, data.private_logins, viewers


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


WIDTHS = (1366, 390)               # a laptop, a phone


def check_page(browser: Browser, shots: Path, name: str,
               allow: tuple[str, ...] = ()) -> list[str]:
    """Charts drawn, console clean, nothing from outside, no sideways scrolling; then
    the screenshot (named with the width)."""
    drawn = browser.wait_charts_drawn(CHARTS)
    errors = browser.console_errors(allow)
    assert not errors, f"console errors on {browser.path()}: {errors}"
    foreign = browser.foreign_requests()
    assert not foreign, f"{browser.path()} loaded from outside the site: {foreign}"
    wider = browser.sideways_scroll()
    assert wider <= 0, f"{browser.path()} scrolls sideways by {wider} px at {browser.width} px"
    browser.screenshot(shots / f"{name}-{browser.width}.png")
    return drawn


def no_login_shown(browser: Browser, logins: list[str]) -> None:
    """None of ``logins`` in the page's HTML (as the browser holds it now) nor its text."""
    shown = browser.driver.page_source + browser.text() + browser.driver.current_url
    leaked = sorted(login for login in logins if login in shown)
    assert not leaked, f"{browser.path()} shows viewer logins: {leaked[:5]}"


def crawl(browser: Browser, role: str, shots: Path,
          private: list[str] = ()) -> dict[str, list[str]]:
    """Open every page a role reaches from the nav; {path: charts drawn}. Every page
    has the same nav, and shows none of the ``private`` logins."""
    seen: dict[str, list[str]] = {}
    browser.open("/")
    nav = browser.links("nav a")
    todo = ["/"] + [p for p in nav if p != "/"]
    names = {"/": "dashboard", "/streamers": "streamers", "/overlap": "overlap",
             "/bots": "bots", "/lookup": "lookup-form", "/rankings": "rankings",
             "/stream-health": "stream-health"}
    for path in todo:
        if path in seen or path.startswith("/viewers/random"):
            continue
        browser.open(path)
        seen[path] = check_page(browser, shots, f"{role}-{names.get(path, path.strip('/'))}")
        assert browser.links("nav a") == nav, f"{path} has another nav"
        no_login_shown(browser, private)
    assert {"/", "/streamers", "/rankings", "/stream-health", "/overlap", "/bots"} <= set(seen), \
        f"the nav of {role} does not reach every page: {sorted(seen)}"

    browser.open("/streamers")
    streamers = [p for p in dict.fromkeys(browser.links("a[href^='/streamers/']"))]
    assert len(streamers) >= STREAMER_PAGES, f"/streamers lists {streamers}"
    pages = STREAMER_PAGES if browser.width > 600 else 1
    for i, path in enumerate(streamers[:pages]):
        browser.open(path)
        if i == 0:
            seen[path] = check_page(browser, shots, f"{role}-streamer")
        else:                         # the same template: checked, not photographed again
            seen[path] = browser.wait_charts_drawn(CHARTS)
            assert not browser.console_errors() and not browser.foreign_requests()
        no_login_shown(browser, private)
        assert seen[path], f"{path} draws no chart"
        if i == 0:
            broadcasts = browser.links("a[href^='/broadcasts/']")
            assert broadcasts, f"{path} lists no broadcast"
            browser.open(broadcasts[0])
            seen[broadcasts[0]] = check_page(browser, shots, f"{role}-broadcast")
            no_login_shown(browser, private)
            assert seen[broadcasts[0]], "the broadcast page draws no chart"
            games = browser.links("a[href^='/games/']")
            assert games, f"{broadcasts[0]} links no game"
            browser.open(games[0])
            seen[games[0]] = check_page(browser, shots, f"{role}-game")
            no_login_shown(browser, private)
            assert seen[games[0]], "the game page draws no chart"

    browser.open("/viewers/random")
    viewer = browser.path()
    assert viewer.startswith("/viewers/") and viewer != "/viewers/random", viewer
    seen[viewer] = check_page(browser, shots, f"{role}-viewer")
    no_login_shown(browser, private)
    assert seen[viewer], f"the profile {viewer} draws no chart"
    assert seen["/"], "the dashboard draws no chart"
    return seen


def test_a_visitor_sees_every_page_drawn_and_no_viewer_login(site, shots):
    url, logins, viewers = site
    browser = start_browser(url)
    try:
        browser.login(USERS["visitor"], PASSWORDS["visitor"])
        assert browser.path() == "/"
        for width in WIDTHS:
            browser.set_width(width)
            seen = crawl(browser, "visitor", shots, private=logins)
            assert "/lookup" not in seen, "the visitor's nav offers the login look-up"
        for _ in range(3):            # a few more random profiles, none showing a login
            browser.open("/viewers/random")
            assert browser.wait_charts_drawn(CHARTS) and not browser.console_errors()
            no_login_shown(browser, logins)

        login = viewers[0]
        browser.open(f"/lookup?login={login}")
        assert "403" in browser.text() or "forbidden" in browser.text().lower()
        assert login not in browser.driver.page_source
        check_page(browser, shots, "visitor-lookup-403", allow=("status of 403",))
    finally:
        browser.close()


def test_an_admin_sees_every_page_and_looks_a_login_up(site, shots):
    url, _, viewers = site
    browser = start_browser(url)
    try:
        browser.login(USERS["admin"], PASSWORDS["admin"])
        for width in WIDTHS:
            browser.set_width(width)
            crawl(browser, "admin", shots)
        login = viewers[len(viewers) // 2]
        browser.open(f"/lookup?login={login}")
        assert login in browser.text()
        check_page(browser, shots, "admin-lookup")
    finally:
        browser.close()


def test_logging_out_ends_the_session(site, shots):
    url, _, _ = site
    browser = start_browser(url)
    try:
        browser.login(USERS["visitor"], PASSWORDS["visitor"])
        from selenium.webdriver.common.by import By

        browser.driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button, "
                                    "form[action='/logout'] input[type=submit]").click()
        browser.wait(lambda: browser.path().startswith("/login"), "the logout to reach /login")
        browser.open("/")
        assert browser.path().startswith("/login")
        browser.screenshot(shots / "login-1366.png")
        assert not browser.console_errors()
    finally:
        browser.close()


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    """`make test` under CI must not pass by skipping the browser tests."""
    import tests.browser_support as support

    monkeypatch.setattr(support, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        support.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        support.require_chromium()
