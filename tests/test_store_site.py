"""The store's reads for the website (viewer_history, result_keys, count_results,
latest_jobs), on SQLite and on FerretDB, like the rest of the store contract."""

from __future__ import annotations

from tpdask.stores import Store


def record(viewer: str, day: str, minutes: int = 10) -> dict:
    return {"viewer": viewer, "day": day, "samples": minutes // 5, "minutes": minutes,
            "first_ts": 100, "last_ts": 200,
            "streamers": {"chan": {"samples": minutes // 5, "minutes": minutes,
                                   "sessions": [[100, 200]]}}}


def test_viewer_history_is_the_published_records_by_day(store: Store) -> None:
    store.write_viewer_days([record("ann", "2022-08-03"), record("ann", "2022-08-01"),
                             record("bob", "2022-08-01")])
    store.write_viewer_days([record("ann", "2022-08-02", 99)], load="run-1")   # staged only
    assert [r["day"] for r in store.viewer_history("ann")] == ["2022-08-01", "2022-08-03"]
    assert store.viewer_history("ann")[0] == record("ann", "2022-08-01")
    store.publish_day("2022-08-02", "run-1")
    assert [(r["day"], r["minutes"]) for r in store.viewer_history("ann")] == [
        ("2022-08-01", 10), ("2022-08-02", 99), ("2022-08-03", 10)]
    store.write_viewer_days([record("bob", "2022-08-01", 20)], load="run-2")
    store.publish_day("2022-08-01", "run-2")            # ann is not in the new load
    assert [r["day"] for r in store.viewer_history("ann")] == ["2022-08-02", "2022-08-03"]
    assert store.viewer_history("nobody") == []


def test_viewer_history_takes_an_operator_looking_value_as_a_plain_login(store: Store) -> None:
    store.write_viewer_days([record("ann", "2022-08-01")])
    assert store.viewer_history("{'$ne': ''}") == []
    assert store.viewer_history("' OR 1=1 --") == []


def test_result_keys_from_a_start_sorted_and_limited(store: Store) -> None:
    store.upsert_results("profiles", "", {k: {"v": k} for k in ("m", "c", "x", "a", "q")})
    store.replace_results("profiles", "other", {"b": {}})
    assert store.result_keys("profiles", "") == ["a", "c", "m", "q", "x"]
    assert store.result_keys("profiles", "", start="d", limit=2) == ["m", "q"]
    assert store.result_keys("profiles", "", start="m", limit=1) == ["m"]
    assert store.result_keys("profiles", "", start="y") == []
    assert store.result_keys("bots", "") == []


def test_count_results_by_kind_and_scope(store: Store) -> None:
    store.replace_results("bots", "2022-08-01", {"a": {}, "b": {}})
    store.replace_results("bots", "2022-08-02", {"c": {}})
    assert store.count_results("bots") == 3
    assert store.count_results("bots", "2022-08-02") == 1
    assert store.count_results("profiles") == 0


def test_latest_jobs_are_the_newest_first(store: Store) -> None:
    for i in range(5):
        store.record_job("process", f"2022-08-0{i + 1}", "done", {"viewers": i}, 1000.0 + i,
                         1010.0 + i)
    store.record_job("verify", "", "failed", {"error": "x"}, 1002.5, None)
    latest = store.latest_jobs(3)
    assert [(j["job"], j["day"]) for j in latest] == [
        ("process", "2022-08-05"), ("process", "2022-08-04"), ("verify", "")]
    assert latest[0]["report"] == {"viewers": 4} and latest[2]["finished_at"] is None
    assert store.latest_jobs(10) == store.job_runs()


def test_size_bytes_grows_with_what_the_store_holds(store: Store) -> None:
    before = store.size_bytes()
    assert isinstance(before, int) and before >= 0
    store.write_viewer_days([record(f"viewer{i:04d}", "2022-08-01") for i in range(300)])
    assert store.size_bytes() > before
