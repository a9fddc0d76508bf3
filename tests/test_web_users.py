"""`tpdask users add|list|remove`, run as a user runs them, checked through the site."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.web_support import ROOT, add_user, build_site_data, cli_env, login, running_site


def users(data: Path, *args: str, password: str | None = None, stdin: str = ""):
    env = cli_env({"TPDASK_NEW_PASSWORD": password} if password is not None else None)
    return subprocess.run([sys.executable, "-m", "tpdask", "--data_dir", str(data), "users",
                           *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site_data(tmp_path_factory.mktemp("users"), viewers=30)


def test_add_list_remove(tmp_path):
    data = tmp_path / "data"
    assert users(data, "add", "ann", "--role", "admin", password="long-enough").returncode == 0
    added = users(data, "add", "bob.v-2", "--role=visitor", password="long-enough")
    assert added.returncode == 0 and "added visitor bob.v-2" in added.stdout
    listed = users(data, "list").stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["ann", "admin"], ["bob.v-2", "visitor"]]
    assert "long-enough" not in "".join(listed)
    removed = users(data, "remove", "ann")
    assert removed.returncode == 0 and "removed ann" in removed.stdout
    assert [line.split()[0] for line in users(data, "list").stdout.splitlines()] == ["bob.v-2"]
    missing = users(data, "remove", "ann")
    assert missing.returncode == 1 and "no site user 'ann'" in missing.stderr


@pytest.mark.parametrize("args, password, code, message", [
    (["add", "ann", "--role", "root"], "long-enough", 2, "bad role 'root'"),
    (["add", "ann"], "long-enough", 2, "needs --role"),
    (["add", "Ann!", "--role", "admin"], "long-enough", 2, "bad user name"),
    (["add", "a" * 33, "--role", "admin"], "long-enough", 2, "bad user name"),
    (["add", "ann", "--role", "admin"], "short", 1, "at least 8 characters"),
    (["delete", "ann"], None, 2, "choose add, list or remove"),
    (["remove"], None, 2, "needs NAME"),
    (["list", "ann"], None, 2, "takes no NAME"),
    (["add", "ann", "--role", "admin", "--bogus", "1"], "long-enough", 2, "unknown option --bogus"),
])
def test_bad_arguments_change_nothing(tmp_path, args, password, code, message):
    data = tmp_path / "data"
    result = users(data, *args, password=password)
    assert result.returncode == code and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (data / "web" / "site.sqlite").exists() or users(data, "list").stdout == ""


def test_users_list_only_reads(tmp_path):
    """`users list` never creates web/ (issue 17, item 5): on a data folder without site
    accounts it lists none; on a mistyped one it says so; both leave nothing behind."""
    data = tmp_path / "data"
    data.mkdir()
    listed = users(data, "list")
    assert listed.returncode == 0 and listed.stdout == "" and listed.stderr == ""
    assert list(data.iterdir()) == []
    missing = users(tmp_path / "dta", "list")
    assert missing.returncode == 1
    assert missing.stderr == f"error: no data folder at {tmp_path / 'dta'}: check --data_dir " \
                             "(or TPDASK_DATA_DIR)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_the_password_is_asked_twice_without_the_environment(tmp_path):
    data = tmp_path / "data"
    differ = users(data, "add", "ann", "--role", "admin", stdin="first-pass\nother-pass\n")
    assert differ.returncode == 1 and "differ" in differ.stderr
    same = users(data, "add", "ann", "--role", "admin", stdin="first-pass\nfirst-pass\n")
    assert same.returncode == 0, same.stderr


def test_the_site_files_are_for_the_owner_only(tmp_path):
    data = tmp_path / "data"
    add_user(data, "ann", "admin", "long-enough")
    assert stat.S_IMODE((data / "web").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "web" / "site.sqlite").stat().st_mode) == 0o600
    text = (data / "web" / "site.sqlite").read_bytes()
    assert b"long-enough" not in text and b"scrypt$16384$8$1$" in text


def test_removing_or_updating_a_user_ends_its_sessions(site):
    data = site.config.data_dir
    add_user(data, "gone_soon", "visitor", "password-1")
    add_user(data, "changed", "admin", "password-2")
    with running_site(data) as base:
        leaving = login(base, "gone_soon", "password-1")
        changed = login(base, "changed", "password-2")
        assert leaving.get(base + "/api/dashboard").status_code == 200
        assert changed.get(base + "/api/lookup", params={"login": site.viewers[-1]}).ok
        assert users(data, "remove", "gone_soon").stdout.startswith("removed gone_soon (1 ")
        assert leaving.get(base + "/api/dashboard").status_code == 401
        assert leaving.get(base + "/", allow_redirects=False).status_code == 303
        add_user(data, "changed", "visitor", "password-3")     # a new role and password
        assert changed.get(base + "/api/dashboard").status_code == 401
        again = login(base, "changed", "password-3")
        assert again.get(base + "/api/lookup", params={"login": site.viewers[-1]}).status_code == 403
        old = requests.post(base + "/login", data={"username": "gone_soon",
                                                   "password": "password-1"})
        assert old.status_code == 403          # no CSRF token: refused before anything else


OPEN_SITE = """
import sys
from pathlib import Path
from tpdask.web.sitedb import SiteDB, server_secret
data = Path(sys.argv[1])
secret = server_secret(data)
SiteDB(data).close()
print(secret.hex())
"""


def test_processes_opening_a_new_site_folder_at_once_share_one_whole_secret(tmp_path):
    """Two server workers (or a server and `users add`) starting together on a new data
    folder: none reads a half-written secret or fails on the new file's WAL switch."""
    for round_ in range(5):
        data = tmp_path / f"data{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_SITE, str(data)], cwd=ROOT,
                                  env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(8)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
        assert len({out.strip() for out, _ in outs}) == 1
        assert len(bytes.fromhex(outs[0][0].strip())) == 32
        assert sorted(p.name for p in (data / "web").iterdir() if "secret" in p.name) == ["secret"]
