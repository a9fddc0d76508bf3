"""`tpdask bench` works end to end at a tiny scale (figures are quoted from real runs in
docs/benchmarks.md; no test asserts on timings)."""

from __future__ import annotations

import orjson

from tests.test_cli import tpdask


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
    assert (tmp_path / "bench" / "inputs" / "scale-0.005-seed-1.7z").exists()


def test_the_dask_bag_path_of_benchmarks_md_inverts_the_day_as_the_reference(tmp_path):
    """tpdask.bench_bag (the design card's dask.bag + groupby, measured once in
    docs/benchmarks.md) does the same inversion: same viewers, sessions, observations."""
    from tpdask.audience import AudienceConfig, write_day
    from tpdask.bench_bag import run_bag
    from tpdask.reference import reference_viewer_days

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
