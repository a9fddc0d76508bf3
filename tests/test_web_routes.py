"""The route table (tpdask/web/routes.py): what the site is built from, checked as data.

Over HTTP, tests/test_web_auth.py sends every row of the table without a session and as
a visitor; here the table itself: every page documented, data answers twinned with their
page, no page open without a session by mistake.
"""

from __future__ import annotations

import re

from starlette.routing import Mount, Route

from tests.web_support import ROOT
from tpdask.web.auth import ADMIN, ANONYMOUS, VISITOR
from tpdask.web.routes import ROUTES, starlette_routes


def test_the_app_is_built_from_the_table_then_the_static_files():
    built = starlette_routes()
    routes = [r for r in built if isinstance(r, Route)]
    assert [(r.path, r.name) for r in routes] == [(e.path, e.name) for e in ROUTES]
    for route, row in zip(routes, ROUTES):
        assert set(row.methods) <= (route.methods or set())
    assert [m.path for m in built if isinstance(m, Mount)] == ["/static/bokeh", "/static"]
    assert len({e.name for e in ROUTES}) == len(ROUTES)
    assert {e.access for e in ROUTES} == {ANONYMOUS, VISITOR, ADMIN}


def test_only_logging_in_and_out_need_no_session():
    assert {e.path for e in ROUTES if e.access == ANONYMOUS} == {"/login", "/logout"}
    assert {e.path for e in ROUTES if e.access == ADMIN} == {"/lookup", "/api/lookup",
                                                             "/reports/{name}"}


def test_every_data_answer_is_built_by_its_page_s_view():
    pages = {e.path: e for e in ROUTES if not e.api}
    for row in (e for e in ROUTES if e.api):
        page = pages["/" if row.path == "/api/dashboard" else row.path.removeprefix("/api")]
        assert (page.view, page.access, page.params, page.methods) == \
            (row.view, row.access, row.params, row.methods), row.path


def test_every_route_is_in_docs_web_md():
    text = (ROOT / "docs" / "web.md").read_text()
    for row in ROUTES:
        assert re.search(rf"`(?:(?:GET|POST) )?{re.escape(row.path)}[`?\[]", text), \
            f"docs/web.md does not list {row.path}"
