"""Helpers for the website's tests: an analysed data folder, a real `tpdask web`, users.

- :func:`build_site_data` writes three days of samples whose viewer logins are
  distinctive (``zq`` + 8 letters and digits, so a whole-word search for them in a page
  finds nothing by accident), processes, analyses and overlaps them with the real jobs
  (in this process, no Dask cluster), and records account statuses as the verifier does.
  One streamer's stream title and game carry HTML, for the escaping tests; one viewer is
  also a tracked streamer (whose channel name is public); ``nightbot`` is a known bot.
- :func:`running_site` starts ``tpdask web --port 0`` as a subprocess, reads the address
  it prints, waits until it answers, yields ``http://127.0.0.1:PORT`` and stops it.
- :func:`add_user` adds a site account through the CLI; :func:`login` opens a session.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support import make_config
from tpdask.days import day_bounds
from tpdask.settings import Config

ROOT = Path(__file__).resolve().parent.parent
DAYS = ["2022-08-01", "2022-08-02", "2022-08-03"]
STREAMERS = ["chan_alpha", "chan_beta", "chan_gamma", "chan_delta", "chan_echo", "chan_fox"]
XSS_TITLE = "<script>alert('title')</script> live & loud"
XSS_GAME = "<img src=x onerror=alert(1)>Games"
XSS_STREAMER = "chan_gamma"
BOT = "nightbot"
#: a tracked streamer who also watches others: a viewer login that is public anyway
STREAMER_VIEWER = "chan_beta"
PASSWORDS = {"visitor": "visitor-pass-1", "admin": "admin-pass-12"}


@dataclass
class SiteFixture:
    config: Config
    viewers: list[str]          # every viewer login of the published days
    streamers: list[str]
    renamed_to: list[str]       # logins renamed accounts answer to now (also personal)

    @property
    def private_logins(self) -> list[str]:
        """The logins a visitor must never see: viewers that are not tracked streamers,
        and the new logins of renamed accounts."""
        return sorted((set(self.viewers) | set(self.renamed_to)) - set(self.streamers))


def viewer_logins(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return sorted({"zq" + "".join(rng.choice(alphabet) for _ in range(8)) for _ in range(count)})


def site_samples(day: str, viewers: list[str], seed: int) -> list[dict]:
    """Samples of 18:00–23:55 UTC every 5 minutes (a gap of 40 minutes on the 2nd day)."""
    rng = random.Random(seed)
    start = day_bounds(day)[0] + 18 * 3600
    likes = {v: rng.sample(STREAMERS, rng.randint(1, 3)) for v in viewers}
    present = {v: (rng.randint(0, 50), rng.randint(8, 60)) for v in viewers}
    samples = []
    for k in range(72):
        ts = start + k * 300
        if day == DAYS[1] and 30 <= k < 38:
            continue
        streams: dict[str, dict] = {}
        for i, s in enumerate(STREAMERS):
            chatters = sorted(v for v in viewers if s in likes[v]
                              and present[v][0] <= k < present[v][0] + present[v][1])
            chatters.append(BOT)
            if s != STREAMER_VIEWER and k % 3 == 0:
                chatters.append(STREAMER_VIEWER)
            streams[s] = {"user_id": str(100 + i), "viewer_count": 10 * len(chatters) + 7,
                          "title": XSS_TITLE if s == XSS_STREAMER else f"{s} plays",
                          "game_name": XSS_GAME if s == XSS_STREAMER else "Just Chatting",
                          "language": "fr", "started_at": f"{day}T17:55:00Z",
                          "chatters": chatters}
        samples.append({"version": 1, "ts": ts, "source": "sim", "streams": streams})
    return samples


def build_site_data(root: Path, store: str | None = None, viewers: int = 120) -> SiteFixture:
    """An analysed data folder under ``root`` (see the module docstring)."""
    import orjson

    from jobs.analyse import analyse_command as analyse
    from jobs.overlap import overlap
    from jobs.process_day import process_command as process
    from tpdask.archive.pack import archive_day
    from tpdask.stores import open_store

    quiet = dict(log=lambda m: None)
    config = make_config(root, store=store)
    logins = viewer_logins(viewers)
    for n, day in enumerate(DAYS):
        folder = config.samples_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        for s in site_samples(day, logins[: viewers - 10 * (2 - n)], seed=n):
            (folder / f"{s['ts']}.json").write_bytes(orjson.dumps(s))
        archive_day(config, day, **quiet)  # processed from its .7z, as in production
        process(config, day, local=True, **quiet)
    analyse(config, DAYS, local=True, **quiet)
    overlap(config, DAYS[0], DAYS[-1], **quiet)
    with open_store(config.store) as st:
        seen = sorted({r["viewer"] for day in DAYS for r in st.iter_viewer_days(day)})
        for day in DAYS:
            st.sync_accounts(day)
        renamed_to = []
        statuses = []
        for i, login in enumerate(seen):
            status = ("active", "renamed", "gone")[i % 3]
            now = f"zqnew{i:05d}x" if status == "renamed" else (login if status == "active"
                                                                 else None)
            if status == "renamed":
                renamed_to.append(now)
            statuses.append({"viewer": login, "user_id": str(5000 + i), "status": status,
                             "login_now": now, "checked_at": 1659600000.0 + i})
        st.write_statuses(statuses)
    return SiteFixture(config=config, viewers=seen, streamers=list(STREAMERS),
                       renamed_to=renamed_to)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without TPDASK_* (as tests/test_cli.py runs tpdask)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("TPDASK_") or k.startswith("TPDASK_TEST_")}
    return {**base, "PYTHONPATH": str(ROOT), **(extra or {})}


def add_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """`tpdask users add NAME --role ROLE` with the password in TPDASK_NEW_PASSWORD."""
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(data_dir), "users", "add", name,
         "--role", role], env=cli_env({"TPDASK_NEW_PASSWORD": password}),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@contextmanager
def running_site(data_dir: Path, store_uri: str | None = None, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, log: Path | None = None,
                 max_files: int | None = None) -> Iterator[str]:
    """A real `tpdask web` on a free loopback port; yields its base URL (no trailing /).
    ``log``: a file that receives the server's standard error (else a pipe, read only
    when it fails to start); ``max_files``: the server's file descriptor limit (soft and
    hard, as a default Linux install gives 1024)."""
    command = [sys.executable, "-m", "tpdask", "--data_dir", str(data_dir)]
    if store_uri:
        command += ["--store", store_uri]
    command += [*args, "web", "--port", "0"]
    errors = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - closed below
    limit = None
    if max_files:
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))
    proc = subprocess.Popen(command, env=cli_env(env), stdout=subprocess.PIPE,
                            stderr=errors, text=True, preexec_fn=limit)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"serving (http://\S+?)/? ", line)
        if not found:
            proc.kill()
            raise AssertionError(f"tpdask web did not start: {line!r} "
                                 f"{(proc.communicate(timeout=30)[1] or '')[-3000:]}")
        base = found.group(1).rstrip("/")
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/login", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tpdask web at {base} does not answer: "
                                     f"{(proc.communicate(timeout=30)[1] or '')[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        if log:
            errors.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def login(base: str, name: str, password: str) -> requests.Session:
    """A requests session logged in through the login form (fails the test otherwise)."""
    session = requests.Session()
    form = session.get(base + "/login", timeout=30)
    answer = session.post(base + "/login", data={"username": name, "password": password,
                                                 "csrf_token": csrf_of(form.text)},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    return session
