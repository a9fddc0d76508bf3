"""Where a job's tasks run: in this process (for debugging and small tests) or on Dask.

Both executors take the same plan, a list of small frozen task objects and a function,
so a job is written once and runs under either (the rechunker pattern). Each ``map`` is
a phase whose progress, one step per finished task, goes to the executor's log
(:func:`tpdask.log.progress`: a bar, timestamped lines, or a few messages).
"""

from __future__ import annotations

import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence, TypeVar
from urllib.parse import urlsplit

from tpdask.errors import JobError, UsageError
from tpdask.log import Log, print_log, progress
from tpdask.running import announce, running_dir

T = TypeVar("T")
R = TypeVar("R")

#: A local cluster runs single-threaded worker processes: one per core is what runs at
#: once; beyond this many per core they only compete for memory (each holds its buckets,
#: ~100 MB or more) and take longer to start, and a typo (--workers 2000) would start
#: thousands of processes. More workers than that means more machines: --scheduler.
WORKERS_PER_CPU = 4
#: ... but never a bound below this, so that small machines may still try a few workers.
WORKERS_FLOOR = 16
#: The protocols a Dask scheduler listens on that another process can reach.
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def most_workers() -> int:
    """The largest --workers a local cluster on this machine may be asked for."""
    return max(WORKERS_FLOOR, WORKERS_PER_CPU * (os.cpu_count() or 1))


def check_workers(workers: int | None) -> int | None:
    """--workers N for a local cluster: None (one per core), or 1 to :func:`most_workers`.
    Anything else is a command-line mistake (UsageError), found before anything starts."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"--workers must be 1 or more, got {workers!r} (leave it out for one "
                         "worker per core)")
    if workers > most_workers():
        raise UsageError(f"--workers {workers} is more than {most_workers()}, {WORKERS_PER_CPU} "
                         f"per core of this machine ({os.cpu_count()} cores): more local worker "
                         "processes than that only compete for memory; for more, run a "
                         "cluster and give --scheduler tcp://HOST:PORT")
    return workers


def check_scheduler(address: str | None) -> str | None:
    """--scheduler ADDR: a Dask scheduler's address, PROTOCOL://HOST:PORT as `dask scheduler`
    prints it (tcp, tls, ws, wss, ucx; HOST:PORT alone means tcp, as for dask). Anything
    else is a command-line mistake (UsageError), found before anything starts; whether a
    scheduler answers there is found when the job connects (JobError)."""
    if address is None:
        return None
    text = str(address).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    example = "give the address `dask scheduler` prints, e.g. --scheduler tcp://10.0.0.5:8786"
    if scheme == "inproc":
        raise UsageError(f"--scheduler {text}: an inproc:// scheduler lives inside one Python "
                         f"process and tpdask cannot reach it; {example}")
    if scheme not in SCHEDULER_SCHEMES:
        raise UsageError(f"--scheduler {text}: unknown protocol {scheme!r} (Dask's are "
                         f"{', '.join(SCHEDULER_SCHEMES)}); {example}")
    parts = urlsplit(f"{scheme}://{rest}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if (not parts.hostname or port is None or port < 1 or parts.path not in ("", "/")
            or parts.query or parts.fragment or "@" in parts.netloc):
        raise UsageError(f"--scheduler {text} is not a scheduler address (PROTOCOL://HOST:PORT); "
                         f"{example}")
    return text


class Executor(Protocol):
    workers: int

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], label: str) -> list[R]:
        """Run fn on every task; results in task order."""


class LocalExecutor:
    """Runs every task in this process, one after the other."""

    workers = 1

    def __init__(self, log: Log = print_log):
        self.log = log

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], label: str) -> list[R]:
        results = []
        with progress(self.log, label, len(tasks)) as bar:
            for task in tasks:
                results.append(fn(task))
                bar.update()
        return results


class ThreadExecutor:
    """Runs tasks on threads of this process: for short jobs whose tasks spend their time
    in pyarrow and numpy, which release the GIL (the overlap of an export), where starting
    a Dask cluster would cost more than it saves."""

    def __init__(self, workers: int | None = None, log: Log = print_log):
        self.workers = int(workers or os.cpu_count() or 1)
        self.log = log

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], label: str) -> list[R]:
        from concurrent.futures import ThreadPoolExecutor

        results = []
        with ThreadPoolExecutor(self.workers) as pool, \
                progress(self.log, label, len(tasks)) as bar:
            for result in pool.map(fn, tasks):     # in task order, as each is ready
                results.append(result)
                bar.update()
        return results


class DaskExecutor:
    """Runs tasks on a Dask cluster through a distributed Client, reporting progress."""

    def __init__(self, client, log: Log = print_log):
        self.client = client
        self.log = log
        self.workers = max(1, sum(w.get("nthreads", 1) for w in
                                  client.scheduler_info()["workers"].values()))

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], label: str) -> list[R]:
        from distributed import as_completed

        if not tasks:
            return []
        # unique per call: two jobs on one long-lived cluster must never share a task key
        # (the dashboard still groups by the label, dask's key_split drops the hex part)
        run = uuid.uuid4().hex
        futures = self.client.map(fn, tasks, pure=False,
                                  key=[f"{label}-{run}-{i}" for i in range(len(tasks))])
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(tasks)
        # loop= this job's client: as_completed otherwise follows the process's default
        # client, which is whichever Client was made last — with two jobs running in one
        # process (threads), one of them then waited for ever (dask/distributed#4357)
        with progress(self.log, label, len(tasks)) as bar:
            for future in as_completed(futures, loop=self.client.loop):
                try:
                    results[index[future.key]] = future.result()
                except Exception as exc:
                    self.client.cancel(futures)
                    raise JobError(f"{label} task {index[future.key]} failed: {exc!r}") from exc
                bar.update()
        return results


def malloc_trim() -> bool:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``); False where
    there is no glibc. Freed Python and Arrow buffers otherwise stay in the process's RSS."""
    import ctypes

    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def release_memory(executor: Executor) -> None:
    """Between two jobs on one executor (the nightly chain), give the memory the first one
    freed back to the system, in this process and on every Dask worker, so the second
    job's peak does not stack on the first one's leftovers."""
    import gc

    gc.collect()
    malloc_trim()
    client = getattr(executor, "client", None)
    if client is not None:
        client.run(_collect_and_trim)


def _collect_and_trim() -> bool:
    import gc

    gc.collect()
    return malloc_trim()


def reports_dir(data_dir: Path) -> Path:
    """Where jobs keep the performance reports of their Dask runs."""
    return Path(data_dir) / "reports"


#: What a job names its report: ``<job>-<day>-<run id>.html`` (jobs/process_day.py, analyse.py).
REPORT_NAME = re.compile(r"(process|analyse)-\d{4}-\d{2}-\d{2}-[0-9]+-[0-9]+-[0-9a-f]+\.html")


def report_name(path: object) -> str | None:
    """The file name of a job report's path when it is one of ours, else None."""
    name = Path(path).name if isinstance(path, str) else ""
    return name if REPORT_NAME.fullmatch(name) else None


@contextmanager
def performance_report(executor: Executor, path: Path) -> Iterator[str | None]:
    """Save distributed's performance report of the block (task stream, worker memory,
    profiles) as HTML at ``path`` when ``executor`` runs on Dask; yields the path, or None
    for an executor without a cluster."""
    client = getattr(executor, "client", None)
    if client is None:
        yield None
        return
    from distributed import performance_report as dask_report

    path.parent.mkdir(parents=True, exist_ok=True)
    # as_current: the report asks for "the" client, which two jobs in one process share
    # inline: BokehJS in the file itself, so it opens on a machine without internet
    with client.as_current(), dask_report(filename=str(path), mode="inline"):
        yield str(path)


@contextmanager
def dask_executor(scheduler: str | None = None, workers: int | None = None,
                  log: Log = print_log,
                  dashboard_host: str = "127.0.0.1", data_dir: Path | None = None,
                  job: str = "") -> Iterator[DaskExecutor]:
    """A DaskExecutor on an existing scheduler, or on a new LocalCluster of worker processes.

    With ``data_dir``, the job (named ``job``) is announced there with its dashboard link
    while the cluster runs (see :mod:`tpdask.running`: the website links it).

    The local cluster's dashboard listens on ``dashboard_host`` only (the setting of that
    name; dask's own default, ``:8787``, is every interface). When port 8787 is taken, dask
    warns and picks a free port on the same address; the address printed is the real one.
    """
    import dask
    from distributed import Client

    check_scheduler(scheduler)
    check_workers(workers)
    cluster = None
    try:
        if scheduler:
            # dask's connect timeout (30 s unless the dask config says otherwise, e.g.
            # DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s): then one line, not a wait for ever
            timeout = dask.config.get("distributed.comm.timeouts.connect")
            client = Client(scheduler, timeout=timeout)
        else:
            cluster = local_cluster(int(workers or os.cpu_count() or 1), dashboard_host)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise JobError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; "
                       "is `dask scheduler` running there?") from None
    try:
        link = dashboard_link(client, cluster, dashboard_host)
        log(f"Dask dashboard: {link}")
        if data_dir is None:
            yield DaskExecutor(client, log)
        else:
            with announce(running_dir(data_dir), job, link):
                yield DaskExecutor(client, log)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def local_cluster(workers: int, dashboard_host: str):
    """A LocalCluster of worker processes, its dashboard on dashboard_host:8787."""
    import dask
    from distributed import LocalCluster

    try:
        with dask.config.set({"distributed.worker.daemon": False}):
            # a (host, port) pair: dask splits a "host:port" string at every colon (IPv6)
            return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                dashboard_address=[(dashboard_host, 8787)], silence_logs=40)
    except (OSError, RuntimeError) as exc:
        raise JobError(f"cannot start a local Dask cluster: {exc} (its dashboard listens on "
                       f"{dashboard_host}, the dashboard_host setting)") from None


def dashboard_link(client, cluster, host: str) -> str:
    """Where the dashboard really is: a local cluster's on the address it listens on."""
    if cluster is None:
        return client.dashboard_link
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # every interface: loopback is one of them
    return f"http://{_bracket(host)}:{cluster.scheduler.http_server.port}/status"


def _bracket(host: str) -> str:
    """An IPv6 address in brackets, as URLs want it."""
    return f"[{host}]" if ":" in host else host
