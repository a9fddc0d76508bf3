"""The lake tables the day job keeps besides viewer_days: streams, chatter_ids and times."""

from __future__ import annotations

import pyarrow.parquet as pq

from jobs.process_day import process_command
from tests.support import make_config, sample, write_samples
from tpdask.process import lake

DAY = "2022-08-01"
T0 = 1659312000
QUIET = dict(log=lambda m: None)


def read(config, table: str) -> list[dict]:
    folder = lake.day_dir(config.lake_dir, table, DAY)
    return [row for f in sorted(folder.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def with_ids(s: dict, streamer: str, ids: list) -> dict:
    s["streams"][streamer]["chatter_ids"] = ids
    return s


SAMPLES = [
    # alice listed twice and " BOB " dirty-but-valid: 2 distinct valid logins; "x y" invalid
    with_ids(sample(T0 + 600, {"stream_a": ["alice", "alice", " BOB ", "x y"],
                               "stream_b": []}), "stream_a", ["11", "11", "12", None]),
    sample(T0, {"stream_a": ["carol"]}),
    with_ids(sample(T0 + 300, {"stream_b": ["alice", "dave"]}), "stream_b", [None, "not-an-id"]),
]


def test_streams_keeps_one_row_per_sample_and_stream_with_its_metadata(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, SAMPLES)
    process_command(config, DAY, local=True, **QUIET)
    rows = sorted(read(config, "streams"), key=lambda r: (r["ts"], r["streamer"]))
    assert [(r["ts"], r["streamer"], r["chatters"]) for r in rows] == [
        (T0, "stream_a", 1), (T0 + 300, "stream_b", 2),
        (T0 + 600, "stream_a", 2), (T0 + 600, "stream_b", 0)]
    first = rows[0]
    assert first == {"ts": T0, "streamer": "stream_a", "user_id": "1", "viewer_count": 3,
                     "chatters": 1, "title": "t", "game_name": "g", "language": "fr",
                     "started_at": "2022-08-01T00:00:00Z"}


def test_chatter_ids_keeps_the_distinct_valid_pairs_reported(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, SAMPLES)
    process_command(config, DAY, local=True, **QUIET)
    pairs = sorted((r["viewer"], r["user_id"]) for r in read(config, "chatter_ids"))
    assert pairs == [("alice", "11"), ("bob", "12")]


def test_times_is_the_sorted_list_of_the_days_sample_times(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, SAMPLES)
    process_command(config, DAY, local=True, **QUIET)
    assert lake.read_times(config.lake_dir, DAY).to_pylist() == [T0, T0 + 300, T0 + 600]
    assert [r["ts"] for r in read(config, "times")] == [T0, T0 + 300, T0 + 600]


def test_processing_again_replaces_every_table_of_the_day(tmp_path):
    config = make_config(tmp_path)
    write_samples(config, DAY, SAMPLES)
    process_command(config, DAY, local=True, **QUIET)
    (config.samples_dir / DAY / f"{T0}.json").unlink()
    process_command(config, DAY, workers=2, **QUIET)
    assert lake.read_times(config.lake_dir, DAY).to_pylist() == [T0 + 300, T0 + 600]
    assert {r["ts"] for r in read(config, "streams")} == {T0 + 300, T0 + 600}
    for table in lake.TABLES:
        assert sorted(p.name for p in (config.lake_dir / table).iterdir()) == [f"day={DAY}"]
