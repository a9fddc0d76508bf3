"""The store contract: what every backend promises, checked on SQLite and on FerretDB.

Each test that takes the ``store`` fixture runs twice, as ``test_…[sqlite]`` and
``test_…[mongodb]``, against a real engine.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

from tests.support import record
from tpdask.errors import ConfigError, StoreError
from tpdask.stores import Store, close_cached_stores, open_store, store_for
from tpdask.stores.sqlite import MIGRATIONS, SQLiteStore

DAY = "2022-08-01"
NEXT_DAY = "2022-08-02"


def many(count: int, day: str = DAY, prefix: str = "viewer") -> list[dict]:
    return [record(f"{prefix}_{i:05d}", day) for i in range(count)]


# --- viewer days --------------------------------------------------------------------------


def test_records_come_back_exactly_as_written(store: Store) -> None:
    written = [
        record("alice", minutes=190),
        record("bob", minutes=2.5),
        record("carol", minutes=190.0),
        record(
            "dave",
            a_streamer={"samples": 2, "minutes": 10, "sessions": [[1659348002, 1659348302]]},
            b_streamer_2={
                "samples": 3,
                "minutes": 12.5,
                "sessions": [[1659350000, 1659350300], [1659360000, 1659360000]],
            },
        ),
    ]
    assert store.write_viewer_days(written) == 4

    read = list(store.iter_viewer_days(DAY))

    assert read == written
    for got, want in zip(read, written, strict=True):
        assert list(got) == list(want)  # same keys, nothing added (no _id)
        assert type(got["minutes"]) is type(want["minutes"])  # 190 stays int, 190.0 float
        for login, streamer in got["streamers"].items():
            assert type(streamer["minutes"]) is type(want["streamers"][login]["minutes"])


def test_writing_a_record_twice_leaves_one(store: Store) -> None:
    store.write_viewer_days([record("alice")])
    store.write_viewer_days([record("alice")])
    assert store.count_viewer_days(DAY) == 1


def test_writing_a_key_again_replaces_the_record(store: Store) -> None:
    store.write_viewer_days([record("alice", minutes=5)])
    store.write_viewer_days([record("alice", minutes=10)])
    assert [r["minutes"] for r in store.iter_viewer_days(DAY)] == [10]


def test_within_a_batch_the_last_record_of_a_key_wins(store: Store) -> None:
    assert store.write_viewer_days([record("alice", minutes=5), record("alice", minutes=10)]) == 1
    assert [r["minutes"] for r in store.iter_viewer_days(DAY)] == [10]


def test_iteration_is_sorted_by_viewer(store: Store) -> None:
    viewers = ["zed", "alice", "_under", "bob_2", "0day", "bob"]
    store.write_viewer_days([record(v) for v in viewers])
    assert [r["viewer"] for r in store.iter_viewer_days(DAY)] == sorted(viewers)


def test_days_lists_the_days_present_sorted(store: Store) -> None:
    assert store.days() == []
    store.write_viewer_days([record("alice", NEXT_DAY), record("alice", DAY), record("bob", DAY)])
    assert store.days() == [DAY, NEXT_DAY]


def test_count_and_iteration_are_per_day(store: Store) -> None:
    store.write_viewer_days(many(3, DAY) + many(2, NEXT_DAY))
    assert store.count_viewer_days(DAY) == 3
    assert store.count_viewer_days(NEXT_DAY) == 2
    assert store.count_viewer_days("2022-08-03") == 0
    assert {r["day"] for r in store.iter_viewer_days(NEXT_DAY)} == {NEXT_DAY}


def test_delete_day_then_rewrite_gives_the_same_content(store: Store) -> None:
    records = many(50)
    store.write_viewer_days(records)
    before = list(store.iter_viewer_days(DAY))

    assert store.delete_day(DAY) == 50
    assert store.count_viewer_days(DAY) == 0
    assert store.days() == []

    store.write_viewer_days(records)
    assert list(store.iter_viewer_days(DAY)) == before


def test_delete_day_leaves_other_days_untouched(store: Store) -> None:
    store.write_viewer_days(many(5, DAY) + many(7, NEXT_DAY))
    other_before = list(store.iter_viewer_days(NEXT_DAY))

    assert store.delete_day(DAY) == 5
    assert store.delete_day(DAY) == 0

    assert list(store.iter_viewer_days(NEXT_DAY)) == other_before
    assert store.days() == [NEXT_DAY]


def test_a_batch_larger_than_1000_records(store: Store) -> None:
    records = many(1500)
    assert store.write_viewer_days(records) == 1500
    assert store.count_viewer_days(DAY) == 1500
    assert list(store.iter_viewer_days(DAY)) == records  # names are zero-padded: sorted


def test_rewriting_a_partly_written_day_replaces_it(store: Store) -> None:
    """What a Dask task re-run after its worker died does: most records are already there.

    Over 100 existing records: FerretDB 1.24 deadlocks on an update command matching 100.
    """
    store.write_viewer_days(many(150))
    changed = [record(f"viewer_{i:05d}", minutes=5) for i in range(200)]

    assert store.write_viewer_days(changed) == 200

    assert list(store.iter_viewer_days(DAY)) == changed


# --- staged day loads: readers see the old day or the whole new one --------------------


def test_staged_records_are_invisible_until_the_load_is_published(store: Store) -> None:
    store.write_viewer_days(many(3, DAY, prefix="old"))
    store.write_viewer_days(many(5, DAY, prefix="new"), load="run-2")
    assert [r["viewer"] for r in store.iter_viewer_days(DAY)] == [f"old_{i:05d}" for i in range(3)]
    assert store.count_viewer_days(DAY) == 3
    assert store.publish_day(DAY, "run-2") == 5
    assert [r["viewer"] for r in store.iter_viewer_days(DAY)] == [f"new_{i:05d}" for i in range(5)]
    assert store.count_viewer_days(DAY) == 5
    assert store.days() == [DAY]


def test_a_day_staged_but_never_published_is_not_listed(store: Store) -> None:
    store.write_viewer_days(many(4, NEXT_DAY), load="died")
    assert store.days() == []
    assert store.count_viewer_days(NEXT_DAY) == 0
    assert list(store.iter_viewer_days(NEXT_DAY)) == []


def test_publishing_drops_every_other_load_of_the_day(store: Store) -> None:
    store.write_viewer_days(many(2, DAY, prefix="direct"))
    store.write_viewer_days(many(3, DAY, prefix="dead"), load="run-1")
    store.write_viewer_days(many(4, DAY, prefix="good"), load="run-2")
    store.write_viewer_days(many(6, NEXT_DAY), load="run-1")
    store.publish_day(DAY, "run-2")
    assert store.drop_unpublished(DAY) == 0          # nothing of DAY is left behind
    assert store.count_viewer_days(DAY) == 4
    assert store.drop_unpublished(NEXT_DAY) == 6     # other days' staging is not touched
    assert store.days() == [DAY]


def test_drop_unpublished_keeps_the_published_day(store: Store) -> None:
    store.write_viewer_days(many(3, DAY), load="run-1")
    store.publish_day(DAY, "run-1")
    store.write_viewer_days(many(7, DAY, prefix="killed"), load="run-2")
    assert store.drop_unpublished(DAY) == 7
    assert [r["viewer"] for r in store.iter_viewer_days(DAY)] == [f"viewer_{i:05d}" for i in range(3)]


def test_publishing_an_empty_load_empties_the_day(store: Store) -> None:
    store.write_viewer_days(many(3, DAY))
    assert store.publish_day(DAY, "empty-run") == 0
    assert store.count_viewer_days(DAY) == 0
    assert store.days() == []


def test_a_direct_write_goes_into_the_published_load(store: Store) -> None:
    store.write_viewer_days(many(2, DAY), load="run-1")
    store.publish_day(DAY, "run-1")
    store.write_viewer_days([record("late", minutes=5)])
    assert store.count_viewer_days(DAY) == 3
    store.write_viewer_days([record("late", minutes=10)], load="run-1")   # same key: replaced
    assert [r["minutes"] for r in store.iter_viewer_days(DAY) if r["viewer"] == "late"] == [10]


def test_delete_day_removes_staged_and_published_records(store: Store) -> None:
    store.write_viewer_days(many(2, DAY))
    store.write_viewer_days(many(3, DAY), load="run-9")
    assert store.delete_day(DAY) == 2
    assert store.drop_unpublished(DAY) == 0
    assert store.days() == []


def test_threads_share_one_store(store: Store) -> None:
    """Dask runs several tasks at once in each worker process, all through store_for()."""
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(lambda p: store.write_viewer_days(many(300, prefix=p)), "abcd"))
        counts = list(pool.map(lambda _: store.count_viewer_days(DAY), range(4)))
    assert written == [300] * 4
    assert counts == [1200] * 4


def test_writing_nothing_is_fine(store: Store) -> None:
    assert store.write_viewer_days([]) == 0
    assert store.days() == []


def test_a_malformed_record_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="unexpected keys \\['extra'\\]"):
        store.write_viewer_days([{**record("alice"), "extra": 1}])
    with pytest.raises(StoreError, match="missing keys \\['streamers'\\]"):
        store.write_viewer_days([{k: v for k, v in record("alice").items() if k != "streamers"}])
    assert store.count_viewer_days(DAY) == 0


# --- job ledger ---------------------------------------------------------------------------


def test_ledger_appends_one_entry_per_run_newest_first(store: Store) -> None:
    assert store.job_runs() == []
    store.record_job("process", DAY, "ok", {"viewers": 3, "buckets": [[0, 1], [2]]}, 100.0, 160.5)
    store.record_job("process", DAY, "failed", {"error": "boom"}, 200, None)
    store.record_job("analyse", DAY, "ok", {}, 300.0, 301.0)
    store.record_job("process", NEXT_DAY, "ok", {}, 300.0, 302.0)  # same start: recorded later

    runs = store.job_runs()
    assert [(r["job"], r["day"], r["started_at"]) for r in runs] == [
        ("process", NEXT_DAY, 300.0),
        ("analyse", DAY, 300.0),
        ("process", DAY, 200.0),
        ("process", DAY, 100.0),
    ]
    assert runs[-1] == {
        "job": "process",
        "day": DAY,
        "status": "ok",
        "report": {"viewers": 3, "buckets": [[0, 1], [2]]},
        "started_at": 100.0,
        "finished_at": 160.5,
    }
    assert runs[-2]["finished_at"] is None
    assert type(runs[-2]["started_at"]) is float


def test_ledger_filters_by_job_and_day(store: Store) -> None:
    store.record_job("process", DAY, "ok", {}, 1.0, 2.0)
    store.record_job("process", NEXT_DAY, "ok", {}, 3.0, 4.0)
    store.record_job("analyse", DAY, "ok", {}, 5.0, 6.0)

    assert [r["day"] for r in store.job_runs(job="process")] == [NEXT_DAY, DAY]
    assert [r["job"] for r in store.job_runs(day=DAY)] == ["analyse", "process"]
    assert [r["started_at"] for r in store.job_runs(job="process", day=DAY)] == [1.0]
    assert store.job_runs(job="verify") == []


def test_a_store_is_a_context_manager(store: Store) -> None:
    with store as same:
        assert same is store
    assert store.closed


# --- SQLite specifics ---------------------------------------------------------------------


def _write_share(uri: str, prefix: str) -> int:
    """One Dask-worker-like process: several batches through the per-process store."""
    written = 0
    for batch in range(5):
        written += store_for(uri).write_viewer_days(many(600, prefix=f"{prefix}{batch}"))
    store_for(uri).record_job("process", DAY, "ok", {"prefix": prefix}, time.time(), time.time())
    return written


def test_two_processes_write_the_same_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared' / 'tpdask.sqlite'}"  # the folder does not exist yet
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        written = pool.starmap(_write_share, [(uri, "a"), (uri, "b")])

    assert written == [3000, 3000]
    with open_store(uri) as store:
        assert store.count_viewer_days(DAY) == 6000
        assert len(store.job_runs()) == 2


def _open_at(path: Path, start_at: float) -> str:
    """Open a store at ``path`` at the given moment; the error text, or "" when it opened."""
    while time.time() < start_at:
        pass
    try:
        with open_store(f"sqlite:///{path}") as store:
            store.count_viewer_days(DAY)
    except StoreError as e:
        return str(e)
    return ""


def test_many_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    # What every Dask worker does at the start of a job on a fresh data folder. SQLite
    # answers "database is locked" at once, without waiting, to some of them (a quarter of
    # the rounds failed before the store retried the switch to WAL).
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        for attempt in range(10):
            path = tmp_path / str(attempt) / "tpdask.sqlite"
            start_at = time.time() + 0.3
            errors = pool.starmap(_open_at, [(path, start_at)] * 8)
            assert errors == [""] * 8, f"round {attempt}: {errors}"


def test_opening_an_up_to_date_sqlite_store_does_not_wait_for_a_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from tpdask.stores import sqlite as sqlite_store

    path = tmp_path / "t.sqlite"
    with open_store(f"sqlite:///{path}"):
        pass
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a job's worker in the middle of a write
    # busy timeout 0: waiting for the writer's lock at all would fail at once (a bound on
    # the seconds it took stood here before)
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0)
    try:
        with open_store(f"sqlite:///{path}") as store:  # e.g. the website, or `export`
            assert store.count_viewer_days(DAY) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_sqlite_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///data/relative.sqlite") as relative:
        assert isinstance(relative, SQLiteStore)
        assert relative.path.resolve() == tmp_path / "data" / "relative.sqlite"
    with open_store(f"sqlite:///{tmp_path}/absolute.sqlite") as absolute:
        assert absolute.path == tmp_path / "absolute.sqlite"
    assert (tmp_path / "data" / "relative.sqlite").exists()


def test_sqlite_file_is_in_wal_mode_with_migrations_recorded(tmp_path: Path) -> None:
    import sqlite3

    with open_store(f"sqlite:///{tmp_path}/t.sqlite"):
        pass
    with open_store(f"sqlite:///{tmp_path}/t.sqlite"):  # reopening applies nothing twice
        pass
    conn = sqlite3.connect(tmp_path / "t.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert [v for (v,) in conn.execute("SELECT version FROM migrations")] == [v for v, _, _ in MIGRATIONS]
    conn.close()


def test_an_unusable_sqlite_path_gives_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="could not create the folder of"):
        open_store(f"sqlite:///{tmp_path}/file/sub/t.sqlite")
    (tmp_path / "junk.sqlite").write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        open_store(f"sqlite:///{tmp_path}/junk.sqlite")


# --- opening stores -----------------------------------------------------------------------


def test_store_for_keeps_one_open_store_per_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/cached.sqlite"
    try:
        first = store_for(uri)
        assert store_for(uri) is first
        assert store_for(f"sqlite:///{tmp_path}/other.sqlite") is not first
        first.close()
        assert store_for(uri) is not first  # a closed store is reopened
    finally:
        close_cached_stores()


@pytest.mark.parametrize(
    "uri",
    ["postgres://localhost/tpdask", "data/tpdask.sqlite", "sqlite://relative.sqlite", "sqlite:///"],
)
def test_a_bad_uri_gives_a_config_error_listing_accepted_forms(uri: str) -> None:
    with pytest.raises(ConfigError) as error:
        open_store(uri)
    message = str(error.value)
    assert "sqlite:///" in message and "mongodb://" in message and "mongodb+srv://" in message


def test_a_bad_uri_message_hides_the_password() -> None:
    with pytest.raises(ConfigError) as error:
        open_store("mongo://reader:s3cret@db.example:27017/tpdask")
    assert "s3cret" not in str(error.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_mongodb_gives_a_clear_store_error_quickly() -> None:
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(StoreError) as error:
        open_store(f"mongodb://reader:s3cret@127.0.0.1:{port}/tpdask")
    message = str(error.value)
    assert f"cannot reach MongoDB at 127.0.0.1:{port}" in message
    assert "is the server running" in message
    assert "s3cret" not in message
    assert time.monotonic() - started < 15


# --- stores written by earlier versions -----------------------------------------------


def test_a_sqlite_store_from_before_day_loads_is_upgraded_with_its_days(tmp_path: Path) -> None:
    import sqlite3

    import orjson

    from tpdask.stores.sqlite import MIGRATIONS

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    version, name, statements = MIGRATIONS[0]
    for statement in statements:
        conn.execute(statement)
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at REAL NOT NULL)")
    conn.execute("INSERT INTO migrations VALUES (?, ?, 0)", (version, name))
    for r in many(3, DAY):
        conn.execute("INSERT INTO viewer_days VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (*(r[k] for k in ("viewer", "day", "samples", "minutes", "first_ts",
                                        "last_ts")), orjson.dumps(r["streamers"]).decode()))
    conn.commit()
    conn.close()
    with open_store(f"sqlite:///{path}") as store:
        assert store.days() == [DAY]
        assert list(store.iter_viewer_days(DAY)) == many(3, DAY)
        store.write_viewer_days(many(5, DAY, prefix="new"), load="run-1")
        assert store.publish_day(DAY, "run-1") == 5


def test_a_mongodb_store_from_before_day_loads_is_upgraded_with_its_days(
    mongo_database_uri: str,
) -> None:
    import pymongo

    from tpdask.stores.mongo_docs import from_doc, to_doc

    client: pymongo.MongoClient = pymongo.MongoClient(mongo_database_uri)
    collection = client.get_default_database()["viewer_days"]
    collection.create_index([("day", 1), ("viewer", 1)], unique=True, name="day_viewer")
    old_docs = [{k: v for k, v in to_doc(r, "").items() if k != "load"} for r in many(3, DAY)]
    collection.insert_many(old_docs)
    client.close()
    with open_store(mongo_database_uri) as store:
        assert store.days() == [DAY]
        assert list(store.iter_viewer_days(DAY)) == [from_doc(d) for d in old_docs]
        store.write_viewer_days(many(3, DAY), load="run-1")   # same viewers, another load
        assert store.publish_day(DAY, "run-1") == 3
        assert store.drop_unpublished(DAY) == 0
    with open_store(mongo_database_uri):                     # a second open changes nothing
        pass
