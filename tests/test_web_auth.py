"""Logging in and out of a real `tpdask web`: sessions, cookies, CSRF, the throttle, roles."""

from __future__ import annotations

import time

import pytest
import requests

from tests.web_support import PASSWORDS, add_user, build_site_data, csrf_of, login, running_site
from tpdask.web.auth import ADMIN, ANONYMOUS
from tpdask.web.routes import ROUTES


def example(path: str) -> str:
    """A URL of a route's path: its parameters filled with values that would be valid."""
    return (path.replace("{login}", "chan_alpha").replace("{token}", "A" * 55)
            .replace("{name}", "process-2022-08-01-1-2-ab.html"))


#: Every route that needs a session (the route table: pages, then data answers).
PAGES = [example(e.path) for e in ROUTES if e.access != ANONYMOUS and not e.api]
APIS = [example(e.path) + ("?login=x" if "login" in e.params else "")
        for e in ROUTES if e.access != ANONYMOUS and e.api]
ADMINS_ONLY = [example(e.path) for e in ROUTES if e.access == ADMIN]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("auth"), viewers=40)
    for role, password in PASSWORDS.items():
        add_user(fixture.config.data_dir, role, role, password)
    with running_site(fixture.config.data_dir) as base:
        yield fixture, base


def test_without_a_session_pages_go_to_login_and_data_answers_401(site):
    _, base = site
    for path in PAGES:
        answer = requests.get(base + path, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    for path in APIS:
        answer = requests.get(base + path, allow_redirects=False)
        assert answer.status_code == 401 and answer.json()["error"], path
    forged = requests.get(base + "/api/dashboard", cookies={"tpdask_session": "x" * 43})
    assert forged.status_code == 401


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(site):
    _, base = site
    session = requests.Session()
    form = session.get(base + "/login")
    assert form.status_code == 200 and 'name="username"' in form.text
    assert 'name="password"' in form.text and 'type="password"' in form.text
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy",
                 "x-frame-options"):
        assert name in form.headers
    assert "script-src 'self'" in form.headers["content-security-policy"]
    answer = session.post(base + "/login", allow_redirects=False, data={
        "username": "visitor", "password": PASSWORDS["visitor"], "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.raw.headers.getlist("set-cookie")
                  if c.startswith("tpdask_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= flags and "secure" not in flags
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    page = session.get(base + "/")
    assert page.status_code == 200 and "Dashboard" in page.text
    assert page.headers["cache-control"] == "no-store"
    logout = session.post(base + "/logout", data={"csrf_token": csrf_of(page.text)},
                          allow_redirects=False)
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    old_cookie = session.cookies.get("tpdask_session")
    assert requests.get(base + "/api/dashboard",
                        cookies={"tpdask_session": old_cookie or "gone"}).status_code == 401


def test_a_wrong_password_says_only_that(site):
    _, base = site
    session = requests.Session()
    form = session.get(base + "/login")
    for name, password in (("visitor", "not-the-password"), ("nobody_at_all", "whatever-1")):
        answer = session.post(base + "/login", data={"username": name, "password": password,
                                                     "csrf_token": csrf_of(form.text)})
        assert answer.status_code == 401 and "wrong user name or password" in answer.text
        assert "tpdask_session" not in session.cookies


def test_csrf_on_login_and_logout(site):
    _, base = site
    good = {"username": "visitor", "password": PASSWORDS["visitor"]}
    session = requests.Session()
    token = csrf_of(session.get(base + "/login").text)
    assert session.post(base + "/login", data=good).status_code == 403
    assert session.post(base + "/login", data={**good, "csrf_token": "0" * 64}).status_code == 403
    other = requests.Session()
    other_token = csrf_of(other.get(base + "/login").text)
    assert session.post(base + "/login", data={**good, "csrf_token": other_token}).status_code == 403
    assert requests.post(base + "/login", data={**good, "csrf_token": token}).status_code == 403
    answer = session.post(base + "/login", data={**good, "csrf_token": token},
                          allow_redirects=False)
    assert answer.status_code == 303
    page = session.get(base + "/").text
    assert session.post(base + "/logout").status_code == 403
    assert session.post(base + "/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert session.get(base + "/api/dashboard").status_code == 200     # still logged in
    assert session.post(base + "/logout", data={"csrf_token": csrf_of(page)},
                        allow_redirects=False).status_code == 303
    assert session.get(base + "/api/dashboard").status_code == 401


def test_visitors_get_403_on_lookup_and_admins_the_profile(site):
    fixture, base = site
    login_name = fixture.viewers[-1]
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    for path in ADMINS_ONLY:
        assert visitor.get(base + path).status_code == 403, path
    assert visitor.get(base + "/lookup").status_code == 403
    assert visitor.get(base + "/lookup", params={"login": login_name}).status_code == 403
    answer = visitor.get(base + "/api/lookup", params={"login": login_name})
    assert answer.status_code == 403 and login_name not in answer.text
    assert 'href="/lookup"' not in visitor.get(base + "/").text
    admin = login(base, "admin", PASSWORDS["admin"])
    assert 'href="/lookup"' in admin.get(base + "/").text
    page = admin.get(base + "/lookup", params={"login": login_name.upper()})
    assert page.status_code == 200 and login_name in page.text
    data = admin.get(base + "/api/lookup", params={"login": login_name}).json()
    assert data["login"] == login_name and data["days_active"] >= 1
    assert admin.get(base + "/api/lookup", params={"login": "zq_not_there"}).status_code == 404
    bots = admin.get(base + "/api/bots").json()
    assert "nightbot" in {b["login"] for b in bots["bots"]}


def test_the_throttle_per_account_and_per_client(tmp_path):
    fixture = build_site_data(tmp_path, viewers=10)
    data = fixture.config.data_dir
    add_user(data, "ann", "visitor", "right-password")
    add_user(data, "bob", "visitor", "right-password")
    settings = ("--web_login_failures", "3", "--web_login_window", "4")
    with running_site(data, args=settings) as base:
        def attempt(name: str, password: str) -> requests.Response:
            session = requests.Session()
            token = csrf_of(session.get(base + "/login").text)
            return session.post(base + "/login", allow_redirects=False, data={
                "username": name, "password": password, "csrf_token": token})

        assert [attempt("ann", "wrong-password").status_code for _ in range(3)] == [401] * 3
        blocked = attempt("ann", "right-password")           # the right one, too late
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 5
        time.sleep(int(blocked.headers["retry-after"]) + 0.5)
        assert attempt("ann", "right-password").status_code == 303   # the window has passed
        # per client: failures spread over several accounts from one address add up
        for name in ("x1", "x2", "x3"):
            assert attempt(name, "wrong-password").status_code == 401
        refused = attempt("bob", "right-password")
        assert refused.status_code == 429 and "retry-after" in refused.headers
        time.sleep(int(refused.headers["retry-after"]) + 0.5)
        assert attempt("bob", "right-password").status_code == 303


def test_a_running_job_of_the_data_folder_is_shown_with_its_dask_dashboard_for_admins(site):
    from tpdask.executor import dask_executor

    fixture, base = site
    admin = login(base, "admin", PASSWORDS["admin"])
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    assert admin.get(base + "/api/dashboard").json()["running"] == []
    lines: list[str] = []
    with dask_executor(workers=1, log=lines.append, data_dir=fixture.config.data_dir,
                       job="process 2022-08-09"):
        link = next(line for line in lines if line.startswith("Dask dashboard: ")).split(": ")[1]
        running = admin.get(base + "/api/dashboard").json()["running"]
        assert [(r["job"], r["dashboard"]) for r in running] == [("process 2022-08-09", link)]
        assert f'href="{link}"' in admin.get(base + "/").text
        # the dashboard has no login: visitors learn that a job runs, not where
        assert [(r["job"], r["dashboard"]) for r in
                visitor.get(base + "/api/dashboard").json()["running"]] == \
            [("process 2022-08-09", None)]
        assert link not in visitor.get(base + "/").text
    assert admin.get(base + "/api/dashboard").json()["running"] == []


def test_admins_download_a_job_s_performance_report_and_nobody_else_reaches_a_file(site):
    fixture, base = site
    name = "analyse-2022-08-01-1796365726-1551-4d22a7.html"
    folder = fixture.config.data_dir / "reports"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("<html>the report</html>")
    (fixture.config.data_dir / "secret.html").write_text("not a report")
    admin = login(base, "admin", PASSWORDS["admin"])
    answer = admin.get(f"{base}/reports/{name}")
    assert answer.status_code == 200 and answer.text == "<html>the report</html>"
    assert answer.headers["content-disposition"].startswith("attachment")
    for wrong in ("..%2Fsecret.html", "secret.html", "process-2022-08-01-1-1-zz.html"):
        assert admin.get(f"{base}/reports/{wrong}").status_code == 404, wrong
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    assert visitor.get(f"{base}/reports/{name}").status_code == 403
