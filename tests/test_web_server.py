"""`tpdask web` as a server process: workers, stopping, and the errors a user can hit."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import psutil
import pytest

from tests.web_support import PASSWORDS, add_user, build_site_data, cli_env, login, running_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fixture = build_site_data(tmp_path_factory.mktemp("server"), viewers=20)
    add_user(fixture.config.data_dir, "visitor", "visitor", PASSWORDS["visitor"])
    return fixture


def web(data, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tpdask", "--data_dir", str(data), *args],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_several_server_processes_serve_and_stop_together(site):
    with running_site(site.config.data_dir, args=("--web_workers", "2")) as base:
        session = login(base, "visitor", PASSWORDS["visitor"])
        for _ in range(20):
            assert session.get(base + "/api/dashboard").status_code == 200
            assert session.get(base + "/viewers/random").status_code == 200
        server = next(p for p in psutil.process_iter(["cmdline"])
                      if p.info["cmdline"] and "--web_workers" in p.info["cmdline"]
                      and str(site.config.data_dir) in p.info["cmdline"])
        children = server.children(recursive=True)
        assert sum("spawn_main" in " ".join(c.cmdline()) for c in children) == 2
    gone, alive = psutil.wait_procs([server, *children], timeout=30)
    assert not alive


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_site_with_exit_0(site, stop):
    proc = web(site.config.data_dir, "web", "--port", "0")
    assert proc.stdout.readline().startswith("tpdask web: serving http://127.0.0.1:")
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_a_port_in_use_or_a_missing_store_is_a_one_line_error(site, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = web(site.config.data_dir, "web", "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    proc = web(tmp_path / "nothing", "web", "--port", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.startswith("error: no data folder at")
    (tmp_path / "empty").mkdir()
    proc = web(tmp_path / "empty", "web", "--port", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "no store at" in err and "Traceback" not in err


def test_secure_cookies_behind_https(site):
    import requests

    with running_site(site.config.data_dir, args=("--web_secure_cookies",)) as base:
        form = requests.get(base + "/login")
        cookie = form.headers["set-cookie"].lower()
        assert cookie.startswith("tpdask_login=") and "; secure" in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie
    with running_site(site.config.data_dir, env={"TPDASK_WEB_SECURE_COOKIES": "false"}) as base:
        assert "secure" not in requests.get(base + "/login").headers["set-cookie"].lower()
