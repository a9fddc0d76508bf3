"""The store contract for the analyser's results (keyed JSON documents per kind and
scope), checked on SQLite and on FerretDB like the rest of tests/test_store_contract.py."""

from __future__ import annotations

from tpdask.stores import Store

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
