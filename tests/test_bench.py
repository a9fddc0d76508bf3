"""`tpdask bench` works end to end at a tiny scale (figures are quoted from real runs in
docs/benchmarks.md; no test asserts on timings)."""

from __future__ import annotations

import orjson

import pytest

from tests.support import tpdask_process as tpdask

pytestmark = pytest.mark.slow


def test_bench_times_the_job_and_the_baseline_and_saves_the_figures(tmp_path):
    out = tpdask("--data_dir", str(tmp_path), "bench", "--scale", "0.005",
                 "--baseline_scale", "0.005", "--workers", "2").stdout
    assert "peak memory, all processes (MiB)" in out
    [saved] = (tmp_path / "bench").glob("bench-scale0.005-*.json")
    result = orjson.loads(saved.read_bytes())
    job, baseline = result["tpdask"], result["baseline"]
    assert job["observations"] == baseline["observations"] > 0     # same day, same counts
    assert job["viewers"] == baseline["viewers"]
    assert job["workers"] == 2 and job["peak_rss_mb"] > 0 and job["cpu_seconds"] > 0
    from tpdask.archive.pack import filters_tag

    assert (tmp_path / "bench" / "inputs" / f"scale-0.005-seed-1-{filters_tag()}.7z").exists()


def test_the_dask_bag_path_of_benchmarks_md_inverts_the_day_as_the_reference(tmp_path):
    """tpdask.bench.bag (the design card's dask.bag + groupby, measured once in
    docs/benchmarks.md) does the same inversion: same viewers, sessions, observations."""
    from tpdask.bench.bag import run_bag
    from tpdask.process.reference import reference_viewer_days
    from tpdask.simulator.audience import AudienceConfig, write_day

    day = "2022-08-01"
    files = write_day(tmp_path, day, AudienceConfig(seed=2, scale=0.003, dirty=True, gaps=True))
    expected = reference_viewer_days([orjson.loads(f.read_bytes()) for f in files], day)
    got = run_bag(files[0].parent, day, workers=2)
    assert got == {
        "viewers": len(expected),
        "sessions": sum(len(s["sessions"]) for r in expected.values()
                        for s in r["streamers"].values()),
        "observations": sum(s["samples"] for r in expected.values()
                            for s in r["streamers"].values()),
    } and got["viewers"] > 0


def test_the_duckdb_peer_inverts_a_dirty_day_with_gaps_as_the_reference(tmp_path):
    """The peer of `bench --peer duckdb` is the same inversion: its counts equal the
    reference's on a day with invalid entries and collection gaps."""
    from tpdask.bench.peer import run_peer
    from tpdask.process.reference import reference_viewer_days
    from tpdask.simulator.audience import AudienceConfig, write_day

    day = "2022-08-01"
    files = write_day(tmp_path, day, AudienceConfig(seed=3, scale=0.003, dirty=True, gaps=True))
    expected = reference_viewer_days([orjson.loads(f.read_bytes()) for f in files], day)
    got = run_peer(files[0].parent, tmp_path / "peer.parquet", day, threads=2)
    assert (got["viewers"], got["sessions"], got["observations"]) == (
        len(expected),
        sum(len(s["sessions"]) for r in expected.values() for s in r["streamers"].values()),
        sum(s["samples"] for r in expected.values() for s in r["streamers"].values()),
    ) and got["viewers"] > 0


def test_bench_with_the_duckdb_peer_prints_both_figures_and_the_ratio(tmp_path):
    out = tpdask("--data_dir", str(tmp_path), "bench", "--scale", "0.005",
                 "--baseline_scale", "0", "--workers", "2", "--peer", "duckdb").stdout
    assert "duckdb peer" in out and "peer / tpdask" in out
    [saved] = (tmp_path / "bench").glob("bench-scale0.005-*.json")
    result = orjson.loads(saved.read_bytes())
    assert result["peer"]["peer"] == "duckdb"
    assert result["peer"]["observations"] == result["tpdask"]["observations"] > 0
    assert result["peer"]["viewers"] == result["tpdask"]["viewers"]


def test_bench_nightly_times_the_chain_from_loose_samples(tmp_path):
    out = tpdask("--data_dir", str(tmp_path), "bench", "--job", "nightly", "--scale", "0.002",
                 "--workers", "1").stdout
    assert "bench nightly: scale 0.002" in out and "peak memory (all processes)" in out
    [saved] = (tmp_path / "bench").glob("bench-nightly-scale0.002-*.json")
    result = orjson.loads(saved.read_bytes())
    assert [(s, v["verdict"]) for s, v in result["stages"].items()] == [
        ("archive", "done"), ("process", "done"), ("prune", "skipped"), ("analyse", "done"),
        ("verify", "skipped")]
    assert result["wall_seconds"] > 0 and result["peak_rss_mb"] > 0
    # the cached loose day survives: the run archived (deleted) only its hard links
    assert len(list((tmp_path / "bench" / "inputs").glob("scale-0.002-seed-1/*/*.json"))) == 288


def test_bench_insight_times_broadcasts_and_flows_after_the_analyser(tmp_path):
    out = tpdask("--data_dir", str(tmp_path), "bench", "--job", "insight", "--days", "2",
                 "--scale", "0.002", "--workers", "1").stdout
    assert "bench insight: scale 0.002, 2 days" in out
    assert "analyse (all days at once):" in out and "export broadcasts:" in out
    assert "export flows:" in out and "pairs" in out


def test_bench_archive_times_the_archiver_and_the_read_back(tmp_path):
    out = tpdask("--data_dir", str(tmp_path), "--archive_block_mb", "0.01", "bench", "--job",
                 "archive", "--scale", "0.005").stdout
    assert "tpdask archive:" in out and "read back in one pass" in out
    [saved] = (tmp_path / "bench").glob("bench-archive-scale0.005-*.json")
    result = orjson.loads(saved.read_bytes())
    assert result["members"] == result["files"] == 288
    assert result["folders"] > 1 and result["archive_mb"] > 0 and result["wall_seconds"] > 0
    inputs = tmp_path / "bench" / "inputs" / "scale-0.005-seed-1" / "2022-08-01"
    assert len(list(inputs.glob("*.json"))) == 288            # the inputs are kept
