"""`tpdask bench web`: the website's answer times on a month of data, with concurrent clients.

The data folder (``<data_dir>/bench/web-<records>-<days>/``) is built once and reused while
its ``.complete`` marker is there: ``days`` consecutive days of one audience of the model
(seed 1, ~records/days viewers a day, the same viewers every day, with collection gaps
and chatter ids), each archived, processed by the real day job and analysed by the real
analyser, all on one long-lived local Dask cluster; then the overlap of the whole period
and, against the simulator's Helix ``users``, the verifier. The store is the embedded
SQLite one.

The measurement starts the real server (``tpdask web``, a subprocess), makes a visitor
account with ``tpdask users add``, and logs in ``clients`` HTTP clients through /login,
each its own ``requests.Session`` on its own thread. Each client loops over the dashboard,
a streamer page (a random one of /streamers), one of its broadcasts, a rankings page (one
of :data:`RANKINGS`), the stream health of 30 days and a viewer profile
(``/viewers/random``, then the page it redirects to, timed apart). One client alone is measured first, for
as long, so that the client's own cost shows: if one client's times are close to the
concurrent ones, the clients are not the bottleneck. Figures per page: requests, p50,
p95, max (ms), requests/s; the machine's load average before and after; saved as JSON
under ``<data_dir>/bench/``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import requests

from tpdask.errors import JobError
from tpdask.log import Log, Progress, print_log, progress
from tpdask.settings import Config, resolve

FIRST_DAY = dt.date(2022, 8, 1)
SEED = 1
VIEWERS_AT_SCALE_1 = 900_000     # the audience model's population at scale 1 (all watch daily)
DAILY_SHORTFALL = 1.01           # ~0.4 % of them miss a day (collection gaps): aim a bit higher
BENCH_USER = "bench_visitor"
PAGES = ("dashboard", "streamer", "broadcast", "rankings", "stream_health", "viewer_random",
         "viewer")
_BROADCAST_LINK = re.compile(r'href="(/broadcasts/[a-z0-9_]{1,25}/[0-9A-Za-z%:-]+)"')
RANKINGS = ("/rankings?days=30", "/rankings?days=7&sort=avg_viewers",
            "/rankings?kind=games&days=30", "/rankings?days=30&sort=name&page=2")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_STREAMER_LINK = re.compile(r'href="/streamers/([a-z0-9_]{1,25})"')


def bench_days(n: int) -> list[str]:
    return [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(n)]


#: The data set's layout: a folder of another version is built again (2: with the per-day
#: broadcast results and two view-botted channels).
DATASET_VERSION = 2


def dataset_dir(config: Config, records: int, days: int) -> Path:
    return config.data_dir / "bench" / f"web{DATASET_VERSION}-{records}-{days}"


def dataset_config(folder: Path) -> Config:
    """The bench data folder's config: its own embedded SQLite store, default settings."""
    return resolve(data_dir=str(folder), store=f"sqlite:///{folder / 'tpdask.sqlite'}")


# --- the data set ----------------------------------------------------------------------
def build_dataset(config: Config, records: int = 1_000_000, days: int = 30,
                  workers: int | None = None, verify: bool = True,
                  log: Log = print_log) -> tuple[Path, dict]:
    """The bench data folder and its counts; built (or rebuilt when incomplete) first."""
    folder = dataset_dir(config, records, days)
    done = folder / ".complete"
    if done.exists():
        counts = orjson.loads(done.read_bytes())
        log(f"data set {folder}: reused ({counts['records']:,} viewer-day records, "
            f"{counts['analysed_days']} analysed days, {counts['profiles']:,} profiles)")
        return folder, counts
    if records < days or days < 1:
        raise JobError(f"bench web needs --days >= 1 and --records >= --days, got "
                       f"{records} records over {days} days")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sub = dataset_config(folder)
    scale = records / days / VIEWERS_AT_SCALE_1 * DAILY_SHORTFALL
    the_days = bench_days(days)
    started = time.time()
    log(f"building {folder}: {days} days of ~{records // days:,} viewers (audience model "
        f"scale {scale:.4g}, seed {SEED}) ...")
    _process_and_analyse(sub, the_days, scale, workers, log)
    from jobs.overlap import overlap

    log(f"overlap of {the_days[0]} … {the_days[-1]} ...")
    overlap(sub, the_days[0], the_days[-1], log=log)
    if verify:
        _verify(sub, the_days[-1], scale, log)
    counts = dataset_counts(sub)
    counts.update(scale=scale, seed=SEED, build_seconds=round(time.time() - started, 1))
    done.write_bytes(orjson.dumps(counts))
    log(f"data set built in {counts['build_seconds']} s: {counts['records']:,} viewer-day "
        f"records, {counts['analysed_days']} analysed days, {counts['profiles']:,} profiles")
    return folder, counts


def _process_and_analyse(config: Config, the_days: list[str], scale: float,
                         workers: int | None, log: Log) -> None:
    """Generate, archive and process each day, then analyse them all, on one cluster."""
    from jobs.analyse import analyse
    from jobs.process_day import process_day
    from tpdask.archive.pack import archive_day
    from tpdask.executor import dask_executor
    from tpdask.simulator.audience import AudienceConfig, write_day

    quiet: Log = lambda message: None  # noqa: E731
    model = AudienceConfig(seed=SEED, scale=scale, gaps=True, with_ids=True,
                           interval=config.interval, view_botted=2)
    with dask_executor(None, workers, quiet, dashboard_host=config.dashboard_host) as executor, \
            progress(log, "bench web: days", len(the_days), "days") as bar:
        for i, day in enumerate(the_days, 1):
            t0 = time.time()
            write_day(config.samples_dir, day, model)
            archive_day(config, day, quiet)
            report = process_day(config, day, executor, quiet)
            log(f"  day {i}/{len(the_days)} {day}: {report['viewers']:,} viewers, "
                f"generated, archived and processed in {time.time() - t0:.1f} s")
            bar.update()
        log(f"analysing {len(the_days)} days ...")
        analyse(config, the_days, executor, quiet)


def _verify(config: Config, day: str, scale: float, log: Log) -> None:
    """Account statuses of every viewer, from the simulator's Helix users (its truth)."""
    from tpdask.collect.credentials import Credentials
    from tpdask.collect.twitch import TwitchClient
    from tpdask.simulator import SimOptions, Simulator
    from tpdask.simulator.audience import AudienceConfig
    from tpdask.verify import verify

    log("verifying every account against the simulator's Helix users ...")
    options = SimOptions(rate_limit=1_000_000)   # a bench, not a day of real Twitch time
    with Simulator(day, AudienceConfig(seed=SEED, scale=scale), options=options) as sim:
        client = TwitchClient(Credentials(sim.client_id, sim.client_secret),
                              sim.urls["helix_url"], sim.urls["auth_url"], log=lambda m: None)
        report = verify(config, None, lambda m: None, client=client)
    log(f"  {report['checked']:,} accounts checked with {report['calls']:,} calls: "
        f"{report['active']:,} active, {report['renamed']:,} renamed, {report['gone']:,} gone")


def dataset_counts(config: Config) -> dict:
    """What the store holds: viewer-day records, days, analysed days, profiles, statuses."""
    from tpdask.stores import open_store

    with open_store(config.store, create=False) as store:
        days = store.days()
        return {"records": sum(store.count_viewer_days(d) for d in days), "days": len(days),
                "analysed_days": len(store.result_scopes("streamer_days")),
                "profiles": sum(1 for _ in store.iter_results("profiles", "")),
                "overlap_pairs": sum(1 for _ in store.iter_results("overlap")),
                "statuses": store.status_counts()}


# --- the server and its clients ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tpdask(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tpdask", "--data_dir", str(folder),
            "--store", f"sqlite:///{folder / 'tpdask.sqlite'}", *args]


def add_visitor(folder: Path, name: str = BENCH_USER) -> str:
    """(Re)create the bench's visitor account with `tpdask users add`; its password."""
    password = secrets.token_urlsafe(18)
    env = {**os.environ, "TPDASK_NEW_PASSWORD": password}
    subprocess.run(_tpdask(folder, "users", "remove", name), env=env, capture_output=True)
    done = subprocess.run(_tpdask(folder, "users", "add", name, "--role", "visitor"), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise JobError(f"tpdask users add {name} failed (exit {done.returncode}): "
                       f"{done.stderr.strip()[-2000:]}")
    return password


class Server:
    """`tpdask web` on a free loopback port, as a subprocess; stopped with SIGINT."""

    def __init__(self, folder: Path, log: Log = print_log):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_file = open(folder / "bench-web-server.log", "wb")
        self.proc = subprocess.Popen(
            _tpdask(folder, "web", "--host", "127.0.0.1", "--port", str(self.port)),
            stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise JobError(f"`tpdask web` did not answer on {self.url} (see "
                               f"{self._log_file.name})")
            time.sleep(0.2)
        log(f"server: `tpdask web` (pid {self.proc.pid}) on {self.url}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def login(url: str, username: str, password: str) -> requests.Session:
    """A session logged in through the /login form (its CSRF token included)."""
    session = requests.Session()
    page = session.get(url + "/login", timeout=30)
    match = _CSRF.search(page.text)
    data = {"username": username, "password": password}
    if match:
        data["csrf_token"] = match.group(1) or match.group(2)
    answer = session.post(url + "/login", data=data, allow_redirects=False, timeout=30)
    if answer.status_code not in (302, 303) or "/login" in answer.headers.get("location", ""):
        raise JobError(f"bench login as {username} failed: HTTP {answer.status_code}")
    return session


def streamer_pages(session: requests.Session, url: str) -> list[str]:
    """The streamer pages linked from /streamers."""
    names = sorted(set(_STREAMER_LINK.findall(session.get(url + "/streamers", timeout=30).text)))
    if not names:
        raise JobError("bench web: /streamers lists no streamer page")
    return [f"/streamers/{n}" for n in names]


class Client:
    """One logged-in client looping over the pages; keeps each answer's milliseconds."""

    def __init__(self, url: str, session: requests.Session, streamers: list[str], seed: int):
        self.url, self.session, self.streamers = url, session, streamers
        self.rng = random.Random(seed)
        self.ms: dict[str, list[float]] = {p: [] for p in PAGES}
        self.errors: list[str] = []

    def _get(self, page: str, path: str, redirect: bool = True) -> requests.Response | None:
        started = time.perf_counter()
        try:
            answer = self.session.get(self.url + path, allow_redirects=redirect, timeout=30)
            _ = answer.content
        except requests.RequestException as exc:
            self.errors.append(f"{page} {path}: {exc}")
            return None
        self.ms[page].append((time.perf_counter() - started) * 1000)
        if answer.status_code != (200 if redirect else 303):
            self.errors.append(f"{page} {path}: HTTP {answer.status_code}")
        return answer

    def one_round(self) -> None:
        self._get("dashboard", "/")
        page = self._get("streamer", self.rng.choice(self.streamers))
        links = _BROADCAST_LINK.findall(page.text) if page is not None else []
        if links:
            self._get("broadcast", self.rng.choice(links))
        self._get("rankings", self.rng.choice(RANKINGS))
        self._get("stream_health", "/stream-health?days=30")
        answer = self._get("viewer_random", "/viewers/random", redirect=False)
        where = answer.headers.get("location", "") if answer is not None else ""
        if where:
            self._get("viewer", where.removeprefix(self.url))

    def run_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.one_round()


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile by the nearest-rank method (p95 of 20 values is the 19th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(round(q * len(ordered), 9)) - 1)]


def summary(clients: list[Client], seconds: float) -> dict:
    """Per page: requests, p50, p95, max (ms), requests/s; and the errors seen."""
    pages = {}
    for page in PAGES:
        ms = [m for c in clients for m in c.ms[page]]
        if ms:
            pages[page] = {"requests": len(ms), "p50_ms": round(_quantile(ms, 0.50), 1),
                           "p95_ms": round(_quantile(ms, 0.95), 1),
                           "max_ms": round(max(ms), 1),
                           "per_second": round(len(ms) / seconds, 1)}
    total = sum(p["requests"] for p in pages.values())
    errors = [e for c in clients for e in c.errors]
    return {"clients": len(clients), "seconds": round(seconds, 2), "pages": pages,
            "requests": total, "per_second": round(total / seconds, 1),
            "errors": len(errors), "first_errors": errors[:10]}


def _cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by a process and its children (the server's workers)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def _phase(url: str, sessions: list[requests.Session], streamers: list[str],
           seconds: float, server_pid: int | None = None, bar: Progress | None = None) -> dict:
    """The clients' loops for ``seconds``; with the CPU seconds the clients (this
    process) and the server used meanwhile, to see which one the machine spent itself on.
    ``bar`` advances by the seconds gone, once a second."""
    clients = [Client(url, s, streamers, seed=i) for i, s in enumerate(sessions)]
    client_cpu, server_cpu = time.process_time(), _cpu_seconds(server_pid)
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=c.run_until, args=(deadline,), daemon=True)
               for c in clients]
    for t in threads:
        t.start()
    shown = 0.0
    for t in threads:
        while t.is_alive():
            t.join(timeout=1.0)
            gone = min(seconds, time.monotonic() - started)
            if bar is not None:
                bar.update(round(gone - shown, 3))
            shown = gone
    result = summary(clients, time.monotonic() - started)
    result["client_cpu_seconds"] = round(time.process_time() - client_cpu, 2)
    result["server_cpu_seconds"] = round(_cpu_seconds(server_pid) - server_cpu, 2)
    return result


def measure(url: str, password: str, clients: int = 8, seconds: float = 30,
            server_pid: int | None = None, log: Log = print_log) -> dict:
    """Warm-up round (first answers timed), one client alone, then ``clients`` at once."""
    sessions = [login(url, BENCH_USER, password) for _ in range(clients)]
    streamers = streamer_pages(sessions[0], url)
    warm = Client(url, sessions[0], streamers, seed=99)
    warm.one_round()
    first = {p: round(v[0], 1) for p, v in warm.ms.items() if v}
    if warm.errors:
        raise JobError(f"bench web: the site answers errors: {warm.errors[:5]}")
    log(f"first answers (cold caches), ms: {first}")
    with progress(log, "bench web: measured", 2 * seconds, "s") as bar:
        log(f"one client alone for {seconds:g} s ...")
        alone = _phase(url, sessions[:1], streamers, seconds, server_pid, bar)
        log(f"{clients} clients at once for {seconds:g} s ...")
        load_before = os.getloadavg()
        together = _phase(url, sessions, streamers, seconds, server_pid, bar)
    return {"first_ms": first, "streamer_pages": len(streamers), "one_client": alone,
            "concurrent": together, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def bench_web(config: Config, records: int = 1_000_000, days: int = 30, clients: int = 8,
              seconds: float = 30, workers: int | None = None, verify: bool = True,
              log: Log = print_log) -> dict:
    """Build (once) the data set, serve it with `tpdask web`, time it; saved as JSON."""
    from tpdask.bench.process import machine

    folder, counts = build_dataset(config, records, days, workers=workers, verify=verify,
                                   log=log)
    password = add_visitor(folder)
    with Server(folder, log) as server:
        figures = measure(server.url, password, clients=clients, seconds=seconds,
                          server_pid=server.proc.pid, log=log)
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = {"at": at, "dataset": str(folder), "counts": counts, "machine": machine(),
              **figures}
    out = config.data_dir / "bench" / f"bench-web-{records}-{days}-{at}.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    result["saved_to"] = str(out)
    return result


def table(result: dict) -> str:
    c = result["counts"]
    lines = [f"bench web: {c['records']:,} viewer-day records over {c['days']} days "
             f"({c['analysed_days']} analysed), {c['profiles']:,} profiles, "
             f"{c['overlap_pairs']:,} overlap pairs, {result['streamer_pages']} streamer pages; "
             f"{result['machine']['cpus']} CPUs",
             f"  first answers (cold caches), ms: {result['first_ms']}"]
    for label, key in (("1 client", "one_client"), (f"{result['concurrent']['clients']} clients",
                                                     "concurrent")):
        phase = result[key]
        lines.append(f"  {label}: {phase['requests']:,} requests in {phase['seconds']} s, "
                     f"{phase['per_second']} requests/s, {phase['errors']} errors; CPU s: "
                     f"server {phase['server_cpu_seconds']}, clients "
                     f"{phase['client_cpu_seconds']}")
        lines.append(f"    {'page':<14} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} "
                     f"{'max ms':>8} {'req/s':>7}")
        for page, p in phase["pages"].items():
            lines.append(f"    {page:<14} {p['requests']:>8,} {p['p50_ms']:>8} "
                         f"{p['p95_ms']:>8} {p['max_ms']:>8} {p['per_second']:>7}")
    lines.append(f"  load average before/after the concurrent run: {result['load_before']} / "
                 f"{result['load_after']}")
    lines.append(f"  saved to {result['saved_to']}")
    return "\n".join(lines)
