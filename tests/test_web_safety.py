"""A visitor never sees a viewer login; request values never become query operators;
pages escape what they print; pseudonyms are stable, opaque and unforgeable.

Every test runs against a real `tpdask web` over HTTP, on the embedded SQLite store and on
the MongoDB store (FerretDB), each with the analysed data of tests/web_support.py.
"""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

import pymongo
import pytest
import requests

from tests.conftest import with_database
from tests.crawl_support import crawl, leak_finder
from tests.web_support import (BOT, PASSWORDS, XSS_GAME, XSS_STREAMER, add_user, build_site_data,
                               login, running_site)


@pytest.fixture(scope="module", params=["sqlite", "mongodb"])
def site(request, tmp_path_factory):
    store = database = None
    if request.param == "mongodb":
        database = f"tpdask_test_{uuid.uuid4().hex[:12]}"
        store = with_database(request.getfixturevalue("mongo_uri"), database)
    fixture = build_site_data(tmp_path_factory.mktemp(f"safety-{request.param}"), store=store)
    for role, password in PASSWORDS.items():
        add_user(fixture.config.data_dir, role, role, password)
    with running_site(fixture.config.data_dir, store) as base:
        yield fixture, base, store
    if database:
        client: pymongo.MongoClient = pymongo.MongoClient(store)
        client.drop_database(database)
        client.close()


def test_a_visitor_never_sees_a_viewer_login(site):
    fixture, base, _ = site
    private = fixture.private_logins
    assert BOT in private and len(private) > 100
    find = leak_finder(private)
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    answers = crawl(base, visitor)
    pages = {urlsplit(a.url).path for a in answers}
    assert {"/", "/streamers", "/overlap", "/bots", "/api/dashboard", "/api/bots"} <= pages
    assert any(p.startswith("/broadcasts/") for p in pages), "no broadcast page crawled"
    assert sum("csv=" in a.url for a in answers) >= 10, "the CSV downloads are crawled too"
    assert any(p.startswith("/api/broadcasts/") for p in pages)
    assert sum(p.startswith("/viewers/") for p in pages) >= 10
    assert sum(p.startswith("/api/viewers/") for p in pages) >= 10
    assert len([p for p in pages if p.startswith("/streamers/")]) == len(fixture.streamers)
    for answer in answers:
        for hop in [*answer.history, answer]:
            where = hop.url
            found = find.search(hop.url)
            assert not found, f"{where}: its URL names viewer {found.group(1)}"
            for name, value in hop.headers.items():
                found = find.search(value)
                assert not found, f"{where}: header {name} names viewer {found.group(1)}"
            found = find.search(hop.text)
            assert not found, f"{where}: the page names viewer {found.group(1)}"
    # the same search finds them where an admin may see them: the check can see a leak
    admin = login(base, "admin", PASSWORDS["admin"])
    assert find.search(admin.get(base + "/bots").text)
    assert find.search(admin.get(base + "/api/bots").text)


def test_pseudonyms_are_stable_opaque_and_unforgeable(site, tmp_path):
    fixture, base, store = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    bots = visitor.get(base + "/api/bots").json()["bots"]
    token = bots[0]["token"]
    assert visitor.get(base + "/api/bots").json()["bots"][0]["token"] == token
    assert len(token) == 55 and re.fullmatch(r"[A-Za-z0-9_-]{55}", token)
    profile = visitor.get(base + f"/api/viewers/{token}").json()
    assert profile["token"] == token and profile["name"] == "viewer·" + token[:8]
    assert "login" not in profile
    for forged in (token[:20] + ("A" if token[20] != "A" else "B") + token[21:], token[:-1],
                   token + "A", "A" * 55, "%2e%2e", "%00"):
        assert visitor.get(base + f"/viewers/{forged}").status_code == 404, forged
        assert visitor.get(base + f"/api/viewers/{forged}").status_code == 404, forged
    # a restart keeps the secret (its file) and so the tokens; another secret changes them
    with running_site(fixture.config.data_dir, store) as again:
        other = login(again, "visitor", PASSWORDS["visitor"])
        assert other.get(again + "/api/bots").json()["bots"][0]["token"] == token
    secret = {"TPDASK_WEB_SECRET": "another-secret-of-the-server"}
    with running_site(fixture.config.data_dir, store, env=secret) as third:
        other = login(third, "visitor", PASSWORDS["visitor"])
        assert other.get(third + f"/api/viewers/{token}").status_code == 404
        assert other.get(third + "/api/bots").json()["bots"][0]["token"] != token


def test_request_values_never_become_query_operators(site):
    fixture, base, _ = site
    admin = login(base, "admin", PASSWORDS["admin"])
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    known = fixture.viewers[-1]
    for path in ("/api/lookup?login[$ne]=x", "/api/lookup?login[$gt]=", "/lookup?login[$ne]=x",
                 "/api/lookup?login=a'--", "/api/lookup?login=x' OR '1'='1",
                 "/api/lookup?login=%7B%22%24ne%22%3A%22%22%7D", "/api/lookup?login=a&login=b",
                 "/api/bots?day[$ne]=x", "/api/bots?day=2022-08-01' OR 1=1 --",
                 "/api/overlap?period[$ne]=x", "/api/overlap?period=x' OR '1'='1",
                 "/api/streamers?x[$where]=1", "/api/dashboard?$ne=1"):
        answer = admin.get(base + path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert known not in answer.text and "days_active" not in answer.text, path
    bodies = ({"login": {"$ne": ""}}, {"login": {"$gt": ""}}, {"username": {"$ne": ""},
              "password": {"$ne": ""}, "csrf_token": {"$ne": ""}})
    for body in bodies:
        for path in ("/login", "/logout", "/api/lookup", "/api/dashboard", "/api/bots",
                     "/api/viewers/x", "/lookup"):
            answer = admin.post(base + path, json=body, allow_redirects=False)
            assert 400 <= answer.status_code < 500, (path, answer.status_code)
            assert known not in answer.text
        answer = admin.get(base + "/api/lookup", json=body)
        assert answer.status_code == 400 and known not in answer.text
    # form fields named like operators are not the fields: no login, no session
    fresh = requests.Session()
    form = fresh.get(base + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = fresh.post(base + "/login", data={"username[$ne]": "x", "password[$ne]": "x",
                                               "csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 401 and "tpdask_session" not in fresh.cookies
    answer = fresh.post(base + "/login", data=[("username", "visitor"), ("username", "admin"),
                                               ("password", "x"), ("csrf_token", token)])
    assert answer.status_code == 400
    for odd in ("%00", "%2e%2e", "..%2f..%2fetc", "a" * 300, "chan_alpha%00", "ch%C3%A2n",
                "%E2%80%AEchan", "chan_alpha'--", "CHAN_ALPHA", "chan alpha", "%7B%22%24ne%22%7D"):
        for prefix in ("/streamers/", "/api/streamers/"):
            answer = visitor.get(base + prefix + odd)
            assert answer.status_code == 404, (prefix + odd, answer.status_code)
            assert "new_viewers" not in answer.text


def test_pages_escape_what_they_print(site):
    _, base, _ = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    page = visitor.get(base + f"/streamers/{XSS_STREAMER}")
    assert page.status_code == 200
    assert XSS_GAME not in page.text and "<img" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;Games" in page.text
    data = visitor.get(base + f"/api/streamers/{XSS_STREAMER}").json()
    assert XSS_GAME in [game for game, _ in data["games"]]   # the data itself is kept as is
    for path in ("/", "/streamers", "/overlap", "/bots", "/viewers/random"):
        text = visitor.get(base + path).text
        assert "<script>alert" not in text and "<img src=x" not in text
        for block in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>',
                                text, flags=re.S):
            assert "<" not in block, (path, block[:200])


def test_a_streamer_name_with_markup_in_the_store_is_printed_escaped(site):
    """Names come from the store; one that is not a login (a store written by hand, an old
    import) is shown escaped, its links URL-encoded, and its own page is a 404."""
    from tpdask.stores import open_store

    fixture, base, _ = site
    evil = '<script>alert("x")</script>'
    day = "2022-08-01"
    with open_store(fixture.config.store) as store:
        docs = {key: doc for _, key, doc in store.iter_results("streamer_days", day)}
        docs[evil] = {**docs["chan_alpha"], "streamer": evil, "games": {evil: 3}}
        store.replace_results("streamer_days", day, docs)
        store.record_job("analyse", day, "done", {}, time.time(), time.time())  # as analyse
    try:
        visitor = login(base, "visitor", PASSWORDS["visitor"])
        text = ""
        for _ in range(30):                  # the site's data version is read every 2 s
            text = visitor.get(base + "/streamers").text
            if "&lt;script&gt;" in text:
                break
            time.sleep(0.2)
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
        assert evil not in text and '<script>alert' not in text
        assert 'href="/streamers/%3Cscript%3Ealert%28%22x%22%29%3C/script%3E"' in text
        assert visitor.get(base + "/streamers/%3Cscript%3E").status_code == 404
    finally:
        with open_store(fixture.config.store) as store:
            docs.pop(evil)
            store.replace_results("streamer_days", day, docs)
