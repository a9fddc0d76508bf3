"""Run a command and measure it as a whole: wall time, CPU time and peak memory of all of
its processes together (a Dask job is a client, a scheduler, nannies and workers).

Peak memory is the largest sum of the RSS of the process and all its descendants, sampled
every 50 ms, not the largest single process. The list of descendants is refreshed every
0.5 s: finding them reads every process's /proc entry, and doing that every 50 ms took
8.6 % of a core (3 % now, measured over 7 sleeping processes), taken from the job measured.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass

import psutil

POLL_SECONDS = 0.05

#: Every how many samples the process tree is listed again (a job's processes start early).
TREE_EVERY = 10


@dataclass
class Measured:
    returncode: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    stdout: str
    stderr: str


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_sample(procs: list[psutil.Process], cpu_by_pid: dict[int, float]) -> int:
    rss = 0
    for proc in procs:
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu_by_pid[proc.pid] = times.user + times.system
        except psutil.Error:
            continue
    return rss


def run_measured(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> Measured:
    """Run cmd to its end (killed after `timeout` s) and measure its whole process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        root = psutil.Process(proc.pid)
        peak, cpu_by_pid, procs, samples = 0, {}, [], 0
        while proc.poll() is None:
            if samples % TREE_EVERY == 0:
                procs = _tree(root)
            samples += 1
            peak = max(peak, _tree_sample(procs, cpu_by_pid))
            if time.perf_counter() - started > timeout:
                proc.kill()
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(returncode=proc.returncode, wall_seconds=wall,
                    cpu_seconds=max(reaped, sum(cpu_by_pid.values())), peak_rss_bytes=peak,
                    stdout=stdout, stderr=stderr)
