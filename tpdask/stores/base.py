"""The one narrow interface every serving store implements.

Jobs, the CLI and the website only ever talk to a :class:`Store`; the SQLite and MongoDB
backends plug in behind it and pass the same contract tests (``tests/test_store_contract.py``).
The interface is deliberately small: the day job stages a whole day of viewer-day records
under its own load id (idempotent upserts keyed by ``(viewer, day)``, so a re-run task
never double counts) and publishes it in one atomic step, readers stream a day back, and
every job run is appended to a ledger.

A viewer-day record is the plain dict of the design's inversion rule::

    {"viewer": "login", "day": "2022-08-01", "samples": 38, "minutes": 190,
     "first_ts": 1659348002, "last_ts": 1659378002,
     "streamers": {"somestreamer": {"samples": 38, "minutes": 190,
                                    "sessions": [[1659348002, 1659351602]]}}}

Stores give it back exactly as written: same keys, same types (``190`` stays an int,
``190.0`` and ``2.5`` stay floats), nothing added.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from tpdask.errors import StoreError

#: The keys of a viewer-day record, in the order stores give them back.
RECORD_KEYS = ("viewer", "day", "samples", "minutes", "first_ts", "last_ts", "streamers")

#: The keys of a job ledger entry.
JOB_KEYS = ("job", "day", "status", "report", "started_at", "finished_at")

#: Records per write batch (one SQLite transaction, one MongoDB ``bulk_write``).
BATCH_SIZE = 1000

#: The keys of an account status, in the order stores give them back.
STATUS_KEYS = ("viewer", "user_id", "status", "login_now", "checked_at")

#: What the verifier may find an account to be (see the account status contract).
STATUSES = ("active", "renamed", "gone")

#: Result kinds keyed by viewer login (the others hold streamers and aggregates only).
VIEWER_KINDS = ("bots", "profiles")


@dataclass
class Publication:
    """What one analysis run changes in the results, applied by :meth:`Store.publish_results`.

    ``replaced``: (kind, scope) → its whole new content (key → document); ``upserted``:
    (kind, scope) → ``(key, JSON text)`` rows sorted by key, written over those of the same
    keys (an iterator: the analyser's profiles, read from its scratch files as they are
    stored); ``deleted``: (kind, scope) → keys to remove; ``bases``: (kind, scope) → the
    basis its documents were computed from.
    """

    run: str
    replaced: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    upserted: dict[tuple[str, str], Iterable[tuple[str, str]]] = field(default_factory=dict)
    deleted: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    bases: dict[tuple[str, str], str] = field(default_factory=dict)


class Store(ABC):
    """A serving store: viewer-day records plus the job ledger.

    Every method raises :class:`tpdask.errors.StoreError` (never a sqlite3 or pymongo
    error) with a message that says what failed and what to do. Stores are context
    managers; ``close()`` releases connections and is safe to call twice.
    """

    #: Where the store lives, for messages (a file path, or MongoDB hosts without password).
    where: str = ""
    closed: bool = False

    @abstractmethod
    def write_viewer_days(self, records: list[dict[str, Any]], load: str | None = None) -> int:
        """Upsert viewer-day records keyed by ``(viewer, day)``; return how many were written.

        Writing a record whose key exists replaces it, so writing the same batch twice
        leaves one copy of each record. Within one batch, the last record of a key wins.

        With ``load=None`` the records go straight into what readers see. With a load id
        they are staged: invisible to every reader until :meth:`publish_day` publishes that
        load for the day (the day job stages a whole day this way, so a crash never leaves
        readers with part of a day).
        """

    @abstractmethod
    def publish_day(self, day: str, load: str) -> int:
        """Make the records staged under ``load`` the whole of ``day``, atomically.

        Readers see either the day's previous records or all of the new ones, never a mix.
        The rows of every other load of the day are then dropped (a crash in between only
        leaves rows no reader sees, which :meth:`drop_unpublished` removes). Returns how
        many records the day now has. Publishing a load with no records empties the day.
        """

    @abstractmethod
    def stage_part(self, day: str, load: str, part: Path) -> int:
        """Stage a bucket of ``day``'s records under ``load`` from a part file.

        ``part`` is the file :func:`tpdask.process.store_rows.write_store_part` made for this store's
        URI (SQLite: a SQLite file of the rows; MongoDB: an Arrow file of each document's
        BSON). The day job's one writer calls this while other buckets still invert.
        Same staging as ``write_viewer_days(records, load)``: invisible until
        :meth:`publish_day`, and a record staged twice under one load is kept once.
        Returns how many records were staged.
        """

    @abstractmethod
    def drop_unpublished(self, day: str) -> int:
        """Remove the staged rows of ``day`` that no reader sees (runs that died or failed)."""

    @abstractmethod
    def delete_day(self, day: str) -> int:
        """Remove every viewer-day record of ``day`` (``YYYY-MM-DD``); return how many."""

    @abstractmethod
    def iter_viewer_days(self, day: str) -> Iterator[dict[str, Any]]:
        """Yield the records of ``day`` sorted by viewer, exactly as they were written."""

    @abstractmethod
    def count_viewer_days(self, day: str) -> int:
        """How many viewer-day records ``day`` has."""

    @abstractmethod
    def days(self) -> list[str]:
        """The days that have viewer-day records, sorted."""

    # -- analysis results: keyed JSON documents ------------------------------------------

    @abstractmethod
    def replace_results(self, kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> int:
        """Make ``docs`` (key → JSON-able document) the whole of ``(kind, scope)``.

        Kinds are what the analyser produces: ``bots`` and ``streamer_days`` (scope: the
        day; key: viewer, streamer), ``overlap`` and ``communities`` (scope: the period),
        ``profiles`` (scope ``""``; key: viewer). Returns how many documents were written.
        """

    def upsert_results(self, kind: str, scope: str, docs: dict[str, dict[str, Any]]) -> int:
        """Write ``docs`` into ``(kind, scope)``, replacing those of the same keys only."""
        rows = [(key, orjson.dumps(doc).decode()) for key, doc in docs.items()]
        return self.upsert_encoded_results(kind, scope, rows)

    @abstractmethod
    def upsert_encoded_results(self, kind: str, scope: str, rows: list[tuple[str, str]]) -> int:
        """:meth:`upsert_results` with each document already JSON text: ``(key, json)``.

        For one writer fed by tasks that built and encoded the documents in parallel (the
        analyser's profiles): SQLite has one writer at a time, and workers queueing for it
        cost more than the writes.
        """

    @abstractmethod
    def iter_results(
        self, kind: str, scope: str | None = None, key: str | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(scope, key, doc)`` of ``kind``, filtered by scope and/or key, sorted by
        (scope, key). Both filters are served by indexes (a viewer's profile, a streamer's
        days, a period's overlap)."""

    @abstractmethod
    def result_scopes(self, kind: str) -> list[str]:
        """The scopes that hold documents of ``kind``, sorted (the analysed days, periods)."""

    @abstractmethod
    def result_bases(self, kind: str) -> dict[str, str]:
        """scope → the basis of ``(kind, scope)``: a digest of what its documents were
        computed from (the lake runs of the days they read, the settings), as the
        analysis that published them recorded it (:mod:`tpdask.analysis.basis`)."""

    @abstractmethod
    def publish_results(self, publication: Publication) -> None:
        """Apply one analysis run's results, all of them or none.

        SQLite applies the whole publication in one transaction: readers see the results
        before it or after it. MongoDB (FerretDB 1.24 has no transactions) first records
        the publication as unfinished, applies it, then clears that record: a run killed
        half-way leaves the record, which :meth:`unfinished_publication` shows readers
        until the next run publishes again.
        """

    @abstractmethod
    def unfinished_publication(self) -> dict[str, Any] | None:
        """``{"run", "started_at"}`` of a publication being applied, or that a killed run
        left half-applied; None when the results are whole."""

    # -- account status: what the verifier keeps -----------------------------------------
    # An account is a viewer login of a published day. Its status is a dict of STATUS_KEYS:
    # ``status`` one of STATUSES, ``user_id`` and ``login_now`` None when unknown,
    # ``checked_at`` unix seconds (float). Every change of (status, user_id, login_now) is
    # appended to a history, readable by login and by user id, so a renamed account's
    # history follows its id.

    @abstractmethod
    def unsynced_days(self) -> list[str]:
        """Published days whose viewers are not in the accounts yet, sorted: never synced,
        or published again (another load, or another record count) since."""

    @abstractmethod
    def sync_accounts(self, day: str, ids: Iterable[tuple[str, str]] = ()) -> int:
        """Add the viewers of ``day``'s published records to the accounts (never checked),
        give the accounts whose user id is unknown the one ``ids`` pairs (viewer, user_id)
        name, and note the day as synced. Idempotent; returns how many accounts are new."""

    @abstractmethod
    def accounts_to_check(
        self, limit: int, before: float | None = None
    ) -> list[tuple[str, str | None]]:
        """Up to ``limit`` (viewer, user_id or None): the never-checked first (by viewer),
        then those checked before ``before`` (any time when None), oldest check first."""

    @abstractmethod
    def write_statuses(self, statuses: list[dict[str, Any]]) -> int:
        """Store the statuses (upsert by viewer); append a history entry for each whose
        (status, user_id, login_now) differs from the stored one. Returns the changes.

        Safe to repeat after a kill: a change is never recorded twice."""

    @abstractmethod
    def iter_statuses(self, viewer: str | None = None) -> Iterator[dict[str, Any]]:
        """The checked accounts' statuses (STATUS_KEYS), sorted by viewer; ``viewer``
        filters (served by an index)."""

    @abstractmethod
    def status_history(
        self, viewer: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        """History entries ``{"viewer", "user_id", "status", "login_now", "at"}``, oldest
        first, of a login and/or of a user id (every login it had), both indexed."""

    @abstractmethod
    def status_counts(self) -> dict[str, int]:
        """How many accounts have each status, never-checked ones as ``"unchecked"``."""

    # -- website reads: what the site needs beyond the jobs' interface -------------------
    # (tpdask/stores/site_sqlite.py, site_mongo.py; every argument is a plain str or int)

    @abstractmethod
    def viewer_history(self, viewer: str) -> list[dict[str, Any]]:
        """The viewer's published viewer-day records, by day (served by the viewer index)."""

    @abstractmethod
    def result_keys(self, kind: str, scope: str, start: str = "", limit: int = 100) -> list[str]:
        """Up to ``limit`` keys of ``(kind, scope)`` that are ≥ ``start``, sorted (an index
        range: a random profile is the first key after a random string)."""

    @abstractmethod
    def count_results(self, kind: str, scope: str | None = None) -> int:
        """How many documents ``kind`` has (in ``scope`` when given)."""

    @abstractmethod
    def latest_jobs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest ``limit`` ledger entries, as :meth:`job_runs` gives them."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Bytes the store takes, for ``tpdask status``: SQLite, its file and its WAL;
        MongoDB, the database's ``dataSize`` (``dbStats``: documents, without indexes)."""

    def record_job(
        self,
        job: str,
        day: str,
        status: str,
        report: dict[str, Any],
        started_at: float,
        finished_at: float | None,
    ) -> None:
        """Append one run of ``job`` for ``day`` to the ledger; ``report`` is JSON-able.

        Both backends keep the entry in one shape: times as floats, the report as JSON
        text (so any JSON survives the round trip, whatever the backend's own types). A
        report JSON cannot hold (an integer past 64 bits) is a StoreError saying so.
        """
        try:
            text = orjson.dumps(report).decode()
        except orjson.JSONEncodeError as e:
            raise StoreError(f"the report of this {job} run cannot be kept in the job ledger "
                             f"of {self.where}: {e}") from None
        self._append_job(
            {
                "job": job,
                "day": day,
                "status": status,
                "report": text,
                "started_at": float(started_at),
                "finished_at": None if finished_at is None else float(finished_at),
            }
        )

    @abstractmethod
    def _append_job(self, entry: dict[str, Any]) -> None:
        """Store one ledger entry as :meth:`record_job` made it."""

    @abstractmethod
    def job_runs(self, job: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
        """Ledger entries, newest first (by ``started_at``, then by order of recording).

        Each entry is ``{"job", "day", "status", "report", "started_at", "finished_at"}``;
        ``job`` and ``day`` filter when given.
        """

    # -- privacy: erasure and retention (privacy_sqlite.py, privacy_mongo.py) -------------

    @abstractmethod
    def erase_viewer(self, identifiers: list[str]) -> dict[str, Any]:
        """Remove every trace of a viewer known by ``identifiers`` (its login, and its
        pseudonym): its viewer-day records of every load, its results of
        :data:`VIEWER_KINDS`, its account and account history, and the ``login_now`` of
        other accounts that point to it. Safe to repeat. Returns the count per place and
        ``linked``: the other logins its user id was seen under (the same person's other
        names, for the operator to judge)."""

    @abstractmethod
    def forget_accounts(self, viewers: Iterable[str]) -> dict[str, int]:
        """Delete the accounts (and their history) among ``viewers`` that no viewer-day
        record names any more (after a pruned day); counts per place."""

    @abstractmethod
    def drop_results(self, kind: str, scope: str) -> int:
        """Delete ``(kind, scope)``'s documents and its basis; how many documents."""

    @abstractmethod
    def day_viewers(self, day: str) -> list[str]:
        """The distinct viewers of ``day``'s records, published or not."""

    @abstractmethod
    def compact(self, vacuum: bool = False) -> None:
        """Leave no copy of deleted data readable where the backend can (SQLite: the
        write-ahead log truncated, and with ``vacuum`` the file rebuilt)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}>"


def check_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate the shape of viewer-day records and keep the last one of each key.

    Extra or missing keys are refused rather than silently dropped, since stores promise
    to give records back exactly as written.
    """
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    expected = set(RECORD_KEYS)
    for record in records:
        keys = set(record)
        if keys != expected:
            missing, extra = sorted(expected - keys), sorted(keys - expected)
            raise StoreError(
                f"not a viewer-day record (missing keys {missing}, unexpected keys {extra}): "
                f"{str(record)[:200]}"
            )
        by_key[(record["day"], record["viewer"])] = record
    return list(by_key.values())


def check_statuses(statuses: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate account statuses (keys, status, types) and keep the last one of each viewer."""
    by_viewer: dict[str, dict[str, Any]] = {}
    for status in statuses:
        if set(status) != set(STATUS_KEYS) or status["status"] not in STATUSES or not (
            isinstance(status["checked_at"], (int, float))
        ):
            raise StoreError(
                f"not an account status (keys {list(STATUS_KEYS)}, status one of "
                f"{list(STATUSES)}, checked_at unix seconds): {str(status)[:200]}"
            )
        by_viewer[status["viewer"]] = {**status, "checked_at": float(status["checked_at"])}
    return list(by_viewer.values())


def batched(items: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items (``itertools.batched`` is 3.12+)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


_USERINFO = re.compile(r"(//[^/@:]*):[^/]*@")  # up to the last @ of the authority


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, for messages and logs."""
    return _USERINFO.sub(r"\1:***@", uri)
