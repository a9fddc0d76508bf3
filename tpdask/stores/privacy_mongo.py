"""Erasure and retention in the MongoDB store (see the "privacy" section of
:class:`tpdask.stores.base.Store`).

Deleting documents removes them from every query; the server reuses their space. A MongoDB
operator who must also clear the files of deleted documents runs ``compact`` on the
collections (docs/privacy.md); FerretDB keeps its data in its own SQLite files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tpdask.stores.base import VIEWER_KINDS, batched


class PrivacyMongoMixin:
    """Mixed into :class:`tpdask.stores.mongo.MongoStore`."""

    def erase_viewer(self, identifiers: list[str]) -> dict[str, Any]:
        ids = sorted(set(identifiers))
        db = self._db  # type: ignore[attr-defined]
        accounts, history = db["accounts"], db["account_history"]
        with self._errors("erase a viewer from"):  # type: ignore[attr-defined]
            user_ids = [d["user_id"] for d in accounts.find({"_id": {"$in": ids}},
                                                             {"user_id": 1})
                        if d.get("user_id")]
            linked = sorted(d["_id"] for d in accounts.find(
                {"user_id": {"$in": user_ids}}, {"_id": 1}) if d["_id"] not in ids) \
                if user_ids else []
            counts = {
                "viewer_days": self._viewer_days.delete_many(  # type: ignore[attr-defined]
                    {"viewer": {"$in": ids}}).deleted_count,
                "results": self._results.delete_many(  # type: ignore[attr-defined]
                    {"kind": {"$in": list(VIEWER_KINDS)}, "key": {"$in": ids}}).deleted_count,
                "accounts": accounts.delete_many({"_id": {"$in": ids}}).deleted_count,
                "account_history": history.delete_many({"viewer": {"$in": ids}}).deleted_count,
                "links": accounts.update_many({"login_now": {"$in": ids}},
                                              {"$set": {"login_now": None}}).modified_count
                + self._unlink_history(history, ids),
            }
        return {**counts, "linked": linked}

    def _unlink_history(self, history: Any, ids: list[str]) -> int:
        """History entries of other accounts whose ``login_now`` is an erased identifier
        lose it; their ``_id`` names the transition, login included, so each is written
        again under the ``_id`` it would have had with ``login_now`` unknown."""
        count = 0
        for doc in list(history.find({"login_now": {"$in": ids}})):
            parts = str(doc["_id"]).split("|")
            fresh = {**doc, "_id": "|".join(parts[:-1] + ["None"]), "login_now": None}
            self._insert_new(history, [fresh])  # type: ignore[attr-defined]
            history.delete_one({"_id": doc["_id"]})
            count += 1
        return count

    def forget_accounts(self, viewers: Iterable[str]) -> dict[str, int]:
        counts = {"accounts": 0, "account_history": 0}
        db = self._db  # type: ignore[attr-defined]
        with self._errors("forget accounts in"):  # type: ignore[attr-defined]
            for batch in batched(sorted(set(viewers)), 500):
                kept = set(self._viewer_days.distinct(  # type: ignore[attr-defined]
                    "viewer", {"viewer": {"$in": batch}}))
                gone = [v for v in batch if v not in kept]
                if gone:
                    counts["accounts"] += db["accounts"].delete_many(
                        {"_id": {"$in": gone}}).deleted_count
                    counts["account_history"] += db["account_history"].delete_many(
                        {"viewer": {"$in": gone}}).deleted_count
        return counts

    def drop_results(self, kind: str, scope: str) -> int:
        with self._errors(f"drop the {kind} of {scope} from"):  # type: ignore[attr-defined]
            self._bases.delete_one({"_id": f"{kind}|{scope}"})  # type: ignore[attr-defined]
            return self._results.delete_many(  # type: ignore[attr-defined]
                {"kind": kind, "scope": scope}).deleted_count

    def day_viewers(self, day: str) -> list[str]:
        with self._errors(f"list the viewers of {day} in"):  # type: ignore[attr-defined]
            return self._viewer_days.distinct("viewer", {"day": day})  # type: ignore[attr-defined]

    def compact(self, vacuum: bool = False) -> None:
        return None
