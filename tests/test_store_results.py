"""The store contract for the analyser's results (keyed JSON documents per kind and
scope), checked on SQLite and on FerretDB like the rest of tests/test_store_contract.py."""

from __future__ import annotations

import pytest

from tpdask.errors import StoreError
from tpdask.stores import Store
from tpdask.stores.base import Publication

DAY = "2022-08-01"
NEXT_DAY = "2022-08-02"


def test_results_replace_a_whole_scope_and_leave_others(store: Store) -> None:
    store.replace_results("bots", DAY, {"a_bot": {"reasons": ["known"]}, "b": {"reasons": []}})
    store.replace_results("bots", NEXT_DAY, {"c": {"reasons": ["always_on"]}})
    assert store.replace_results("bots", DAY, {"z": {"reasons": ["concurrent"]}}) == 1
    assert list(store.iter_results("bots", DAY)) == [(DAY, "z", {"reasons": ["concurrent"]})]
    assert [k for _, k, _ in store.iter_results("bots")] == ["z", "c"]      # by (scope, key)
    assert store.result_scopes("bots") == [DAY, NEXT_DAY]
    assert store.result_scopes("profiles") == []


def test_results_upsert_replaces_only_the_keys_given(store: Store) -> None:
    store.upsert_results("profiles", "", {f"v{i:04d}": {"minutes": i} for i in range(1500)})
    store.upsert_results("profiles", "", {"v0001": {"minutes": 99.5}, "new": {"minutes": 1}})
    docs = {k: d for _, k, d in store.iter_results("profiles", "")}
    assert len(docs) == 1501 and docs["v0001"] == {"minutes": 99.5} and docs["v0002"]["minutes"] == 2


def test_results_by_key_across_scopes(store: Store) -> None:
    store.replace_results("streamer_days", DAY, {"s1": {"viewers": 3}, "s2": {"viewers": 1}})
    store.replace_results("streamer_days", NEXT_DAY, {"s1": {"viewers": 5}})
    assert list(store.iter_results("streamer_days", key="s1")) == [
        (DAY, "s1", {"viewers": 3}), (NEXT_DAY, "s1", {"viewers": 5})]
    assert list(store.iter_results("streamer_days", scope=NEXT_DAY, key="s2")) == []


def test_results_keep_any_json(store: Store) -> None:
    doc = {"hours": [0.0] * 23 + [2.5], "streamers": {"a": 10, "b": 5.5}, "bot": None,
           "pairs": [[1, 2], [3, 4]], "loyalty": 1 / 3}
    store.replace_results("profiles", "", {"alice": doc})
    assert list(store.iter_results("profiles", key="alice")) == [("", "alice", doc)]


def publication(run: str = "r1") -> Publication:
    return Publication(
        run=run,
        replaced={("bots", DAY): {"x": {"reasons": ["known"]}},
                  ("streamer_days", DAY): {"s1": {"viewers": 2}}},
        upserted={("profiles", ""): iter([(f"v{i:04d}", f'{{"minutes": {i}}}')
                                          for i in range(2500)])},
        deleted={("profiles", ""): ["gone_1", "gone_2"]},
        bases={("bots", DAY): "b1", ("streamer_days", DAY): "s1", ("profiles", ""): "p1"})


def test_a_publication_replaces_upserts_deletes_and_records_its_bases(store: Store) -> None:
    store.replace_results("bots", DAY, {"old": {"reasons": ["concurrent"]}})
    store.upsert_results("profiles", "", {"gone_1": {"minutes": 1}, "gone_2": {"minutes": 2},
                                          "v0001": {"minutes": -1}, "kept": {"minutes": 3}})
    store.publish_results(publication())
    assert [k for _, k, _ in store.iter_results("bots", DAY)] == ["x"]
    profiles = {k: d for _, k, d in store.iter_results("profiles", "")}
    assert len(profiles) == 2501 and profiles["v0001"] == {"minutes": 1}
    assert "gone_1" not in profiles and profiles["kept"] == {"minutes": 3}
    assert store.result_bases("bots") == {DAY: "b1"}
    assert store.result_bases("profiles") == {"": "p1"}
    assert store.result_bases("overlap") == {}
    assert store.unfinished_publication() is None


def test_a_publication_that_fails_half_way_is_never_seen_whole(store: Store) -> None:
    """A failure while the publication's rows are read: SQLite publishes nothing; MongoDB
    may have applied part of it, and says so until a publication completes."""
    store.replace_results("bots", DAY, {"old": {"reasons": ["concurrent"]}})

    def failing_rows():
        yield ("v0000", '{"minutes": 0}')
        raise OSError("disk error while reading the profiles")

    broken = publication("r2")
    broken.upserted = {("profiles", ""): failing_rows()}
    with pytest.raises((OSError, StoreError)):
        store.publish_results(broken)
    unfinished = store.unfinished_publication()
    if unfinished is None:       # all or none: nothing of it was applied
        assert [k for _, k, _ in store.iter_results("bots", DAY)] == ["old"]
        assert store.result_bases("bots") == {}
        assert list(store.iter_results("profiles", "")) == []
    else:
        assert unfinished["run"] == "r2"
    store.publish_results(publication("r3"))
    assert store.unfinished_publication() is None
    assert [k for _, k, _ in store.iter_results("bots", DAY)] == ["x"]
