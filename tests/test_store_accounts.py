"""The store contract of account status, checked on SQLite and on FerretDB.

Each test runs twice, as ``test_…[sqlite]`` and ``test_…[mongodb]``, against a real engine.
"""

from __future__ import annotations

import pytest

from tests.support import record
from tpdask.errors import StoreError
from tpdask.stores import Store

DAY, NEXT_DAY = "2022-08-01", "2022-08-02"


def status(viewer: str, state: str = "active", user_id: str | None = "1",
           login_now: str | None = None, at: float = 100.0) -> dict:
    login_now = viewer if state == "active" and login_now is None else login_now
    return {"viewer": viewer, "user_id": user_id, "status": state, "login_now": login_now,
            "checked_at": at}


def test_published_days_are_synced_once_and_again_when_published_again(store: Store) -> None:
    store.write_viewer_days([record("bob"), record("ann")], load="run1")
    assert store.unsynced_days() == []  # staged only: no reader sees it
    store.publish_day(DAY, "run1")
    assert store.unsynced_days() == [DAY]
    assert store.sync_accounts(DAY, [("bob", "11"), ("nobody", "99")]) == 2
    assert store.unsynced_days() == []
    assert store.status_counts() == {"unchecked": 2}
    assert store.accounts_to_check(10) == [("ann", None), ("bob", "11")]

    store.write_viewer_days([record("bob"), record("cat")], load="run2")
    store.publish_day(DAY, "run2")  # the day processed again: a new load
    assert store.unsynced_days() == [DAY]
    assert store.sync_accounts(DAY, [("ann", "12"), ("bob", "77"), ("cat", "13")]) == 1
    # known ids stay; unknown ones are filled; a viewer no longer in the day stays an account
    assert store.accounts_to_check(10) == [("ann", "12"), ("bob", "11"), ("cat", "13")]
    assert store.sync_accounts(DAY) == 0  # idempotent


def test_a_direct_write_that_adds_viewers_to_a_synced_day_is_synced_again(store: Store) -> None:
    store.write_viewer_days([record("bob")])
    store.sync_accounts(DAY)
    store.write_viewer_days([record("ann")])
    assert store.unsynced_days() == [DAY]
    store.write_viewer_days([record("cat", day=NEXT_DAY)])
    assert store.unsynced_days() == [DAY, NEXT_DAY]
    for day in store.unsynced_days():
        store.sync_accounts(day)
    assert [v for v, _ in store.accounts_to_check(10)] == ["ann", "bob", "cat"]


def test_never_checked_first_then_the_oldest_checked(store: Store) -> None:
    store.write_viewer_days([record(v) for v in ("a1", "a2", "a3", "a4", "a5")])
    store.sync_accounts(DAY)
    store.write_statuses([status("a1", at=300.0), status("a3", at=100.0),
                          status("a4", "gone", None, at=200.0)])
    assert [v for v, _ in store.accounts_to_check(10)] == ["a2", "a5", "a3", "a4", "a1"]
    assert [v for v, _ in store.accounts_to_check(3)] == ["a2", "a5", "a3"]
    assert [v for v, _ in store.accounts_to_check(10, before=250.0)] == ["a2", "a5", "a3", "a4"]
    assert store.accounts_to_check(10)[3] == ("a4", None)


def test_statuses_come_back_by_viewer_and_only_changes_make_history(store: Store) -> None:
    store.write_viewer_days([record("bob"), record("ann"), record("cat")])
    store.sync_accounts(DAY, [("bob", "7")])
    assert store.write_statuses([status("bob", user_id="7", at=10.0),
                                 status("ann", "gone", None, at=10.5)]) == 2
    assert list(store.iter_statuses()) == [status("ann", "gone", None, at=10.5),
                                           status("bob", user_id="7", at=10.0)]
    assert list(store.iter_statuses(viewer="bob")) == [status("bob", user_id="7", at=10.0)]
    assert list(store.iter_statuses(viewer="cat")) == []  # never checked
    assert store.status_counts() == {"active": 1, "gone": 1, "unchecked": 1}

    # the same again: checked later, nothing changed, no history
    assert store.write_statuses([status("bob", user_id="7", at=20.0)]) == 0
    assert next(store.iter_statuses("bob"))["checked_at"] == 20.0
    assert len(store.status_history(viewer="bob")) == 1

    # renamed: bob's id answers as bob_new; then bob_new itself is seen and checked
    assert store.write_statuses([status("bob", "renamed", "7", "bob_new", at=30.0)]) == 1
    store.write_viewer_days([record("bob_new", day=NEXT_DAY)])
    store.sync_accounts(NEXT_DAY)
    store.write_statuses([status("bob_new", user_id="7", at=40.0)])
    by_id = store.status_history(user_id="7")
    assert [(h["viewer"], h["status"], h["login_now"], h["at"]) for h in by_id] == [
        ("bob", "active", "bob", 10.0), ("bob", "renamed", "bob_new", 30.0),
        ("bob_new", "active", "bob_new", 40.0)]
    assert [h["status"] for h in store.status_history(viewer="bob")] == ["active", "renamed"]
    assert store.status_history(viewer="ann") == [
        {"viewer": "ann", "user_id": None, "status": "gone", "login_now": None, "at": 10.5}]


def test_writing_the_same_statuses_twice_records_each_change_once(store: Store) -> None:
    store.write_viewer_days([record(f"v{i:03d}") for i in range(120)])
    store.sync_accounts(DAY)
    batch = [status(f"v{i:03d}", user_id=str(i), at=5.0) for i in range(120)]
    assert store.write_statuses(batch) == 120
    assert store.write_statuses(batch) == 0
    assert len(store.status_history()) == 120
    assert store.status_counts() == {"active": 120}


def test_bad_statuses_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="not an account status"):
        store.write_statuses([status("bob", "suspended")])
    with pytest.raises(StoreError, match="not an account status"):
        store.write_statuses([{"viewer": "bob", "status": "active"}])


def test_an_empty_store_has_no_accounts(store: Store) -> None:
    assert store.unsynced_days() == []
    assert store.sync_accounts(DAY) == 0
    assert store.accounts_to_check(5) == []
    assert store.status_counts() == {}
    assert list(store.iter_statuses()) == [] and store.status_history() == []
