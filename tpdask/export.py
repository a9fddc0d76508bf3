"""Exports from the serving store, in the exact record shapes of DESIGN.md."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from tpdask.settings import Config
from tpdask.stores import open_store


def export_viewer_days(config: Config, day: str, out: str | None = None) -> int:
    """Write the day's viewer-day records as JSON lines, sorted by viewer; returns the count.

    To a file, the export is written to a temporary name and renamed at the end, so a
    reader never sees half an export.
    """
    count = 0
    with open_store(config.store) as store:
        if out is None:
            stream = sys.stdout.buffer
            for record in store.iter_viewer_days(day):
                stream.write(orjson.dumps(record) + b"\n")
                count += 1
            stream.flush()
            return count
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            for record in store.iter_viewer_days(day):
                f.write(orjson.dumps(record) + b"\n")
                count += 1
        os.replace(tmp, target)
    return count
