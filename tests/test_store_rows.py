"""The day job's encoded store rows: what a bucket encodes is what readers get back.

A real inversion of a small generated bucket is encoded for each backend
(tpdask.process.store_rows) into a part file, staged through ``stage_part`` by the job's writer
path, published, and read back: it must equal ``tpdask.process.inversion.records`` exactly
(same keys, same int / float types). Each ``store`` test runs on SQLite and MongoDB.
"""

from __future__ import annotations

import orjson
import pytest

from tests.support import bucket
from tpdask.process.inversion import records
from tpdask.process.store_rows import sqlite_rows, write_store_part
from tpdask.stores import Store, stage_sqlite
from tpdask.stores.sqlite import SQLiteStore

DAY = "2022-08-01"


@pytest.mark.parametrize("interval", [300, 7, 90])
def test_sqlite_rows_hold_the_records_streamers_as_json(interval):
    inv = bucket()
    rows = sqlite_rows(inv, interval).to_pylist()
    expected = list(records(inv, DAY, interval))
    assert len(rows) == len(expected) > 0
    for row, record in zip(rows, expected, strict=True):
        assert row["viewer"] == record["viewer"]
        assert orjson.loads(row["streamers"]) == record["streamers"]
        # key order too: the JSON text is what SQLite readers decode
        assert list(orjson.loads(row["streamers"])) == list(record["streamers"])
        decoded = orjson.loads(row["streamers"]).values()
        assert [type(s["minutes"]) for s in decoded] == [
            type(s["minutes"]) for s in record["streamers"].values()]


def uri_of(store: Store) -> str:
    return "sqlite:///x" if isinstance(store, SQLiteStore) else "mongodb://x"


@pytest.mark.parametrize("interval", [300, 7])
def test_staged_encoded_rows_read_back_as_the_records(store: Store, tmp_path, interval):
    inv = bucket()
    path = write_store_part(tmp_path, 3, inv, DAY, interval, uri_of(store), "L1")
    assert store.stage_part(DAY, "L1", path) == len(inv.viewers)
    assert store.count_viewer_days(DAY) == 0                    # staged: nobody sees it
    assert store.publish_day(DAY, "L1") == len(inv.viewers)
    got = list(store.iter_viewer_days(DAY))
    expected = list(records(inv, DAY, interval))
    assert got == expected
    assert [type(r["minutes"]) for r in got] == [type(r["minutes"]) for r in expected]


def test_staging_the_same_rows_twice_keeps_one_copy(store: Store, tmp_path):
    inv = bucket()
    path = write_store_part(tmp_path, 3, inv, DAY, 300, uri_of(store), "L1")
    store.stage_part(DAY, "L1", path)
    store.stage_part(DAY, "L1", path)          # a re-run bucket
    assert store.publish_day(DAY, "L1") == len(inv.viewers)
    assert list(store.iter_viewer_days(DAY)) == list(records(inv, DAY, 300))


def test_a_sqlite_part_is_staged_in_batches_under_the_callers_day_and_load(
        tmp_path, monkeypatch):
    monkeypatch.setattr(stage_sqlite, "STAGE_BATCH", 7)
    inv = bucket(viewers=50)
    path = write_store_part(tmp_path, 0, inv, DAY, 7, "sqlite:///x", "L1")
    with SQLiteStore(tmp_path / "store.sqlite") as store:
        assert store.stage_part(DAY, "L1", path) == len(inv.viewers)
        assert store.stage_part(DAY, "L2", path) == len(inv.viewers)
        assert store.publish_day(DAY, "L2") == len(inv.viewers)
        assert list(store.iter_viewer_days(DAY)) == list(records(inv, DAY, 7))


def test_a_published_day_stays_while_a_new_load_is_staged(store: Store, tmp_path):
    old, new = bucket(seed=1), bucket(viewers=500, seed=2)
    store.stage_part(DAY, "old", write_store_part(tmp_path / "old", 0, old, DAY, 300, uri_of(store),
                                            "old"))
    store.publish_day(DAY, "old")
    store.stage_part(DAY, "new", write_store_part(tmp_path / "new", 0, new, DAY, 300, uri_of(store),
                                            "new"))
    assert list(store.iter_viewer_days(DAY)) == list(records(old, DAY, 300))
    store.publish_day(DAY, "new")
    assert list(store.iter_viewer_days(DAY)) == list(records(new, DAY, 300))


def test_a_mongodb_store_from_before_load_counts_has_its_loads_counted_on_open(
        mongo_database_uri: str, tmp_path):
    """Publishing drops the other loads load_counts lists (FerretDB scans for anything
    else), so a store written before it existed gets its loads counted when opened."""
    import pymongo

    from tpdask.stores import open_store

    old, new = bucket(seed=1), bucket(viewers=500, seed=2)
    with open_store(mongo_database_uri) as store:
        store.write_viewer_days(list(records(old, DAY, 300)), load="old")
        store.publish_day(DAY, "old")
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_database_uri)
    client.get_default_database().drop_collection("load_counts")       # as before it
    client.close()
    with open_store(mongo_database_uri) as store:
        store.stage_part(DAY, "new", write_store_part(tmp_path, 0, new, DAY, 300, "mongodb://", "new"))
        assert store.publish_day(DAY, "new") == len(new.viewers)
        assert store.drop_unpublished(DAY) == 0                  # the old load went
        assert list(store.iter_viewer_days(DAY)) == list(records(new, DAY, 300))
