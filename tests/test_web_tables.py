"""Every table as CSV through the same handler as its page (issue 21, item 6): on a real
`tpdask web`, each table of each page downloads as CSV holding the rows of the page's own
data answer, a visitor's with the same blurring and no viewer login; formulas are
defused."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import pytest

from tests.web_support import PASSWORDS, STREAMERS, add_user, build_site_data, login, running_site
from tpdask.web.routes import ROUTES
from tpdask.web.tables import cell


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("tables"), viewers=40)
    for role in ("visitor", "admin"):
        add_user(fixture.config.data_dir, role, role, PASSWORDS[role])
    with running_site(fixture.config.data_dir) as base:
        yield fixture, base


def test_a_formula_is_defused_and_structures_are_json():
    assert cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and cell("-1") == "'-1"
    assert cell(-1) == "-1" and cell(None) == "" and cell(True) == "true"
    assert cell({"a": 1}) == '{"a":1}' and cell(["x", 2]) == '["x",2]'


def pages(base: str, session) -> dict[str, str]:
    """A path of each page that has tables, filled in from the site."""
    viewer = session.get(base + "/viewers/random", allow_redirects=False).headers["location"]
    started = session.get(f"{base}/api/streamers/{STREAMERS[0]}").json()["broadcasts"][0][
        "started_at"]
    return {"dashboard": "/", "streamers": "/streamers", "streamer": f"/streamers/{STREAMERS[0]}",
            "broadcast": f"/broadcasts/{STREAMERS[0]}/{quote(started)}", "overlap": "/overlap",
            "bots": "/bots", "viewer": viewer}


@pytest.mark.parametrize("role", ["visitor", "admin"])
def test_every_table_downloads_as_the_page_s_own_rows(site, role):
    fixture, base = site
    session = login(base, role, PASSWORDS[role])
    paths = pages(base, session)
    routes = {r.name: r for r in ROUTES}
    for name, path in paths.items():
        page = session.get(base + path).text
        data = session.get(base + "/api" + (path if path != "/" else "/dashboard")).json()
        for table in routes[name].tables:
            if table not in data:
                continue            # admins-only tables are not in a visitor's data
            answer = session.get(base + path, params={"csv": table})
            assert answer.status_code == 200, (path, table)
            assert answer.headers["content-type"].startswith("text/csv")
            assert answer.headers["content-disposition"].startswith("attachment; filename=")
            rows = list(csv.reader(io.StringIO(answer.text)))
            expected = data[table]
            header = 1 if expected and isinstance(expected[0], dict) else 0
            assert len(rows) == len(expected) + header, (path, table)
            if role == "visitor":
                assert not re.search(r"\bzq[a-z0-9]{8}\b", answer.text), (path, table)
        if role == "visitor":
            assert "csv=" in page or not routes[name].tables, path
    assert session.get(base + "/streamers", params={"csv": "nope"}).status_code == 404
    assert session.get(base + "/streamers", params={"csv": ["streamers", "streamers"]}
                       ).status_code == 400
    assert session.get(base + "/api/streamers", params={"csv": "streamers"}).status_code == 400


def test_a_visitor_s_csv_keeps_the_blurred_counts(site):
    fixture, base = site
    visitor = login(base, "visitor", PASSWORDS["visitor"])
    blurred = [s for s in STREAMERS if "fewer than 5" in
               visitor.get(f"{base}/streamers/{s}", params={"csv": "days"}).text]
    admin = login(base, "admin", PASSWORDS["admin"])
    exact = [s for s in STREAMERS if any(0 < d["new_viewers"] < 5 or 0 < d["viewers"] < 5 or
                                         0 < d["returning_viewers"] < 5 for d in admin.get(
                                             f"{base}/api/streamers/{s}").json()["days"])]
    assert blurred == exact and exact
