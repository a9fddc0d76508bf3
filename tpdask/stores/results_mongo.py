"""The analyser's results in the MongoDB store: keyed JSON documents, their bases, and a
whole analysis run's results published as one unit.

FerretDB 1.24 has no transactions, so a publication is recorded before it is applied (a
``publications`` document naming the run) and that record is removed once every write is
done: a run killed half-way leaves it, and readers see that the results are half-applied
(:meth:`ResultsMongoMixin.unfinished_publication`) until the next run publishes whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pymongo

from tpdask.stores.base import Publication, batched

#: The ``_id`` of the one ``publications`` document.
PUBLICATION = "results"


def _result_id(kind: str, scope: str, key: str) -> str:
    """Kinds, scopes (days, periods) and keys (logins) never contain a ``|``."""
    return f"{kind}|{scope}|{key}"


class ResultsMongoMixin:
    """Mixed into :class:`tpdask.stores.mongo.MongoStore`."""

    def replace_results(self, kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> int:
        # FerretDB 1.24 has no transactions: a reader may see the scope empty for a moment
        with self._errors(f"replace the {kind} of {scope or 'all'} in"):  # type: ignore[attr-defined]
            self._replace_scope(kind, scope, docs)
        return len(docs)

    def _replace_scope(self, kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> None:
        self._results.delete_many({"kind": kind, "scope": scope})  # type: ignore[attr-defined]
        rows = [(key, orjson.dumps(doc).decode()) for key, doc in docs.items()]
        for batch in batched(rows):
            self._insert_encoded(kind, scope, batch)

    def upsert_encoded_results(self, kind: str, scope: str, rows: list[tuple[str, str]]) -> int:
        with self._errors(f"write the {kind} of {scope or 'all'} to"):  # type: ignore[attr-defined]
            return self._upsert_rows(kind, scope, rows)

    def _upsert_rows(self, kind: str, scope: str, rows: Any) -> int:
        """Delete then insert: FerretDB replaces a document ~100x slower than it inserts one."""
        count = 0
        for batch in batched(rows):
            ids = [_result_id(kind, scope, key) for key, _ in batch]
            self._results.delete_many({"_id": {"$in": ids}})  # type: ignore[attr-defined]
            self._insert_encoded(kind, scope, batch)
            count += len(batch)
        return count

    def _insert_encoded(self, kind: str, scope: str, rows: list[tuple[str, str]]) -> None:
        docs = [{"_id": _result_id(kind, scope, key), "kind": kind, "scope": scope, "key": key,
                 "doc": doc} for key, doc in rows]
        self._replace(self._results, self._insert_new(self._results, docs))  # type: ignore[attr-defined]

    def iter_results(
        self, kind: str, scope: str | None = None, key: str | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        query = {"kind": kind, **({"scope": scope} if scope is not None else {}),
                 **({"key": key} if key is not None else {})}
        with self._errors(f"read the {kind} of"):  # type: ignore[attr-defined]
            cursor = self._results.find(query).sort(  # type: ignore[attr-defined]
                [("scope", pymongo.ASCENDING), ("key", pymongo.ASCENDING)]
            )
            for doc in cursor.batch_size(1000):
                yield doc["scope"], doc["key"], orjson.loads(doc["doc"])

    def result_scopes(self, kind: str) -> list[str]:
        with self._errors(f"list the {kind} scopes of"):  # type: ignore[attr-defined]
            return sorted(self._results.distinct("scope", {"kind": kind}))  # type: ignore[attr-defined]

    def result_bases(self, kind: str) -> dict[str, str]:
        with self._errors(f"read the bases of the {kind} in"):  # type: ignore[attr-defined]
            docs = self._bases.find({"kind": kind})  # type: ignore[attr-defined]
            return dict(sorted((d["scope"], d["basis"]) for d in docs))

    def unfinished_publication(self) -> dict[str, Any] | None:
        with self._errors("read the publication record of"):  # type: ignore[attr-defined]
            doc = self._publications.find_one({"_id": PUBLICATION})  # type: ignore[attr-defined]
        return None if doc is None else {"run": doc["run"], "started_at": doc["started_at"]}

    def publish_results(self, publication: Publication) -> None:
        with self._errors("publish the analysis results in"):  # type: ignore[attr-defined]
            self._publications.replace_one(  # type: ignore[attr-defined]
                {"_id": PUBLICATION},
                {"_id": PUBLICATION, "run": publication.run, "started_at": time.time()},
                upsert=True)
            for (kind, scope), docs in publication.replaced.items():
                self._replace_scope(kind, scope, docs)
            for (kind, scope), rows in publication.upserted.items():
                self._upsert_rows(kind, scope, rows)
            for (kind, scope), keys in publication.deleted.items():
                for batch in batched(keys):
                    self._results.delete_many(  # type: ignore[attr-defined]
                        {"_id": {"$in": [_result_id(kind, scope, key) for key in batch]}})
            for (kind, scope), basis in publication.bases.items():
                self._bases.replace_one(  # type: ignore[attr-defined]
                    {"_id": f"{kind}|{scope}"},
                    {"_id": f"{kind}|{scope}", "kind": kind, "scope": scope, "basis": basis},
                    upsert=True)
            self._publications.delete_one({"_id": PUBLICATION})  # type: ignore[attr-defined]
