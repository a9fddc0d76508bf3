"""`tpdask bench web` end to end at a small scale: the data set is built by the real jobs on
a real Dask cluster, `tpdask web` serves it, clients log in and time the pages; a second
run reuses the data set."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest


def bench(data_dir, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tpdask", "--data_dir", str(data_dir), "bench", "web",
           "--records", "3000", "--days", "3", "--clients", "2", "--workers", "1", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_bench_web_builds_the_data_set_once_and_times_every_page(tmp_path):
    first = bench(tmp_path, "--seconds", "2")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    saved = sorted((tmp_path / "bench").glob("bench-web-3000-3-*.json"))
    assert len(saved) == 1
    result = orjson.loads(saved[0].read_bytes())
    counts = result["counts"]
    assert 2800 <= counts["records"] <= 3200 and counts["days"] == 3
    assert counts["analysed_days"] == 3 and counts["profiles"] > 900
    assert counts["overlap_pairs"] > 0 and sum(counts["statuses"].values()) == counts["profiles"]
    assert result["streamer_pages"] > 10
    for phase, clients in (("one_client", 1), ("concurrent", 2)):
        figures = result[phase]
        assert figures["clients"] == clients and figures["errors"] == 0, figures
        assert set(figures["pages"]) == {"dashboard", "streamer", "broadcast", "rankings",
                                         "stream_health", "viewer_random", "viewer"}
        for page in figures["pages"].values():
            assert page["requests"] > 0
            assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"]
    assert "p95 ms" in first.stdout and "3 analysed" in first.stdout

    again = bench(tmp_path, "--seconds", "1")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "reused" in again.stderr and "building" not in again.stderr   # progress: stderr
    assert len(list((tmp_path / "bench").glob("bench-web-3000-3-*.json"))) == 2
