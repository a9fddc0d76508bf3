"""Taking one viewer out of raw JSON: samples (loose and archived), quarantined files,
imported tmi dumps.

A file is first looked at as bytes: only one that holds an identifier as a word (any case;
a login is ``[a-z0-9_]``, so the word ends where those characters end), or that has JSON
``\\u`` escapes, is parsed. A sample loses the identifier's entries from every stream's
``chatters`` (an entry counts when it normalises to the identifier, as the day job reads
it) and the parallel ``chatter_ids``; any other JSON loses every list item that normalises
to it (a tmi dump's role lists). Stream keys and titles are not chatter data and stay: a
viewer who is also a streamer keeps its channel (docs/privacy.md). A file that cannot be
parsed and holds the identifier cannot be cleaned: :func:`scrub_bytes` says so (None),
and the caller deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from tpdask.samples import normalise_login


def word_pattern(identifiers: Iterable[str]) -> re.Pattern[bytes]:
    """Bytes regex finding any identifier as a whole login-like word, in any case."""
    words = sorted({re.escape(i.encode()) for i in identifiers}, key=len, reverse=True)
    return re.compile(rb"(?<![A-Za-z0-9_])(?:" + b"|".join(words) + rb")(?![A-Za-z0-9_])",
                      re.IGNORECASE)


class Scrubber:
    """Removes the entries of a set of identifiers (a login, its pseudonym) from raw JSON."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.identifiers = frozenset(identifiers)
        self.pattern = word_pattern(self.identifiers)

    def wanted(self, raw: bytes) -> bool:
        """Whether the bytes may hold an identifier (a cheap look before any parsing)."""
        return self.pattern.search(raw) is not None or b"\\u" in raw

    def mentions(self, raw: bytes) -> bool:
        """Whether the bytes hold an identifier as a word."""
        return self.pattern.search(raw) is not None

    def scrub_bytes(self, raw: bytes) -> tuple[bytes | None, int]:
        """(new bytes, entries removed); the same bytes when nothing is to be removed, None
        when the file holds an identifier but is not JSON (it cannot be cleaned)."""
        if not self.wanted(raw):
            return raw, 0
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return (None, 0) if self.mentions(raw) else (raw, 0)
        doc, removed = self.scrub_doc(doc)
        return (orjson.dumps(doc), removed) if removed else (raw, 0)

    def scrub_doc(self, doc: Any) -> tuple[Any, int]:
        """A parsed sample (a dict with ``streams``) or any JSON, without the identifiers'
        entries; and how many were removed."""
        if isinstance(doc, dict) and isinstance(doc.get("streams"), dict):
            removed = 0
            for stream in doc["streams"].values():
                if isinstance(stream, dict):
                    removed += self._scrub_stream(stream)
            return doc, removed
        return self._scrub_any(doc)

    def _is_one(self, entry: object) -> bool:
        return normalise_login(entry) in self.identifiers

    def _scrub_stream(self, stream: dict) -> int:
        chatters = stream.get("chatters")
        if not isinstance(chatters, list):
            return 0
        drop = [self._is_one(entry) for entry in chatters]
        if not any(drop):
            return 0
        stream["chatters"] = [e for e, d in zip(chatters, drop) if not d]
        ids = stream.get("chatter_ids")
        if isinstance(ids, list) and len(ids) == len(drop):
            stream["chatter_ids"] = [i for i, d in zip(ids, drop) if not d]
        return sum(drop)

    def _scrub_any(self, value: Any) -> tuple[Any, int]:
        if isinstance(value, list):
            kept, removed = [], 0
            for item in value:
                if self._is_one(item):
                    removed += 1
                    continue
                item, n = self._scrub_any(item)
                removed += n
                kept.append(item)
            return kept, removed
        if isinstance(value, dict):
            removed = 0
            for key in list(value):
                value[key], n = self._scrub_any(value[key])
                removed += n
            return value, removed
        return value, 0
