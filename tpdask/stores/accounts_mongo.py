"""Account status in the MongoDB store: the ``accounts``, ``account_history`` and
``account_syncs`` collections and the methods of the store interface's "account status"
section (see :class:`tpdask.stores.base.Store`).

- ``accounts``: ``{_id: viewer, user_id, status, login_now, checked_at}`` (``None`` until
  known or checked); the ``_id`` index serves a viewer's status by login, the
  ``(checked_at, _id)`` index the candidates (``None`` sorts first), ``user_id`` the ids.
- ``account_history``: one document per change, ``{viewer, user_id, status, login_now,
  at}``, indexed by ``(viewer, at)`` and ``(user_id, at)``.
- ``account_syncs``: ``{_id: day, load, records}`` of each day whose viewers were added.

FerretDB 1.24 has no transactions, so a change is written history first, account
second; the history document's ``_id`` names the transition (viewer, the previous check,
the new state), so a run killed between the two writes and repeated does not record the
change twice. New accounts are inserted (unordered, duplicates ignored: the cheap case on
FerretDB); checked accounts are replaced by ``_id`` in commands of
``REPLACE_BATCH_SIZE`` (FerretDB deadlocks at 100 matches in one command, and replaces a
document ~100x slower than it inserts one, so a verify run against FerretDB is slow —
fine for tests, use MongoDB for millions of accounts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pymongo
from pymongo import ReplaceOne, UpdateOne

from tpdask.stores.base import STATUS_KEYS, batched, check_statuses

_STATE = ("status", "user_id", "login_now")


class AccountsMongoMixin:
    """The account-status methods of :class:`tpdask.stores.mongo.MongoStore`.

    Uses the store's ``_db``, ``_day_loads``, ``_viewer_days``, ``_errors`` and
    ``_insert_new``.
    """

    def _create_account_indexes(self) -> None:
        """Called from ``MongoStore.__init__`` (idempotent)."""
        asc = pymongo.ASCENDING
        accounts = self._db["accounts"]
        accounts.create_index([("checked_at", asc), ("_id", asc)], name="checked_at")
        accounts.create_index([("user_id", asc)], name="user_id")
        history = self._db["account_history"]
        history.create_index([("viewer", asc), ("at", asc)], name="viewer_at")
        history.create_index([("user_id", asc), ("at", asc)], name="user_id_at")

    def unsynced_days(self) -> list[str]:
        with self._errors("list the days whose viewers are not in the accounts of"):
            synced = {
                doc["_id"]: (doc["load"], doc["records"])
                for doc in self._db["account_syncs"].find({})
            }
            days = []
            for doc in self._day_loads.find({}).sort("_id", pymongo.ASCENDING):
                day, load = doc["_id"], doc["load"]
                records = self._viewer_days.count_documents({"day": day, "load": load})
                if records and synced.get(day) != (load, records):
                    days.append(day)
            return days

    def sync_accounts(self, day: str, ids: Iterable[tuple[str, str]] = ()) -> int:
        known = dict(ids)
        accounts = self._db["accounts"]
        added = 0
        with self._errors(f"add the viewers of {day} to the accounts of"):
            pointer = self._day_loads.find_one({"_id": day})
            if pointer is None:
                return 0
            query = {"day": day, "load": pointer["load"]}
            cursor = self._viewer_days.find(query, {"viewer": 1, "_id": 0}).batch_size(1000)
            viewers = (doc["viewer"] for doc in cursor)
            while batch := [v for _, v in zip(range(1000), viewers)]:
                docs = [
                    {"_id": v, "user_id": known.get(v), "status": None, "login_now": None,
                     "checked_at": None}
                    for v in batch
                ]
                added += len(docs) - len(self._insert_new(accounts, docs))
            for batch in batched(list(known), 1000):  # new accounts got theirs on insert
                self._fill_ids(accounts, batch, known)
            records = self._viewer_days.count_documents(query)
            self._db["account_syncs"].replace_one(
                {"_id": day}, {"_id": day, "load": pointer["load"], "records": records},
                upsert=True,
            )
        return added

    @staticmethod
    def _fill_ids(accounts: Any, viewers: list[str], known: dict[str, str]) -> None:
        """Give the accounts among ``viewers`` whose user id is unknown the known one."""
        if not viewers:
            return
        lacking = [
            doc["_id"] for doc in accounts.find({"_id": {"$in": viewers}, "user_id": None},
                                                {"_id": 1})
        ]
        for batch in batched(lacking, 50):
            accounts.bulk_write(
                [UpdateOne({"_id": v, "user_id": None}, {"$set": {"user_id": known[v]}})
                 for v in batch],
                ordered=False,
            )

    def accounts_to_check(
        self, limit: int, before: float | None = None
    ) -> list[tuple[str, str | None]]:
        accounts = self._db["accounts"]
        projection = {"user_id": 1}
        with self._errors("list the accounts to check in"):
            found = [
                (doc["_id"], doc.get("user_id"))
                for doc in accounts.find({"checked_at": None}, projection)
                .sort([("checked_at", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)])
                .limit(limit)
            ]
            if len(found) < limit:
                checked = {"$ne": None} if before is None else {"$lt": float(before)}
                found += [
                    (doc["_id"], doc.get("user_id"))
                    for doc in accounts.find({"checked_at": checked}, projection)
                    .sort([("checked_at", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)])
                    .limit(limit - len(found))
                ]
            return found

    def write_statuses(self, statuses: list[dict[str, Any]]) -> int:
        statuses = check_statuses(statuses)
        if not statuses:
            return 0
        accounts = self._db["accounts"]
        with self._errors("write account statuses to"):
            current = {
                doc["_id"]: doc
                for doc in accounts.find({"_id": {"$in": [s["viewer"] for s in statuses]}})
            }
            history = []
            for s in statuses:
                before = current.get(s["viewer"], {})
                if tuple(before.get(k) for k in _STATE) == tuple(s[k] for k in _STATE):
                    continue
                transition = "|".join(
                    [s["viewer"], repr(before.get("checked_at"))]
                    + [str(s[k]) for k in _STATE]
                )
                history.append({"_id": transition, "viewer": s["viewer"], "user_id": s["user_id"],
                                "status": s["status"], "login_now": s["login_now"],
                                "at": s["checked_at"]})
            self._insert_new(self._db["account_history"], history)  # duplicates: a repeat
            docs = [{"_id": s["viewer"], **{k: s[k] for k in STATUS_KEYS[1:]}} for s in statuses]
            for batch in batched(docs, 50):
                accounts.bulk_write(
                    [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in batch], ordered=False
                )
        return len(history)

    def iter_statuses(self, viewer: str | None = None) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {"status": {"$ne": None}}
        if viewer is not None:
            query["_id"] = viewer
        with self._errors("read the account statuses of"):
            cursor = self._db["accounts"].find(query).sort("_id", pymongo.ASCENDING)
            for doc in cursor.batch_size(1000):
                yield {"viewer": doc["_id"], **{k: doc.get(k) for k in STATUS_KEYS[1:]}}

    def status_history(
        self, viewer: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("viewer", viewer), ("user_id", user_id)) if v is not None}
        with self._errors("read the account history of"):
            cursor = self._db["account_history"].find(query).sort(
                [("at", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)]
            )
            return [
                {k: doc[k] for k in ("viewer", "user_id", "status", "login_now", "at")}
                for doc in cursor
            ]

    def status_counts(self) -> dict[str, int]:
        with self._errors("count the account statuses of"):
            rows = self._db["accounts"].aggregate(
                [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
            )
            return dict(sorted((row["_id"] or "unchecked", row["n"]) for row in rows))
