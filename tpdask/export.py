"""Exports from the serving store, in the exact record shapes of docs/contracts.md."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import orjson

from tpdask.errors import NoRecordsError
from tpdask.files import atomic_file
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


def write_lines(docs: Iterable[dict], out: str | None) -> int:
    """Write ``docs`` as JSON lines to the file ``out`` or, when None, standard output.

    To a file, the export is written to a temporary name, fsynced and renamed at the end,
    so a reader never sees half an export (and a failed export leaves no file); only its
    owner may read it (0600), since exports hold viewer data.
    """
    if out is None:
        return _write(docs, sys.stdout.buffer)
    with atomic_file(Path(out)) as tmp, open(tmp, "wb") as f:
        os.chmod(tmp, 0o600)
        count = _write(docs, f)
    return count


def _write(records: Iterable[dict], stream: BinaryIO) -> int:
    count = 0
    for record in records:
        stream.write(orjson.dumps(record) + b"\n")
        count += 1
    stream.flush()
    return count
