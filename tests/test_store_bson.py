"""The BSON the day job stages is byte for byte what ``bson.encode`` makes of the documents.

:mod:`tpdask.process.store_bson` assembles each viewer-day's document from the inversion's arrays
instead of encoding a dict; readers decode those bytes, so they must not differ in a
single byte from ``bson.encode(to_doc(record, load))``: key order, int32 / int64 /
double types, array keys, string lengths. Checked on real inversions of generated
buckets (several sessions per pair, whole and fractional minutes, the direct load ``""``,
timestamps past int32, logins outside ASCII).
"""

from __future__ import annotations

import bson
import pytest

from tests.support import bucket
from tpdask.process.inversion import Inverted, records
from tpdask.process.store_rows import MONGO_SCHEMA, mongo_rows
from tpdask.stores.mongo_docs import to_doc

DAY = "2022-08-01"


def expected(inv: Inverted, interval: int, load: str) -> tuple[list[str], list[bytes]]:
    docs = [to_doc(record, load) for record in records(inv, DAY, interval)]
    return [doc["_id"] for doc in docs], [bson.encode(doc) for doc in docs]


@pytest.mark.parametrize("interval", [300, 7, 90, 61])
@pytest.mark.parametrize("load", ["run-20220801-abc", ""])
def test_documents_are_the_bytes_bson_encode_makes(interval: int, load: str) -> None:
    inv = bucket()
    table = mongo_rows(inv, DAY, interval, load)
    assert table.schema == MONGO_SCHEMA
    ids, blobs = expected(inv, interval, load)
    assert table.column("_id").to_pylist() == ids
    assert table.column("bson").to_pylist() == blobs


def test_fractional_and_whole_minutes_are_double_and_int() -> None:
    inv = bucket()
    docs = [bson.decode(b) for b in mongo_rows(inv, DAY, 90, "L").column("bson").to_pylist()]
    kinds = {type(s["minutes"]) for d in docs for s in d["streamers"].values()}
    assert kinds == {int, float} == {type(d["minutes"]) for d in docs}   # 1.5 × samples
    assert max(len(s["sessions"]) for d in docs for s in d["streamers"].values()) > 10


def test_timestamps_past_int32_are_int64_as_bson_encode_writes_them() -> None:
    inv = bucket(viewers=50, t0=2**31 - 300 * 40)        # the day crosses 2038-01-19
    blobs = mongo_rows(inv, DAY, 300, "L").column("bson").to_pylist()
    assert blobs == expected(inv, 300, "L")[1]
    assert any(b"\x12start\x00" in blob for blob in blobs)
    assert any(b"\x10start\x00" in blob for blob in blobs)


def test_logins_outside_ascii_keep_their_utf8_lengths() -> None:
    inv = bucket(viewers=40, names="vïéwer_{:d}☃")
    assert mongo_rows(inv, DAY, 300, "L").column("bson").to_pylist() == expected(
        inv, 300, "L")[1]


def test_a_bucket_of_many_viewers_matches_in_full() -> None:
    inv = bucket(viewers=20_000, seed=5)
    assert len(inv.viewers) > 10_000
    assert mongo_rows(inv, DAY, 300, "L").column("bson").to_pylist() == expected(
        inv, 300, "L")[1]
