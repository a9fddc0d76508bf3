"""Exports from the serving store, in the exact record shapes of docs/contracts.md."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import orjson

from tpdask.errors import NoRecordsError, OutputError
from tpdask.files import atomic_file, temp_path
from tpdask.settings import Config
from tpdask.stores import open_store
from tpdask.stores.base import redact_uri


def export_viewer_days(config: Config, day: str, out: str | None = None) -> int:
    """Write the day's viewer-day records as JSON lines, sorted by viewer; returns the count.

    The store must exist (it is not created) and hold the day: otherwise NoRecordsError,
    and nothing is written.
    """
    with open_store(config.store, create=False) as store:
        records = store.iter_viewer_days(day)
        first = next(records, None)
        if first is None:
            raise NoRecordsError(f"no viewer-day records of {day} in {redact_uri(config.store)}; "
                                 f"`tpdask process --day {day}` makes them")
        return write_lines(chain([first], records), out)


def check_out(out: str | None) -> Path | None:
    """The file an export is to write, checked before any work is done: None (or ``-``) is
    standard output; otherwise ``out`` must not be a folder, its folder must exist (it is
    not created) and a file may be made there. Raises OutputError; creates nothing.

    Whether a file may be made is found by making this process's temp of it and removing
    it at once: that is what the export does, so permissions, ACLs, read-only mounts and
    root alike are judged as they will be.
    """
    if out is None or out == "-":
        return None
    path = Path(out)
    if path.is_dir() or out.endswith(os.sep):
        raise OutputError(f"--out {out} is a folder: name a file in it "
                          f"(--out {path / 'export.jsonl'}), or - for standard output")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"--out {out}: {folder} {what}; create the folder first, or name "
                          "a file in one that exists")
    probe = temp_path(path)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write --out {out}: {exc.strerror or exc}; name a file in "
                          "a folder you may write") from None
    return path


def write_lines(docs: Iterable[dict], out: str | None) -> int:
    """Write ``docs`` as JSON lines to the file ``out`` or, when None, standard output.

    To a file, the export is written to a temporary name, fsynced and renamed at the end,
    so a reader never sees half an export (and a failed export leaves no file); only its
    owner may read it (0600), since exports hold viewer data. The file's folder must exist
    (:func:`check_out`); a write that fails (a full disk) is an OutputError naming the file
    and the cause. ``docs`` come from a store, whose errors are StoreErrors, so an OSError
    here is the file's.
    """
    path = check_out(out)
    if path is None:
        return _write(docs, sys.stdout.buffer)
    return write_file(path, _write, docs)


def write_file(path: Path, write: Callable[..., int], *args: object) -> int:
    """``write(*args, f)`` into ``path`` atomically, readable by its owner only (0600);
    its count. A write that fails is an OutputError naming the file and what to check."""
    try:
        with atomic_file(path, parents=False) as tmp, open(tmp, "wb") as f:
            os.chmod(tmp, 0o600)
            count = write(*args, f)
    except OSError as exc:
        raise OutputError(f"could not write the export to {path}: {exc.strerror or exc}; "
                          "nothing was written — check free space and permissions there") \
            from None
    return count


def _write(records: Iterable[dict], stream: BinaryIO) -> int:
    count = 0
    for record in records:
        stream.write(orjson.dumps(record) + b"\n")
        count += 1
    stream.flush()
    return count
