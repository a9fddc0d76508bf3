"""The MongoDB store, for when many machines write and the website serves many readers.

It uses only what both MongoDB 6+ and FerretDB 1.24 (the server the tests run against)
support: ``Collection.bulk_write`` of unordered batches (not ``MongoClient.bulk_write``,
whose ``bulkWrite`` command FerretDB lacks), plain finds, sorts, ``distinct`` and indexes.

Documents have a deterministic ``_id`` (``"<day>:<viewer>:<load>"``, or ``"<day>:<viewer>"``
for direct writes), so a Dask task that is run again replaces its documents instead of
adding copies. A day job stages its documents under its own load id; ``day_loads`` holds
one document per day naming the load readers see, and publishing a day replaces that one
document (an atomic write in MongoDB and FerretDB alike; FerretDB 1.24 has no transactions). A batch is first inserted
(``InsertOne``, unordered: the usual case, a day being written afresh, costs one round
trip); the documents refused as duplicate keys are then replaced (``ReplaceOne`` with
``upsert=True``). Three details of FerretDB 1.24 shape this module:

- an ``update`` command holds a database connection for each document it matched until
  the command ends, from a pool of 100: with 100 or more matches in one command the
  server deadlocks. Replacements therefore go in commands of
  :data:`REPLACE_BATCH_SIZE`. FerretDB also takes ~15 ms per replacement against ~0.1 ms
  per inserted document, hence insert first (upserting everything works, just slowly);
- it refuses nested arrays, so a session ``[start, end]`` is stored as
  ``{"start": start, "end": end}`` and turned back into a pair when read;
- a job report can be any JSON (arrays of arrays included), so it is stored as JSON text.

FerretDB also answers a count or a delete by ``(day, load)`` with a scan of the whole
collection (a count of a 900K-document day took over 5 minutes here), so ``load_counts``
keeps each load's document count, written with its documents: publishing reads it and
then deletes only the other loads it lists (none, when a day is processed the first
time). ``drop_unpublished`` (after a failure) still looks at every document of the day.

Streamer logins are keys of the ``streamers`` sub-document: they match
``^[a-z0-9_]{1,25}$``, so they never contain the ``.`` or ``$`` that MongoDB keys forbid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import pymongo
from pymongo import InsertOne, ReplaceOne
from pymongo.collection import Collection
from pymongo.errors import (BulkWriteError, ConfigurationError, ConnectionFailure,
                            DuplicateKeyError, NetworkTimeout, OperationFailure, PyMongoError)

from tpdask.errors import ConfigError, StoreError
from tpdask.stores.accounts_mongo import AccountsMongoMixin
from tpdask.stores.base import Store, batched, check_records, redact_uri
from tpdask.stores.mongo_docs import from_doc, to_doc
from tpdask.stores.privacy_mongo import PrivacyMongoMixin
from tpdask.stores.results_mongo import ResultsMongoMixin
from tpdask.stores.site_mongo import SiteMongoMixin
from tpdask.stores.stage_mongo import StageMongoMixin

#: The database used when the URI names none.
DEFAULT_DATABASE = "tpdask"

#: Replacements per ``update`` command; FerretDB 1.24 deadlocks at 100 matched documents.
REPLACE_BATCH_SIZE = 50

#: The ``load_counts`` document that says every load of the store is counted there.
_ALL_COUNTED = "all loads counted"

#: MongoDB's error code for a duplicate key.
DUPLICATE_KEY = 11000

#: MongoDB's error code for dropping an index that is not there.
INDEX_NOT_FOUND = 27

#: How long to look for a server before saying it cannot be reached (URI options win).
SERVER_SELECTION_TIMEOUT_MS = 5000


class MongoStore(AccountsMongoMixin, ResultsMongoMixin, SiteMongoMixin, StageMongoMixin,
                 PrivacyMongoMixin, Store):
    """The store in the database named by ``uri`` (``mongodb://host:port/dbname``)."""

    def __init__(self, uri: str, create: bool = True) -> None:
        expected = (
            "expected mongodb://[user:password@]host:port/dbname or mongodb+srv://host/dbname"
        )
        try:
            parts = urlsplit(uri)
            password = parts.password if "@" in parts.netloc else None
        except ValueError as e:
            raise ConfigError(
                f"MongoDB store URI {redact_uri(uri)} is malformed ({e}) — {expected}"
            ) from e
        self._secrets = {password, unquote(password)} - {""} if password else set()
        self.where = parts.netloc.rpartition("@")[2]
        self.database_name = parts.path.strip("/") or DEFAULT_DATABASE
        options: dict[str, Any] = {"appname": "tpdask"}
        if "serverselectiontimeoutms" not in parts.query.lower():
            options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        try:
            self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, **options)
        except (ConfigurationError, ValueError, TypeError) as e:
            raise ConfigError(
                f"MongoDB store URI {redact_uri(uri)} is not usable: {self._scrub(e)} — {expected}"
            ) from e
        self._db = self._client[self.database_name]
        self._viewer_days = self._db["viewer_days"]
        self._jobs = self._db["jobs"]
        self._day_loads = self._db["day_loads"]
        self._load_counts = self._db["load_counts"]
        self._results = self._db["results"]
        self._bases = self._db["result_bases"]
        self._publications = self._db["publications"]
        try:
            if not create:
                self._require_existing()
            with self._errors("create the indexes of"):
                self._upgrade_from_day_viewer_index()
                self._upgrade_to_load_counts()
                self._viewer_days.create_index(
                    [
                        ("day", pymongo.ASCENDING),
                        ("load", pymongo.ASCENDING),
                        ("viewer", pymongo.ASCENDING),
                    ],
                    unique=True,
                    name="day_load_viewer",
                )
                self._viewer_days.create_index([("viewer", pymongo.ASCENDING)], name="viewer")
                self._jobs.create_index([("started_at", pymongo.DESCENDING)], name="started_at")
                self._results.create_index(
                    [("kind", pymongo.ASCENDING), ("scope", pymongo.ASCENDING),
                     ("key", pymongo.ASCENDING)], name="kind_scope_key")
                self._results.create_index(
                    [("kind", pymongo.ASCENDING), ("key", pymongo.ASCENDING)], name="kind_key")
                self._create_account_indexes()
        except (StoreError, ConfigError):
            self.close()
            raise

    def _upgrade_from_day_viewer_index(self) -> None:
        """Bring a store written before day loads existed up to date (idempotent).

        Its documents get the direct load ``""`` and each of its days a pointer to it; its
        unique ``(day, viewer)`` index, which would refuse a second load of a day, goes.
        """
        if "day_viewer" not in self._viewer_days.index_information():
            return
        self._viewer_days.update_many({"load": {"$exists": False}}, {"$set": {"load": ""}})
        for day in self._viewer_days.distinct("day"):
            self._ensure_pointer(day)
        try:
            self._viewer_days.drop_index("day_viewer")
        except OperationFailure as e:
            if e.code != INDEX_NOT_FOUND:  # another process upgraded the store meanwhile
                raise

    def _upgrade_to_load_counts(self) -> None:
        """Count the loads of a store written before ``load_counts`` existed (idempotent).

        Publishing drops the other loads ``load_counts`` lists, so every load must be
        there: its documents are counted once, by one pass over the collection, and a
        marker says it was done.
        """
        if self._load_counts.find_one({"_id": _ALL_COUNTED}) is not None:
            return
        groups = self._viewer_days.aggregate(
            [{"$group": {"_id": {"day": "$day", "load": "$load"}, "n": {"$sum": 1}}}])
        for group in groups:
            day, load = group["_id"]["day"], group["_id"]["load"]
            try:     # a writer may have counted it meanwhile: its count stays
                self._load_counts.update_one(
                    {"_id": f"{day}:{load}"},
                    {"$setOnInsert": {"day": day, "load": load, "records": group["n"]}},
                    upsert=True)
            except DuplicateKeyError:
                pass
        try:
            self._load_counts.insert_one({"_id": _ALL_COUNTED})
        except DuplicateKeyError:
            pass

    def _ensure_pointer(self, day: str) -> str:
        """The published load of ``day``, publishing the direct load ``""`` where none is."""
        try:
            self._day_loads.insert_one({"_id": day, "load": ""})
        except DuplicateKeyError:
            pass
        doc = self._day_loads.find_one({"_id": day})
        return "" if doc is None else str(doc["load"])

    def _published(self, day: str) -> str | None:
        doc = self._day_loads.find_one({"_id": day})
        return None if doc is None else str(doc["load"])

    def _require_existing(self) -> None:
        """Refuse a database that holds no tpdask collection (a mistyped URI, for a reader)."""
        with self._errors("look up"):
            names = set(self._db.list_collection_names())
        if not names & {"viewer_days", "jobs", "day_loads"}:
            raise ConfigError(
                f"no tpdask store in database {self.database_name} at {self.where}: check "
                "--store (`tpdask process` creates the store)"
            )

    def _scrub(self, error: object) -> str:
        """The error's text, without the password of the URI should it echo it."""
        text = str(error)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn pymongo errors into a StoreError that says what failed and what to do."""
        where = f"{self.database_name} at {self.where}"
        try:
            yield
        except NetworkTimeout as e:
            raise StoreError(
                f"MongoDB at {self.where} did not answer in time to {action} "
                f"{self.database_name}: {self._scrub(e)} — is the server overloaded or stuck?"
            ) from e
        except ConnectionFailure as e:  # includes ServerSelectionTimeoutError, AutoReconnect
            reason = self._scrub(e).split(" (configured timeouts")[0].split(", Timeout:")[0]
            raise StoreError(
                f"cannot reach MongoDB at {self.where} to {action} {self.database_name}: "
                f"{reason} — is the server running, and is the store URI right?"
            ) from e
        except BulkWriteError as e:
            first = (e.details.get("writeErrors") or [{}])[0].get("errmsg", "")
            raise StoreError(f"MongoDB refused to {action} {where}: {self._scrub(first)}") from e
        except OperationFailure as e:
            hint = (
                "check the user and password in the store URI"
                if e.code in (13, 18)  # Unauthorized, AuthenticationFailed
                else "check the server's log"
            )
            raise StoreError(
                f"MongoDB refused to {action} {where}: {self._scrub(e.details or e)} — {hint}"
            ) from e
        except PyMongoError as e:
            raise StoreError(f"MongoDB failed to {action} {where}: {self._scrub(e)}") from e

    # -- viewer days -------------------------------------------------------------------

    def write_viewer_days(self, records: list[dict[str, Any]], load: str | None = None) -> int:
        records = check_records(records)
        with self._errors("write viewer days to"):
            loads = (
                {}
                if load is not None
                else {day: self._ensure_pointer(day) for day in {r["day"] for r in records}}
            )
            for batch in batched(records):
                docs = [to_doc(r, load if load is not None else loads[r["day"]]) for r in batch]
                pairs = {(doc["day"], doc["load"]) for doc in docs}
                for day, one in pairs:
                    self._count_load(day, one, 0)    # before the documents: see _count_load
                again = self._insert_new(self._viewer_days, docs)
                for day, one in pairs:
                    self._count_load(day, one, sum(1 for d in docs if (d["day"], d["load"]) == (
                        day, one)) - sum(1 for d in again if (d["day"], d["load"]) == (day, one)))
                self._replace(self._viewer_days, again)
        return len(records)

    def _count_load(self, day: str, load: str, new: int) -> None:
        """Add ``new`` documents to the count of ``(day, load)`` in ``load_counts``.

        Counting a day's documents is a scan of the whole collection in FerretDB 1.24
        (over 5 minutes for 900K documents here), so publishing reads the count kept
        here, and then deletes only the other loads listed here. The count document is
        created (with 0) before a load's first document is written, so every load that
        has documents is listed, even after a crash between a write and its count.
        """
        query = {"_id": f"{day}:{load}"}
        update = {"$inc": {"records": new}, "$setOnInsert": {"day": day, "load": load}}
        try:
            self._load_counts.update_one(query, update, upsert=True)
        except DuplicateKeyError:      # two writers upserted it at once: it exists now
            self._load_counts.update_one(query, update, upsert=True)

    @staticmethod
    def _insert_new(collection: Collection, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert ``docs``; return those whose ``_id`` is already there."""
        if not docs:
            return []
        try:
            collection.bulk_write([InsertOne(doc) for doc in docs], ordered=False)
        except BulkWriteError as e:
            errors = e.details.get("writeErrors", [])
            if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return [docs[error["index"]] for error in errors]
        return []

    def _replace(self, collection: Collection, docs: list[dict[str, Any]]) -> None:
        """Replace existing documents (upsert: one may have been deleted meanwhile)."""
        for batch in batched(docs, REPLACE_BATCH_SIZE):
            requests = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in batch]
            try:
                collection.bulk_write(requests, ordered=False)
            except KeyError as e:
                # FerretDB 1.24 answers a partly failed update without "nModified",
                # which pymongo's result merging trips on before it can report it.
                raise StoreError(
                    f"MongoDB refused some viewer days in {self.database_name} at "
                    f"{self.where} (its reply lacked {e}) — check the server's log"
                ) from e

    def publish_day(self, day: str, load: str) -> int:
        with self._errors(f"publish day {day} in"):
            # one document's replacement is atomic: readers switch loads at this instant
            self._day_loads.replace_one({"_id": day}, {"_id": day, "load": load}, upsert=True)
            counted = self._load_counts.find_one({"_id": f"{day}:{load}"})
            count = (int(counted["records"]) if counted is not None
                     else self._viewer_days.count_documents({"day": day, "load": load}))
        self._drop_replaced_loads(day, load)
        return count

    def drop_unpublished(self, day: str) -> int:
        # every document of the day is looked at (a scan in FerretDB): after a failure,
        # documents a dying writer added after its load's count was dropped go too
        with self._errors(f"drop the unpublished loads of day {day} from"):
            published = self._published(day)
            query: dict[str, Any] = {"day": day}
            if published is not None:
                query["load"] = {"$ne": published}
            deleted = self._viewer_days.delete_many(query).deleted_count
            self._load_counts.delete_many(query)
            return deleted

    def _drop_replaced_loads(self, day: str, published: str) -> None:
        """After a publish: drop the loads ``load_counts`` lists besides ``published`` (no
        scan of the collection when the day has no other load, the usual case)."""
        with self._errors(f"drop the replaced loads of day {day} from"):
            loads = {doc["load"] for doc in self._load_counts.find({"day": day})}
            if published not in loads:       # published before load_counts existed
                self.drop_unpublished(day)
                return
            for other in sorted(loads - {published}):
                self._viewer_days.delete_many({"day": day, "load": other})
                self._load_counts.delete_one({"_id": f"{day}:{other}"})

    def delete_day(self, day: str) -> int:
        with self._errors(f"delete day {day} from"):
            visible = self.count_viewer_days(day)
            self._day_loads.delete_one({"_id": day})
            self._viewer_days.delete_many({"day": day})
            self._load_counts.delete_many({"day": day})
            return visible

    def iter_viewer_days(self, day: str) -> Iterator[dict[str, Any]]:
        with self._errors(f"read day {day} from"):
            load = self._published(day)
            if load is None:
                return
            query = {"day": day, "load": load}
            cursor = self._viewer_days.find(query).sort("viewer", pymongo.ASCENDING)
            for doc in cursor.batch_size(1000):
                yield from_doc(doc)

    def count_viewer_days(self, day: str) -> int:
        with self._errors(f"count day {day} in"):
            load = self._published(day)
            if load is None:
                return 0
            return self._viewer_days.count_documents({"day": day, "load": load})

    def days(self) -> list[str]:
        with self._errors("list the days of"):
            return sorted(
                doc["_id"]
                for doc in self._day_loads.find({})
                if self._viewer_days.find_one({"day": doc["_id"], "load": doc["load"]}, {"_id": 1})
            )

    # -- job ledger --------------------------------------------------------------------

    def _append_job(self, entry: dict[str, Any]) -> None:
        with self._errors(f"record a run of {entry['job']} in"):
            self._jobs.insert_one(entry)

    def job_runs(self, job: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("job", job), ("day", day)) if v is not None}
        with self._errors("read the job ledger of"):
            # ObjectIds grow with insertion time: they order runs that started together
            cursor = self._jobs.find(query).sort(
                [("started_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]
            )
            return [
                {
                    "job": doc["job"],
                    "day": doc["day"],
                    "status": doc["status"],
                    "report": orjson.loads(doc["report"]),
                    "started_at": doc["started_at"],
                    "finished_at": doc["finished_at"],
                }
                for doc in cursor
            ]

    def close(self) -> None:
        self.closed = True
        self._client.close()

