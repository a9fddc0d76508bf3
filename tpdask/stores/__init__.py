"""The serving store: one interface (:class:`Store`, ``base.py``), two backends (SQLite, the
embedded default; MongoDB), the same contract tests on both.

Holds what the website and the exports read: viewer-days (staged under a load, published
per day), the analyser's results, account statuses, the job ledger. Open first
``base.py`` (the interface and what each method promises), then ``sqlite.py`` and
``mongo.py``; each backend keeps its day-job staging (``stage_*``), its account store
(``accounts_*``) and its website reads (``site_*``) in modules of their own.
This module opens the store named by a URI; the rest of tpdask only sees :class:`Store`.

Accepted URIs (the scheme picks the backend):

- ``sqlite:///relative/path.sqlite`` and ``sqlite:////absolute/path.sqlite`` (SQLAlchemy
  style: the path is everything after ``sqlite:///``) — the embedded default;
- ``mongodb://[user:password@]host:port/dbname`` and ``mongodb+srv://host/dbname``
  (database ``tpdask`` when none is named).

Dask runs every task of a job through the same few worker processes, so tasks call
:func:`store_for`, which keeps one open store per URI per process instead of reconnecting
for each task.
"""

from __future__ import annotations

import os
import threading

from tpdask.errors import ConfigError
from tpdask.stores.base import Store, redact_uri

__all__ = ["ACCEPTED_URIS", "Store", "close_cached_stores", "open_store", "store_for"]

ACCEPTED_URIS = (
    "sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite, "
    "mongodb://[user:password@]host:port/dbname or mongodb+srv://host/dbname"
)


def open_store(uri: str, create: bool = True) -> Store:
    """A new store for ``uri``; the caller closes it (or uses it in a ``with`` block).

    ``create=False`` is for readers (``status``, ``export``, the website): a store that does
    not exist yet is an error (a mistyped ``--data_dir`` or URI), not a new empty store.
    Raises ConfigError for a URI of unknown form or a missing store, StoreError when the
    store cannot be opened.
    """
    if uri.startswith("sqlite:"):
        from tpdask.stores.sqlite import SQLiteStore

        path = uri.removeprefix("sqlite:///")
        if path == uri or not path:
            raise ConfigError(f"bad SQLite store URI {uri!r}: use {ACCEPTED_URIS}")
        if not create and not os.path.isfile(path):
            raise ConfigError(f"no store at {path}: check --data_dir and --store "
                              "(`tpdask process` creates the store)")
        return SQLiteStore(path)
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from tpdask.stores.mongo import MongoStore

        return MongoStore(uri, create=create)
    raise ConfigError(f"unknown store URI {redact_uri(uri)!r}: use {ACCEPTED_URIS}")


_cache: dict[str, Store] = {}
_cache_pid = os.getpid()
_cache_lock = threading.Lock()


def store_for(uri: str) -> Store:
    """The open store of ``uri`` for this process, opened on first use; do not close it.

    Safe from several threads. A forked child does not reuse its parent's connections (neither
    SQLite nor pymongo connections survive a fork): it opens its own.
    """
    global _cache_pid
    with _cache_lock:
        if _cache_pid != os.getpid():
            _cache.clear()
            _cache_pid = os.getpid()
        store = _cache.get(uri)
        if store is None or store.closed:
            store = _cache[uri] = open_store(uri)
        return store


def close_cached_stores() -> None:
    """Close the stores :func:`store_for` opened in this process (at the end of a run, tests)."""
    with _cache_lock:
        stores = list(_cache.values())
        _cache.clear()
    for store in stores:
        store.close()
