"""Helpers shared by the test modules (fixtures are in conftest.py). Test modules import
helpers from here, never from each other.

- data: configs, samples, viewer-day records, generated buckets, archives, temp files;
- the command line: `tpdask` in this process (argument checks, exports) or as a process
  (signals, exit of a real process, pipes, what a fresh interpreter imports or creates);
- the analyser's generated days, processed once per module and copied for each test;
- Dask: a `dask scheduler` and `dask worker` processes, started as separate commands.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from tpdask.settings import Config, resolve
from tpdask.stores import open_store

ROOT = Path(__file__).resolve().parent.parent
DAY = "2022-08-01"
T0 = 1659312000          # 2022-08-01T00:00:00Z
QUIET = dict(log=lambda m: None)


# --- data ---------------------------------------------------------------------------------


def make_config(tmp_path: Path, store: str | None = None, **extra) -> Config:
    data = tmp_path / "data"
    return resolve(data_dir=str(data), store=store or f"sqlite:///{data}/tpdask.sqlite", **extra)


def sample(ts: int, streams: dict[str, list], source: str = "sim") -> dict:
    """A contract-v1 sample; streams maps streamer login → chatters list."""
    return {"version": 1, "ts": ts, "source": source,
            "streams": {s: {"user_id": str(i + 1), "viewer_count": len(c) * 3, "title": "t",
                            "game_name": "g", "language": "fr",
                            "started_at": "2022-08-01T00:00:00Z", "chatters": c}
                        for i, (s, c) in enumerate(streams.items())}}


def write_samples(config: Config, day: str, samples: list[dict]) -> Path:
    folder = config.samples_dir / day
    folder.mkdir(parents=True, exist_ok=True)
    for s in samples:
        (folder / f"{s['ts']}.json").write_bytes(orjson.dumps(s))
    return folder


def error_line(result) -> str:
    """The one `error: …` line a failed command printed: the last line of its stderr (progress
    lines may come before it), and no traceback."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors and errors == [result.stderr.splitlines()[-1]], result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return errors[0]


def stored_records(config: Config, day: str) -> dict[str, dict]:
    with open_store(config.store) as store:
        return {r["viewer"]: r for r in store.iter_viewer_days(day)}


def record(viewer: str, day: str = DAY, minutes: int | float = 190, **streamers) -> dict:
    """A viewer-day record as the day job writes it (one streamer unless given)."""
    return {
        "viewer": viewer,
        "day": day,
        "samples": 38,
        "minutes": minutes,
        "first_ts": 1659348002,
        "last_ts": 1659378002,
        "streamers": streamers
        or {
            "somestreamer": {
                "samples": 38,
                "minutes": minutes,
                "sessions": [[1659348002, 1659351602]],
            }
        },
    }


def bucket(viewers: int = 300, seed: int = 3, t0: int = T0, names: str = "v{:04d}"):
    """A real inversion (tpdask.process.inversion.Inverted) of 20,000 random observations
    with a gap, so several sessions per pair."""
    import numpy as np
    import pyarrow as pa

    from tpdask.process.bucket import invert_table

    rng = np.random.default_rng(seed)
    times = np.array([t0 + 300 * k + (1200 if k > 40 else 0) for k in range(96)], np.int64)
    n = 20_000
    table = pa.table({
        "ts": pa.array(times[rng.integers(0, len(times), n)]),
        "streamer": pa.array([f"s{i}" for i in rng.integers(0, 12, n)]).dictionary_encode(),
        "viewer": pa.array([names.format(i) for i in rng.integers(0, viewers, n)]),
    })
    return invert_table(table, times, 900)


def day_digest(model) -> str:
    """sha256 of every sample an AudienceModel makes, in order."""
    import hashlib

    h = hashlib.sha256()
    for s in model.samples():
        h.update(orjson.dumps(s))
    return h.hexdigest()


def lake_rows(config: Config, day: str = DAY) -> list[dict]:
    """The viewer-day rows of the lake's published folder of ``day``."""
    import pyarrow.parquet as pq

    from jobs.process_day import lake_day_dir

    files = sorted(lake_day_dir(config, day).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def copy_data_folder(source: Config, tmp_path: Path) -> Config:
    """A copy of a data folder (SQLite store, lake, samples) under ``tmp_path``, with its
    config: a test changes its copy, never the folder a module's tests share."""
    from tpdask.stores import close_cached_stores

    close_cached_stores()                  # nothing of the source left open in this process
    config = make_config(tmp_path)
    shutil.copytree(source.data_dir, config.data_dir)
    return config


def write_multi_folder_archive(path: Path, members: dict[str, bytes], opens: int = 4) -> Path:
    """A .7z with `opens` 7z folders, as other tools leave them: py7zr mode "w", then "a"
    (opens - 1) times, each open adding every opens-th member (names are archive paths)."""
    import py7zr

    names = sorted(members)
    path.parent.mkdir(parents=True, exist_ok=True)
    for k in range(opens):
        with py7zr.SevenZipFile(path, "w" if k == 0 else "a") as z:
            for name in names[k::opens]:
                z.writestr(members[name], name)
    with py7zr.SevenZipFile(path, "r") as z:
        assert z.header.main_streams.unpackinfo.numfolders == opens
        assert z.testzip() is None
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): nobody has it now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def make_temp(folder: Path, name: str, pid: int, age: float = 120.0) -> Path:
    """A writer's temp file as tpdask.files.atomic_write names it, `age` seconds old."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.{pid}.tmp"
    path.write_bytes(b'{"partial')
    then = time.time() - age
    os.utime(path, (then, then))
    return path


class TempHolder:
    """A real second process in the middle of an atomic write: it has written its temp
    `.<name>.<pid>.tmp` in `folder` (120 s old) and renames it to `name` on `finish()`."""

    SCRIPT = """
import os, sys, time
folder, name = sys.argv[1], sys.argv[2]
os.makedirs(folder, exist_ok=True)
tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
with open(tmp, "wb") as f:
    f.write(b'{"held": true}')
os.utime(tmp, (time.time() - 120, time.time() - 120))
print(tmp, flush=True)
sys.stdin.readline()
os.replace(tmp, os.path.join(folder, name))
print("renamed", flush=True)
"""

    def __init__(self, folder: Path, name: str):
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(folder), name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.temp = Path(self.proc.stdout.readline().strip())
        self.final = folder / name

    def finish(self) -> tuple[int, str]:
        """Let it rename its temp; its exit code (0: the temp was still there) and stderr."""
        out, err = self.proc.communicate("go\n", timeout=30)
        return self.proc.returncode, err


# --- the command line ----------------------------------------------------------------------

def caller_env() -> dict[str, str]:
    """This process's environment without its TPDASK_* settings (TPDASK_TEST_* stay): a
    command under test sees only the settings the test gives it."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("TPDASK_") or k.startswith("TPDASK_TEST_")}


def tpdask_process(*args: str, env: dict | None = None, check: bool = True,
                   cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m tpdask ARGS` as a separate process, as a user would; TPDASK_* variables
    of the caller are left out. For what only a real process shows: its exit, signals,
    pipes, Dask clusters it starts, what a fresh interpreter imports or creates."""
    full_env = {**caller_env(), "PYTHONPATH": str(ROOT), **(env or {})}
    result = subprocess.run([sys.executable, "-m", "tpdask", *args], capture_output=True,
                            text=True, env=full_env, timeout=timeout, cwd=cwd)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@dataclass
class CliResult:
    """What `tpdask ARGS` run in this process returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def tpdask(*args: str, env: dict | None = None, check: bool = True,
           cwd: Path | None = None) -> CliResult:
    """Run `tpdask ARGS` in this process (tpdask.cli.main.main, what the `tpdask` script
    calls): from ``cwd``, with the TPDASK_* variables of ``env`` only, its output captured.
    The environment and the current folder are put back afterwards. About 10 ms where a
    process takes half a second: for checks of arguments, messages, exit codes and files."""
    from tpdask.cli.main import main
    from tpdask.stores import close_cached_stores

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    # text streams over bytes, as sys.stdout is: exports write to sys.stdout.buffer
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
                for _ in range(2))
    try:
        os.environ.clear()
        os.environ.update({**caller_env(), **(env or {})})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        close_cached_stores()          # as at the exit of a process: no store left open
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    result = CliResult(code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode())
    if check:
        assert result.returncode == 0, result.stderr
    return result


# --- the analyser's generated days -----------------------------------------------------------

ANALYSIS_DAYS = ["2022-08-01", "2022-08-02", "2022-08-03"]


def samples_of(raw_days: dict[str, list[Path]]) -> dict[str, list[dict]]:
    return {day: [orjson.loads(p.read_bytes()) for p in paths] for day, paths in raw_days.items()}


def processed(tmp_path: Path, raw_days: dict[str, list[Path]], name: str = "data",
              store: str | None = None) -> Config:
    """A data folder under ``tmp_path / name`` holding ``raw_days``' samples, each day
    processed in this process (jobs.process_day, local)."""
    from jobs.process_day import process_command

    config = make_config(tmp_path / name, store=store)
    for day, paths in raw_days.items():
        folder = config.samples_dir / day
        folder.mkdir(parents=True)
        for p in paths:
            (folder / p.name).write_bytes(p.read_bytes())
        process_command(config, day, local=True, **QUIET)
    return config


# --- the verifier's simulated accounts ---------------------------------------------------------

ACCOUNTS_DAY, ACCOUNTS_SCALE = "2022-08-01", 0.002   # the `accounts_sim` fixture's day and scale


def viewers(sim, count: int, skip: int = 0) -> list[str]:
    """``count`` viewer logins of the simulator's model, every fate among them."""
    protected = set(sim.world.streamer_logins) | set(sim.world.bot_logins)
    return sorted(x for x in sim.world.accounts.original if x not in protected)[skip:skip + count]


# --- Dask processes -------------------------------------------------------------------------

def users_served(sim) -> int:
    """How many Helix /users calls the simulator has answered."""
    return sim.state()["counters"].get("helix.users", 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    """Return once ``n`` workers have joined the scheduler at ``address``."""
    from distributed import Client

    deadline = time.monotonic() + timeout
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))


def start_dask(*args: str) -> subprocess.Popen:
    """`dask ARGS` (scheduler or worker) as a separate process, its output discarded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([str(Path(sys.executable).parent / "dask"), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shutdown_dask(address: str, procs: list) -> None:
    """Stop a scheduler and its workers: asked through the scheduler (a worker stops at
    once then, where a terminated one first tries to reconnect), then as stop_processes."""
    from distributed import Client

    try:
        with Client(address, timeout="10s") as client:
            client.shutdown()
    except (OSError, TimeoutError):
        pass                           # the scheduler is gone already: signals do it
    stop_processes(procs)


def stop_processes(procs: list) -> None:
    """Terminate, then kill what has not exited after 10 s (a dask worker whose scheduler
    is gone may keep trying to reconnect)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
