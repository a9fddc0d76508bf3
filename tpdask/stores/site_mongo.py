"""The website's reads in the MongoDB store (see the "website reads" section of
:class:`tpdask.stores.base.Store`). Every filter value is passed as a plain ``str`` (or
an ``int`` limit) the caller cannot turn into an operator: a request value reaches these
methods only after the site validated it, and ``str()`` here makes sure of it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pymongo

from tpdask.stores.mongo_docs import from_doc


class SiteMongoMixin:
    """Mixed into :class:`tpdask.stores.mongo.MongoStore`."""

    def viewer_history(self, viewer: str) -> list[dict[str, Any]]:
        with self._errors("read the history of a viewer from"):  # type: ignore[attr-defined]
            docs = list(self._viewer_days.find({"viewer": str(viewer)}))  # type: ignore[attr-defined]
            if not docs:
                return []
            days = sorted({doc["day"] for doc in docs})
            published = {d["_id"]: d["load"] for d in  # type: ignore[attr-defined]
                         self._day_loads.find({"_id": {"$in": days}})}
            records = [from_doc(doc) for doc in docs
                       if doc["day"] in published and doc["load"] == published[doc["day"]]]
            return sorted(records, key=lambda r: r["day"])

    def result_keys(self, kind: str, scope: str, start: str = "", limit: int = 100) -> list[str]:
        with self._errors(f"list the {kind} keys of"):  # type: ignore[attr-defined]
            cursor = self._results.find(  # type: ignore[attr-defined]
                {"kind": str(kind), "scope": str(scope), "key": {"$gte": str(start)}},
                {"key": 1, "_id": 0},
            ).sort([("kind", pymongo.ASCENDING), ("scope", pymongo.ASCENDING),
                    ("key", pymongo.ASCENDING)]).limit(int(limit))
            return [doc["key"] for doc in cursor]

    def count_results(self, kind: str, scope: str | None = None) -> int:
        query = {"kind": str(kind), **({"scope": str(scope)} if scope is not None else {})}
        with self._errors(f"count the {kind} of"):  # type: ignore[attr-defined]
            return int(self._results.count_documents(query))  # type: ignore[attr-defined]

    def latest_jobs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._errors("read the job ledger of"):  # type: ignore[attr-defined]
            cursor = self._jobs.find({}).sort(  # type: ignore[attr-defined]
                [("started_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]
            ).limit(int(limit))
            return [{"job": d["job"], "day": d["day"], "status": d["status"],
                     "report": orjson.loads(d["report"]), "started_at": d["started_at"],
                     "finished_at": d["finished_at"]} for d in cursor]

    def size_bytes(self) -> int:
        with self._errors("measure"):  # type: ignore[attr-defined]
            return int(self._db.command("dbStats").get("dataSize", 0))  # type: ignore[attr-defined]
