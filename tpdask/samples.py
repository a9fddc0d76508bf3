"""Sample files (sample contract v1): the login rule, parsing and checking one sample,
writing one, and quarantining one that cannot be used.

The contract every stage shares: the collector and import_tmi write samples, the archiver
packs them, the day job parses them. A sample that cannot be used (not JSON, wrong
version, ts outside its day, wrong shape) raises SampleError inside `parse_sample`; the
caller quarantines it and goes on. Where a day's samples are (its archive, its folder):
:mod:`tpdask.archive.members`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from tpdask.days import day_bounds
from tpdask.errors import SampleError
from tpdask.files import atomic_write, fsync_dir

#: A valid login (inversion rule), in the syntax Python's re and pyarrow's RE2 both read.
LOGIN_PATTERN = "^[a-z0-9_]{1,25}$"
LOGIN_RE = re.compile(LOGIN_PATTERN)
SAMPLE_NAME = re.compile(r"[0-9]{1,20}\.json")     # what the collector and import_tmi write
CONTRACT_VERSION = 1


def normalise_login(entry: object) -> str | None:
    """strip().lower() a chatter entry; None when the result is not a valid login."""
    if not isinstance(entry, str):
        return None
    login = entry.strip().lower()
    return login if LOGIN_RE.fullmatch(login) else None


@dataclass
class Sample:
    """One parsed sample: its ts and, per normalised streamer login, the raw chatter list.

    ``meta`` is parallel to ``streams``: each stream's other fields (viewer_count, title,
    game_name, …, and ``chatter_ids`` when the source gave them), as written.
    """

    name: str
    ts: int
    streams: list[tuple[str, list]]
    meta: list[dict] = field(default_factory=list)


def parse_sample(name: str, raw: bytes, day: str) -> Sample:
    """Parse and check one sample file of `day`; raise SampleError saying what is wrong."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SampleError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SampleError("wrong shape: the top level is not a JSON object")
    if doc.get("version") != CONTRACT_VERSION:
        raise SampleError(f"wrong version: {doc.get('version')!r}, this reader knows version 1")
    ts = doc.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise SampleError(f"wrong shape: ts must be a unix timestamp integer, got {ts!r}")
    start, end = day_bounds(day)
    if not start <= ts < end:
        raise SampleError(f"ts {ts} is outside the day {day} (UTC)")
    streams = doc.get("streams")
    if not isinstance(streams, dict):
        raise SampleError("wrong shape: streams must be an object of streamer login → stream")
    parsed, meta = [], []
    for key, stream in streams.items():
        login = normalise_login(key)
        if login is None:
            raise SampleError(f"wrong shape: stream key {key!r} is not a streamer login")
        if not isinstance(stream, dict) or not isinstance(stream.get("chatters"), list):
            raise SampleError(f"wrong shape: stream {key!r} has no chatters list")
        parsed.append((login, stream["chatters"]))
        meta.append(stream)
    return Sample(name=name, ts=ts, streams=parsed, meta=meta)


# ---- a sample that cannot be used: kept aside with its reason ---------------------------

def quarantine(quarantine_dir: Path, day: str, name: str, raw: bytes, reason: str,
               origin: Path | None = None) -> Path:
    """Keep a bad sample under quarantine/<day>/ with a .reason file beside it.

    A loose file is moved (it must not be read again); an archive member is copied, since
    the archive is the immutable record of the day.
    """
    target_dir = quarantine_dir / day
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    if origin is not None and origin.exists():
        os.replace(origin, target)
    else:
        target.write_bytes(raw)
    (target_dir / f"{name}.reason").write_text(reason + "\n")
    return target


# ---- sample file names, writing them, and what dead writers leave --------------------------

def is_sample_name(name: str) -> bool:
    """True for the names the collector and import_tmi give samples: `<unix ts>.json`."""
    return SAMPLE_NAME.fullmatch(name) is not None


def safe_file_name(name: str) -> str:
    """`name` with every byte outside [A-Za-z0-9._-] written %XX (reversible, always UTF-8).

    A name with a backslash, a slash-like character or bytes that are not UTF-8 (os.listdir
    gives those as surrogate escapes) becomes a name every tool can show and handle.
    """
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
    out = "".join(chr(b) if b in safe else f"%{b:02X}" for b in os.fsencode(name))
    return "%2E" + out[1:] if out.startswith(".") else out     # never a hidden file


def quarantine_file(quarantine_dir: Path, day: str, path: Path, reason: str) -> Path:
    """Move the loose file `path` to quarantine/<day>/ under a safe name, with a .reason file.

    A name already taken there (the same odd name quarantined before) gets `.1`, `.2`, …
    appended: nothing in the quarantine is ever overwritten.
    """
    target_dir = quarantine_dir / day
    target_dir.mkdir(parents=True, exist_ok=True)
    base = safe_file_name(path.name)
    target, n = target_dir / base, 0
    while target.exists() or target.with_name(f"{target.name}.reason").exists():
        n += 1
        target = target_dir / f"{base}.{n}"
    os.rename(path, target)
    (target_dir / f"{target.name}.reason").write_text(
        f"{reason}\noriginal name: {os.fsencode(path.name)!r} in {os.fsencode(path.parent)!r}\n")
    fsync_dir(target_dir)
    fsync_dir(path.parent)
    return target


def write_sample_file(path: Path, data: bytes) -> Path:
    """Write a sample atomically (temp `.<name>.<pid>.tmp`, fsync, rename, fsync of the folder).

    Tried again when the day folder vanished meanwhile: the archiver removes a day folder
    it emptied, and may do so between this writer's mkdir and its open.
    """
    for attempt in range(5):
        try:
            return atomic_write(path, data)
        except FileNotFoundError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


