"""Jobs announce themselves in the data folder while their cluster runs (tpdask.running)."""

import subprocess
import sys

import orjson

from tpdask.running import announce, running_dir, running_jobs


def test_a_job_is_listed_while_it_runs_and_not_after(tmp_path):
    folder = running_dir(tmp_path)
    with announce(folder, "process 2022-08-01", "http://127.0.0.1:8787/status"):
        [entry] = running_jobs(folder)
        assert (entry["job"], entry["dashboard"]) == ("process 2022-08-01",
                                                      "http://127.0.0.1:8787/status")
    assert running_jobs(folder) == []
    assert list(folder.iterdir()) == []


def test_the_file_of_a_killed_job_is_ignored_and_removed_by_the_next_one(tmp_path):
    folder = running_dir(tmp_path)
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)                 # a process that has exited: as after a SIGKILL
    (folder / f"{pid}.json").write_bytes(orjson.dumps({"job": "process 2022-08-02",
                                                       "dashboard": None, "pid": pid}))
    (folder / "junk.json").write_bytes(b"{not json")
    assert running_jobs(folder) == []
    with announce(folder, "analyse 2022-08-02..2022-08-02", None):
        assert [e["job"] for e in running_jobs(folder)] == ["analyse 2022-08-02..2022-08-02"]
        assert not (folder / f"{pid}.json").exists()
