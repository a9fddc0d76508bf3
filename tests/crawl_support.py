"""The visitor leak crawl: every same-site page and data answer a visitor reaches, and a
finder of logins in them (used by test_web_safety and test_pseudonymous_end_to_end)."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import requests

LINK = re.compile(r'(?:href|src|action)="([^"]+)"')


def leak_finder(logins: list[str]) -> re.Pattern:
    """Any of the logins as a whole word (not inside a longer login-like word)."""
    assert logins
    words = "|".join(re.escape(login) for login in sorted(logins, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9_])({words})(?![a-z0-9_])")


def api_of(path_and_query: str) -> str | None:
    """The /api answer mirroring a page, or None for pages without one."""
    path, _, query = path_and_query.partition("?")
    if "csv=" in query:
        return None                  # a download: its page's data answer is crawled already
    if path == "/":
        path = "/api/dashboard"
    elif path.split("/")[1] in ("streamers", "broadcasts", "games", "overlap", "bots", "viewers",
                                 "rankings", "stream-health") and \
            path != "/viewers/random":
        path = "/api" + path
    else:
        return None
    return path + ("?" + query if query else "")


def crawl(base: str, session: requests.Session) -> list[requests.Response]:
    """Every same-site page and data answer a visitor reaches (BokehJS itself aside)."""
    seen: set[str] = set()
    answers: list[requests.Response] = []
    streamers = session.get(base + "/api/streamers").json()["streamers"]
    start = ["/", "/login", "/static/charts.js", "/static/site.css", "/api/dashboard",
             "/api/streamers", "/api/overlap", "/api/bots"]
    start += [f"/streamers/{s['streamer']}" for s in streamers]
    start += ["/viewers/random"] * 40
    queue = deque(start)
    randoms = 40               # /viewers/random answers another viewer each time
    while queue:
        path = queue.popleft()
        if path in seen and not (path == "/viewers/random" and randoms > 0):
            continue
        randoms -= path == "/viewers/random"
        seen.add(path)
        answer = session.get(base + path, timeout=60)
        answers.append(answer)
        assert answer.status_code < 500, (path, answer.status_code)
        final = urlsplit(answer.url)
        here = final.path + ("?" + final.query if final.query else "")
        seen.add(here)
        mirror = api_of(here)
        if mirror and mirror not in seen:
            queue.append(mirror)
        if "text/html" not in answer.headers.get("content-type", ""):
            continue
        for link in LINK.findall(answer.text):
            target = urlsplit(urljoin(answer.url, link.replace("&amp;", "&")))
            if target.netloc != final.netloc or target.path.startswith("/static/bokeh/"):
                continue
            if target.path == "/logout":
                continue
            queue.append(target.path + ("?" + target.query if target.query else ""))
    return answers
