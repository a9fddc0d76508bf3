"""Viewer-day records as MongoDB documents, and back.

FerretDB 1.24 refuses nested arrays, so a session ``[start, end]`` is stored as
``{"start": start, "end": end}`` and turned back into a pair when read. The day job
builds the same documents' BSON without a dict per record (:mod:`tpdask.process.store_bson`,
held byte for byte against :func:`to_doc` by tests/test_store_bson.py).
"""

from __future__ import annotations

from typing import Any

from tpdask.stores.base import RECORD_KEYS


def to_doc(record: dict[str, Any], load: str) -> dict[str, Any]:
    """A viewer-day record as a document of ``load``: deterministic ``_id``, sessions as
    sub-documents. The direct load keeps the ``_id`` stores had before loads existed."""
    key = f"{record['day']}:{record['viewer']}"
    doc: dict[str, Any] = {"_id": f"{key}:{load}" if load else key}
    doc.update((k, record[k]) for k in RECORD_KEYS[:-1])
    doc["load"] = load
    doc["streamers"] = {
        login: {**s, "sessions": [{"start": start, "end": end} for start, end in s["sessions"]]}
        for login, s in record["streamers"].items()
    }
    return doc


def from_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The viewer-day record a document was made from (see :func:`to_doc`)."""
    record = {k: doc[k] for k in RECORD_KEYS[:-1]}
    record["streamers"] = {
        login: {**s, "sessions": [[one["start"], one["end"]] for one in s["sessions"]]}
        for login, s in doc["streamers"].items()
    }
    return record
