"""Looking for a login everywhere: every file of a data folder (inside archives and Parquet
files too) and every collection of a store. Used by the erasure and pseudonymous tests."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pymongo

from tpdask.archive.members import stream_archive
from tpdask.settings import sqlite_path


def _words(*logins: str) -> re.Pattern[bytes]:
    """Any of ``logins`` as a whole login-like word, in any case."""
    words = b"|".join(re.escape(login.encode()) for login in sorted(logins, key=len,
                                                                      reverse=True))
    return re.compile(rb"(?<![A-Za-z0-9_])(?:" + words + rb")(?![A-Za-z0-9_])", re.IGNORECASE)


def readable_contents(path: Path) -> list[tuple[str, bytes]]:
    """(where, bytes) of what a file holds once opened: an archive's members, a Parquet
    file's rows and metadata, or the file's own bytes."""
    raw = path.read_bytes()
    if path.suffix == ".7z" or raw[:6] == b"7z\xbc\xaf\x27\x1c":
        members: list[tuple[str, bytes]] = []
        stream_archive(path, lambda name, data: members.append((f"{path}:{name}", data)))
        return members
    if raw[:4] == b"PAR1":
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        return [(str(path), orjson.dumps(table.to_pylist(), default=str)
                 + b"".join(k + v for k, v in meta.items()))]
    return [(str(path), raw)]


def files_naming(data_dir: Path, login: str | list[str], skip: tuple[str, ...] = ()) -> list[str]:
    """Every file (or archive member) under ``data_dir`` holding ``login`` (or any of a
    list of logins) as a word, any case; folders named in ``skip`` (relative to data_dir)
    are not looked at."""
    pattern = _words(*([login] if isinstance(login, str) else login))
    hits = []
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(data_dir / s) for s in skip):
            continue
        hits += [where for where, data in readable_contents(path) if pattern.search(data)]
        if pattern.search(path.name.encode()):
            hits.append(f"{path} (its name)")
    return hits


def store_naming(uri: str, login: str | list[str]) -> list[str]:
    """Every table or collection of the store with a row or document naming ``login``
    (or any of a list of logins)."""
    pattern = _words(*([login] if isinstance(login, str) else login))
    hits = []
    path = sqlite_path(uri)
    if path is not None:
        conn = sqlite3.connect(path)
        try:
            tables = [t for (t,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f"SELECT * FROM {table}"):
                    if pattern.search(repr(row).encode()):
                        hits.append(f"{table}: {row!r}"[:300])
        finally:
            conn.close()
        return hits
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    try:
        db = client.get_default_database()
        for name in db.list_collection_names():
            for doc in db[name].find({}):
                if pattern.search(repr(doc).encode()):
                    hits.append(f"{name}: {doc!r}"[:300])
    finally:
        client.close()
    return hits


def raw_store_naming(uri: str, login: str) -> list[str]:
    """The SQLite store's files (and its write-ahead log) holding the login in their bytes:
    deleted rows left readable in free pages count too."""
    path = sqlite_path(uri)
    if path is None:
        return []
    pattern = _words(login)
    return [str(p) for p in (path, path.with_name(path.name + "-wal"))
            if p.exists() and pattern.search(p.read_bytes())]
