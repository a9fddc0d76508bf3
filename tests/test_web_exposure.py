"""Least exposure and the access log (issue 19, items 5 and 7): what a visitor's answers
leave out or blur — report rows keyed by a login, the exact session timeline, counts of
fewer than web_min_group viewers — and the record of who opened which viewer's page."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from tests.support import tpdask
from tests.web_support import PASSWORDS, add_user, build_site_data, login, running_site
from tpdask.stores import open_store
from tpdask.web.exposure import hour_sessions, mask_small, report_key_shown

FEWER = "fewer than 5"


def test_report_keys_a_visitor_sees():
    assert report_key_shown("per_day.2022-08-01.viewers")
    assert report_key_shown("phase_seconds.store after the buckets")
    assert report_key_shown("lake.viewer_days.part-00000.parquet")
    assert not report_key_shown("per_viewer.zqabcdef12")
    assert not report_key_shown("zqabcdef12")
    assert not report_key_shown("top.SomeLogin")


def test_hour_sessions_widen_to_whole_hours_and_merge():
    h = 1659312000                                   # 2022-08-01 00:00 UTC
    exact = [{"streamer": "a", "start": h + 600, "end": h + 1500},
             {"streamer": "a", "start": h + 3900, "end": h + 4200},     # next hour: touches
             {"streamer": "a", "start": h + 4 * 3600 + 60, "end": h + 4 * 3600 + 60},
             {"streamer": "b", "start": h + 3000, "end": h + 3900}]
    assert hour_sessions(exact) == [
        {"streamer": "a", "start": h, "end": h + 2 * 3600},
        {"streamer": "b", "start": h, "end": h + 2 * 3600},
        {"streamer": "a", "start": h + 4 * 3600, "end": h + 5 * 3600}]


def test_small_counts_and_what_follows_from_them_are_blurred():
    data = {"days": [{"day": "2022-08-01", "viewers": 3, "new_viewers": 0, "minutes": 2},
                     {"day": "2022-08-02", "viewers": 12, "new_viewers": 5}],
            "neighbours": [{"streamer": "x", "shared": 2, "jaccard": 0.1, "share": 0.5},
                           {"streamer": "y", "shared": 9, "jaccard": 0.2, "share": 0.3}],
            "accounts": {"active": 40, "gone": 1}}
    out = mask_small(data, 5)
    assert out["days"][0] == {"day": "2022-08-01", "viewers": FEWER, "new_viewers": 0,
                              "minutes": 2}
    assert out["days"][1] == data["days"][1]
    assert out["neighbours"][0] == {"streamer": "x", "shared": FEWER, "jaccard": FEWER,
                                    "share": FEWER}
    assert out["neighbours"][1] == data["neighbours"][1]
    assert out["accounts"] == {"active": 40, "gone": FEWER}
    assert data["days"][0]["viewers"] == 3, "the cached original is left as it was"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("exposure"), viewers=14)
    data = fixture.config.data_dir
    add_user(data, "visitor", "visitor", PASSWORDS["visitor"])
    add_user(data, "admin", "admin", PASSWORDS["admin"])
    secret_login = fixture.private_logins[0]
    with open_store(fixture.config.store) as store:
        now = time.time()
        store.record_job("analyse", "2022-08-03", "done",
                         {"viewers": 14, "per_viewer": {secret_login: 3},
                          secret_login: {"minutes": 5}}, now - 5, now)
    with running_site(data) as base:
        yield fixture, base, secret_login


def test_job_reports_are_filtered_by_key_for_visitors(site):
    fixture, base, secret_login = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    for answer in (visitor.get(base + "/"), visitor.get(base + "/api/dashboard")):
        assert answer.status_code == 200 and secret_login not in answer.text
    jobs = visitor.get(base + "/api/dashboard").json()["jobs"]
    assert any(["viewers", 14] in job["report"] for job in jobs), "the other rows stay"
    admin = login(base, "admin", PASSWORDS["admin"])
    assert secret_login in admin.get(base + "/api/dashboard").text


def test_a_visitor_sees_sessions_to_the_hour_and_an_admin_exactly(site):
    fixture, base, secret_login = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    admin = login(base, "admin", PASSWORDS["admin"])
    path = visitor.get(base + "/viewers/random", allow_redirects=False).headers["location"]
    seen = visitor.get(base + "/api" + path).json()
    exact = admin.get(base + "/api" + path).json()
    assert seen["sessions"] and all(s["start"] % 3600 == 0 and s["end"] % 3600 == 0
                                    for s in seen["sessions"])
    assert any(s["start"] % 3600 or s["end"] % 3600 for s in exact["sessions"])
    assert hour_sessions(exact["sessions"]) == seen["sessions"]
    assert "Shown to the hour" in visitor.get(base + path).text


def test_counts_of_fewer_than_5_viewers_are_not_shown_to_visitors(site):
    fixture, base, _ = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    admin = login(base, "admin", PASSWORDS["admin"])
    small = 0
    for streamer in fixture.streamers:
        exact = admin.get(f"{base}/api/streamers/{streamer}").json()
        seen = visitor.get(f"{base}/api/streamers/{streamer}").json()
        for e, s in zip(exact["days"], seen["days"]):
            for field in ("viewers", "new_viewers", "returning_viewers"):
                if 0 < e[field] < 5:
                    small += 1
                    assert s[field] == FEWER, (streamer, field)
                else:
                    assert s[field] == e[field]
        page = visitor.get(f"{base}/streamers/{streamer}").text
        assert re.search(r"<td>[1-4]</td><td>", page) is None
    assert small, "the fixture has small groups to blur"
    pairs = visitor.get(base + "/api/overlap").json()["top_pairs"]
    assert all(p["shared"] == FEWER or p["shared"] >= 5 for p in pairs)


def test_the_access_log_names_who_opened_which_viewer(site):
    fixture, base, secret_login = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    path = visitor.get(base + "/viewers/random", allow_redirects=False).headers["location"]
    assert visitor.get(base + path).status_code == 200
    admin = login(base, "admin", PASSWORDS["admin"])
    assert admin.get(base + "/lookup", params={"login": secret_login}).status_code == 200
    data = str(fixture.config.data_dir)
    shown = tpdask("--data_dir", data, "status", "--access_log").stdout
    assert f"admin (admin) looked up {secret_login}" in shown
    newest = orjson.loads(tpdask("--data_dir", data, "status", "--access_log", "--json",
                                 "--limit", "2").stdout)["access_log"]
    assert [(r["account"], r["page"]) for r in newest] == [("admin", "lookup"),
                                                           ("visitor", "viewer")]
    # the random viewer may be any viewer, a streamer watching others included
    assert f"visitor (visitor) opened the page of {newest[1]['login']}" in shown
    rows = orjson.loads(tpdask("--data_dir", data, "status", "--access_log", "--json",
                               "--limit", "1").stdout)["access_log"]
    assert [(r["account"], r["page"], r["login"]) for r in rows] == \
        [("admin", "lookup", secret_login)]
    assert "--limit must be at least 1" in tpdask("--data_dir", data, "status",
                                                  "--access_log", "--limit", "0",
                                                  check=False).stderr
