"""Where a job's tasks run: in this process (for debugging and small tests) or on Dask.

Both executors take the same plan, a list of small frozen task objects and a function,
so a job is written once and runs under either (the rechunker pattern). Each ``map`` is
a phase whose progress, one step per finished task, goes to the executor's log
(:func:`tpdask.log.progress`: a bar, timestamped lines, or a few messages).
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence, TypeVar

from tpdask.errors import JobError
from tpdask.log import Log, print_log, progress
from tpdask.running import announce, running_dir

T = TypeVar("T")
R = TypeVar("R")


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
    from distributed import Client

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="30s")
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
