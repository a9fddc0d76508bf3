"""The analyser's results in the SQLite store: keyed JSON documents, what they were computed
from (their bases), and a whole analysis run's results published in one transaction.

A publication's upserted rows (the profiles that changed, possibly many) are first copied
into ``results_staged`` in small transactions, so that the one transaction that publishes
them holds the write lock for an ``INSERT … SELECT`` inside the file, not for the time it
takes to read them: a day job of another day writing meanwhile waits seconds, not minutes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from tpdask.stores.base import Publication, batched

RESULTS_MIGRATION: tuple[int, str, tuple[str, ...]] = (
    3,
    "analysis results: keyed JSON documents per kind and scope",
    (
        """CREATE TABLE results (
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            doc TEXT NOT NULL,      -- JSON
            PRIMARY KEY (kind, scope, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX results_kind_key ON results (kind, key, scope)",
    ),
)

BASES_MIGRATION: tuple[int, str, tuple[str, ...]] = (
    5,
    "what each (kind, scope) of results was computed from; a publication's staged rows",
    (
        """CREATE TABLE result_bases (
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            basis TEXT NOT NULL,
            PRIMARY KEY (kind, scope)
        ) WITHOUT ROWID""",
        """CREATE TABLE results_staged (
            run TEXT NOT NULL,
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            doc TEXT NOT NULL
        )""",
    ),
)

#: Rows per transaction while a publication's upserted rows are staged.
STAGE_BATCH = 5000


def _result_rows(kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> list[tuple]:
    return [(kind, scope, key, orjson.dumps(doc).decode()) for key, doc in docs.items()]


class ResultsSQLiteMixin:
    """Mixed into :class:`tpdask.stores.sqlite.SQLiteStore`."""

    def replace_results(self, kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> int:
        rows = _result_rows(kind, scope, docs)
        with self._errors(f"replace the {kind} of {scope or 'all'} in"), \
                self._transaction() as tx:  # type: ignore[attr-defined]
            # one transaction: readers see the old documents or all of the new ones
            tx.execute("DELETE FROM results WHERE kind = ? AND scope = ?", (kind, scope))
            tx.executemany("INSERT INTO results (kind, scope, key, doc) VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def upsert_encoded_results(self, kind: str, scope: str, rows: list[tuple[str, str]]) -> int:
        rows = [(kind, scope, key, doc) for key, doc in rows]
        with self._errors(f"write the {kind} of {scope or 'all'} to"):  # type: ignore[attr-defined]
            for batch in batched(rows, 5000):
                with self._transaction() as tx:  # type: ignore[attr-defined]
                    tx.executemany(
                        "INSERT OR REPLACE INTO results (kind, scope, key, doc) VALUES (?, ?, ?, ?)",
                        batch,
                    )
        return len(rows)

    def iter_results(
        self, kind: str, scope: str | None = None, key: str | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        with self._errors(f"read the {kind} of"):  # type: ignore[attr-defined]
            # only the conditions given, so that SQLite picks the index that serves them
            where = ["kind = :kind"] + [f"{name} = :{name}" for name, value in
                                         (("scope", scope), ("key", key)) if value is not None]
            cursor = self._conn().execute(  # type: ignore[attr-defined]
                f"SELECT scope, key, doc FROM results WHERE {' AND '.join(where)} "
                "ORDER BY scope, key",
                {"kind": kind, "scope": scope, "key": key},
            )
            for s, k, doc in cursor:
                yield s, k, orjson.loads(doc)

    def result_scopes(self, kind: str) -> list[str]:
        with self._errors(f"list the {kind} scopes of"):  # type: ignore[attr-defined]
            sql = "SELECT DISTINCT scope FROM results WHERE kind = ? ORDER BY scope"
            return [scope for (scope,) in self._conn().execute(sql, (kind,))]  # type: ignore[attr-defined]

    def result_bases(self, kind: str) -> dict[str, str]:
        with self._errors(f"read the bases of the {kind} in"):  # type: ignore[attr-defined]
            sql = "SELECT scope, basis FROM result_bases WHERE kind = ? ORDER BY scope"
            return dict(self._conn().execute(sql, (kind,)))  # type: ignore[attr-defined]

    def unfinished_publication(self) -> dict[str, Any] | None:
        return None          # a publication is one transaction: never seen half-applied

    def publish_results(self, publication: Publication) -> None:
        with self._errors("publish the analysis results in"):  # type: ignore[attr-defined]
            with self._transaction() as tx:  # type: ignore[attr-defined]
                tx.execute("DELETE FROM results_staged")      # what a killed run staged
            staged = self._stage_upserts(publication)
            with self._transaction() as tx:  # type: ignore[attr-defined]
                for (kind, scope), docs in publication.replaced.items():
                    tx.execute("DELETE FROM results WHERE kind = ? AND scope = ?", (kind, scope))
                    tx.executemany("INSERT INTO results (kind, scope, key, doc) "
                                   "VALUES (?, ?, ?, ?)", _result_rows(kind, scope, docs))
                if staged:
                    tx.execute("INSERT OR REPLACE INTO results (kind, scope, key, doc) "
                               "SELECT kind, scope, key, doc FROM results_staged "
                               "WHERE run = ? ORDER BY kind, scope, key", (publication.run,))
                    tx.execute("DELETE FROM results_staged WHERE run = ?", (publication.run,))
                for (kind, scope), keys in publication.deleted.items():
                    tx.executemany("DELETE FROM results WHERE kind = ? AND scope = ? AND key = ?",
                                   [(kind, scope, key) for key in keys])
                tx.executemany("INSERT OR REPLACE INTO result_bases (kind, scope, basis) "
                               "VALUES (?, ?, ?)",
                               [(k, s, b) for (k, s), b in publication.bases.items()])

    def _stage_upserts(self, publication: Publication) -> int:
        """Copy the publication's upserted rows into ``results_staged``; return how many."""
        rows: Iterable[tuple] = itertools.chain.from_iterable(
            ((publication.run, kind, scope, key, doc) for key, doc in stream)
            for (kind, scope), stream in publication.upserted.items())
        count = 0
        for batch in batched(rows, STAGE_BATCH):
            with self._transaction() as tx:  # type: ignore[attr-defined]
                tx.executemany("INSERT INTO results_staged (run, kind, scope, key, doc) "
                               "VALUES (?, ?, ?, ?, ?)", batch)
            count += len(batch)
        return count
