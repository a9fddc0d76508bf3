"""The MongoDB writer's staging over several connections at once keeps its guarantees.

``stage_encoded_viewer_days`` sends a part's batches over two connections; the documents
already there are replaced afterwards by the calling thread and the load's count is
raised once per part. With batches of a few KB, one bucket is many batches in flight on
both connections: staged once, staged again (a re-run task: every batch all duplicates)
and staged over a partial copy, the published day must be exactly the records, counted
exactly.
"""

from __future__ import annotations

import pytest

from tests.support import DAY, bucket
from tpdask.process.inversion import records
from tpdask.process.store_rows import mongo_rows
from tpdask.stores import open_store, stage_mongo


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stage_mongo, "INSERT_BATCH_BYTES", 4096)


@pytest.mark.slow
def test_many_batches_over_two_connections_stage_every_document_once(
        mongo_database_uri: str, small_batches: None) -> None:
    inv = bucket(viewers=400, seed=7)
    rows = mongo_rows(inv, DAY, 300, "L1")
    assert len(list(stage_mongo.batches_by_bytes(rows.column("bson").to_pylist(), 4096))) > 20
    with open_store(mongo_database_uri) as store:
        assert store.stage_encoded_viewer_days(DAY, "L1", rows) == len(inv.viewers)
        assert store.stage_encoded_viewer_days(DAY, "L1", rows) == len(inv.viewers)  # again
        assert store.publish_day(DAY, "L1") == len(inv.viewers)
        assert list(store.iter_viewer_days(DAY)) == list(records(inv, DAY, 300))


def test_a_part_staged_over_a_partial_copy_counts_only_the_new_documents(
        mongo_database_uri: str, small_batches: None) -> None:
    inv = bucket(viewers=400, seed=8)
    rows = mongo_rows(inv, DAY, 300, "L1")
    with open_store(mongo_database_uri) as store:
        store.stage_encoded_viewer_days(DAY, "L1", rows.slice(0, rows.num_rows // 3))
        store.stage_encoded_viewer_days(DAY, "L1", rows)
        assert store.publish_day(DAY, "L1") == len(inv.viewers)
        assert store.count_viewer_days(DAY) == len(inv.viewers)
        assert list(store.iter_viewer_days(DAY)) == list(records(inv, DAY, 300))
