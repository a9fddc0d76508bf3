"""The site holds up against clients that misbehave (issue 21, item 9), on a real
`tpdask web`: idle and slow connections time out and their number is bounded, a flood of
failed logins from one address does not lock the right password out from another, the
Host header is checked, and static files are cached by the browser and compressed."""

from __future__ import annotations

import gzip
import re
import socket
import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.web_support import PASSWORDS, add_user, build_site_data, csrf_of, running_site


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    built = build_site_data(tmp_path_factory.mktemp("holds-up"), viewers=12)
    add_user(built.config.data_dir, "admin", "admin", PASSWORDS["admin"])
    return built


def test_1100_idle_connections_then_a_request_is_answered(fixture, tmp_path):
    log = tmp_path / "server.err"
    args = ("--web_request_timeout", "3")
    # with the usual limit of 1024 files, 1,100 sockets are more than the process may open
    with running_site(fixture.config.data_dir, args=args, log=log, max_files=1024) as base:
        port = int(base.rsplit(":", 1)[1])
        idle = []
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            started = time.monotonic()
            answer = requests.get(base + "/login", timeout=10)
            assert answer.status_code == 200 and "csrf_token" in answer.text
            assert time.monotonic() - started < 5
            # a slow client: a request that never ends is closed when its time is up
            slow = socket.create_connection(("127.0.0.1", port), timeout=10)
            slow.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(4.5)
            assert slow.recv(100) == b"", "a request that never ends is kept open"
            slow.close()
            # the idle ones have timed out (or made room for newer ones) by now
            closed = 0
            for s in idle:
                s.settimeout(0.5)
                try:
                    closed += s.recv(1) == b""
                except (TimeoutError, ConnectionResetError):
                    closed += 0
            assert closed == len(idle)
            assert requests.get(base + "/login", timeout=10).status_code == 200
        finally:
            for s in idle:
                s.close()
    text = log.read_text()
    assert "Traceback" not in text and "Too many open files" not in text, text[-2000:]


class FromAddress(HTTPAdapter):
    """A requests adapter whose connections leave from ``address`` (another loopback
    address: a different client to the site)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def attempt(base: str, address: str, name: str, password: str) -> requests.Response:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    token = csrf_of(session.get(base + "/login", timeout=30).text)
    return session.post(base + "/login", allow_redirects=False, timeout=30, data={
        "username": name, "password": password, "csrf_token": token})


def test_failed_logins_from_one_address_never_lock_out_another(fixture):
    with running_site(fixture.config.data_dir) as base:          # the defaults: 10 in 900 s
        flood = [attempt(base, "127.0.0.1", "admin", f"guess-{i}").status_code
                 for i in range(10)]
        assert flood == [401] * 10
        assert attempt(base, "127.0.0.1", "admin", PASSWORDS["admin"]).status_code == 429
        # the owner, from another address, logs in with the right password
        assert attempt(base, "127.0.0.2", "admin", PASSWORDS["admin"]).status_code == 303
        # the account is no longer under attack (a right password cleared its count), but
        # the flooding address stays stopped, on every account
        assert attempt(base, "127.0.0.1", "admin", PASSWORDS["admin"]).status_code == 429
        # failures spread over many addresses: each address that failed on the account
        # is stopped at the limit; one that did not fail goes in
        for i in range(10):
            assert attempt(base, f"127.0.1.{i + 1}", "admin", "wrong").status_code == 401
        assert attempt(base, "127.0.1.1", "admin", PASSWORDS["admin"]).status_code == 429
        assert attempt(base, "127.0.0.3", "admin", PASSWORDS["admin"]).status_code == 303


def test_the_host_header_is_checked(fixture):
    with running_site(fixture.config.data_dir) as base:
        port = base.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert requests.get(base + "/login", headers={"Host": host}).status_code == 200
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", ""):
            answer = requests.get(base + "/login", headers={"Host": host})
            assert answer.status_code == 400, host
            assert "evil" not in answer.text and "nosniff" in answer.headers[
                "x-content-type-options"]
    allowed = ("--web_allowed_hosts", "*.example.org,127.0.0.1")
    with running_site(fixture.config.data_dir, args=allowed) as base:
        for host, status in (("stats.example.org", 200), ("example.org", 200),
                             ("localhost", 400), ("example.org.evil", 400)):
            assert requests.get(base + "/login", headers={"Host": host}).status_code == \
                status, host


def test_static_files_are_cached_and_compressed(fixture):
    from tpdask.web.routes import bokeh_static

    with running_site(fixture.config.data_dir) as base:
        page = requests.get(base + "/login").text
        css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', page)
        assert css, "the stylesheet's URL carries its version"
        session = requests.Session()        # an address the throttle test left alone
        session.mount("http://", FromAddress("127.0.0.9"))
        token = csrf_of(session.get(base + "/login").text)
        session.post(base + "/login", data={"username": "admin", "password":
                                            PASSWORDS["admin"], "csrf_token": token})
        scripts = re.findall(r'src="(/static/[^"]+)"', session.get(base + "/").text)
        bokeh = next(s for s in scripts if s.startswith("/static/bokeh/bokeh.min.js?v="))
        raw = (bokeh_static() + "/bokeh.min.js")
        with open(raw, "rb") as f:
            original = f.read()
        plain = requests.get(base + bokeh, headers={"Accept-Encoding": "identity"})
        assert plain.content == original and "content-encoding" not in plain.headers
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        zipped = requests.get(base + bokeh, headers={"Accept-Encoding": "gzip"}, stream=True)
        body = zipped.raw.read()
        assert zipped.headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == original and len(body) < len(original) / 3
        assert zipped.headers["etag"].startswith('W/"') and "accept-encoding" in \
            zipped.headers["vary"].lower()
        again = requests.get(base + bokeh, headers={"Accept-Encoding": "gzip",
                                                    "If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        icon = requests.get(base + "/static/favicon.svg")
        assert icon.headers["cache-control"] == "public, max-age=3600" and "etag" in icon.headers
        # pages are never cached nor compressed (their CSRF tokens: BREACH)
        login = requests.get(base + "/login", headers={"Accept-Encoding": "gzip"})
        assert login.headers["cache-control"] == "no-store"
        assert "content-encoding" not in login.headers
