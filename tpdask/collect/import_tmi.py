"""Old tmi chatters dumps → samples (contract v1, source "tmi").

Why: until Twitch shut `tmi.twitch.tv/group/user/<channel>/chatters` down on 2023-04-03,
collectors saved its answers, one JSON file per channel and poll. Turned into samples,
those years of audience history go through the same archiver and day processor as new
data. A dump is `{"chatter_count": N, "chatters": {"broadcaster": [...], "vips": [...],
...}}`; older dumps lack some role lists. The layouts real collectors left behind:

    DIR/<channel>/<Y>-<M>-<D>-<HH>-<MM>_dump.json   local time of the collecting machine
                                                    (month, day may be unpadded): --tz
    DIR/<channel>/<unix_ts>.json

Dumps of all channels within one sampling interval become one sample at the slot's start
(`ts - ts % interval`), since the day processor counts presence per sample. Local times
are read with zoneinfo and fold=0: an hour repeated when clocks go back is taken as its
first occurrence, an hour skipped when they go forward with the offset before the jump.
The import is deterministic and merges into a sample already at that slot (union of
streams and chatters), so running it again changes nothing. An unreadable dump is copied
to quarantine/import_tmi/<channel>/ with a .reason file, counted, and the import goes on.
Samples are written atomically (temp `.<slot>.json.<pid>.tmp`, fsync, rename); the temps
a killed import or collector left in a day folder are removed before the first write
there, never those of a live process (files.remove_stale_temps).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import time
import zoneinfo
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from tpdask.days import day_of
from tpdask.errors import ConfigError, SampleError
from tpdask.files import remove_stale_temps
from tpdask.log import Log, Progress, count_row, print_log, progress
from tpdask.privacy.modes import secure_data_dir
from tpdask.privacy.policy import ChatterPolicy
from tpdask.samples import normalise_login, parse_sample, write_sample_file
from tpdask.settings import Config, sqlite_path

ROLES = ("broadcaster", "vips", "moderators", "staff", "admins", "global_mods", "viewers")
LOCAL_NAME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})-(\d{1,2})-(\d{1,2})_dump\.json")
UNIX_NAME = re.compile(r"(\d+)\.json")
TS_RANGE = (1104537600, 4102444800)      # 2005 to 2100: anything else is not a poll time


@dataclass(frozen=True)
class ImportReport:
    """What one `import_tmi` run did."""

    dumps_read: int = 0
    dumps_quarantined: int = 0
    samples_written: int = 0        # sample files created or changed
    samples_unchanged: int = 0      # already exactly what the dumps give (a re-run)
    samples_skipped: tuple[str, ...] = ()   # existing unusable samples, left alone
    entries_suppressed: int = 0     # entries of erased viewers left out (suppression list)
    pseudonymous: bool = False      # chatters written as pseudonyms (pseudonymous mode)
    collisions: tuple[str, ...] = ()   # pseudonyms found to stand for two logins
    days: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    seconds: float = 0.0

    def text(self) -> str:
        lines = [f"tmi import done in {self.seconds} s"]
        for key in ("dumps_read", "dumps_quarantined", "samples_written", "samples_unchanged"):
            lines.append(count_row(key, getattr(self, key)))
        if self.entries_suppressed:
            lines.append(count_row("entries_suppressed", self.entries_suppressed))
        if self.pseudonymous:
            lines.append("  chatters written as pseudonyms (pseudonymous mode)")
        lines += [f"  pseudonym collision: {p} stands for two logins" for p in self.collisions]
        lines.append(count_row("channels", len(self.channels)))
        span = f" ({self.days[0]} … {self.days[-1]})" if self.days else ""
        lines.append(count_row("days", len(self.days), span))
        lines += [f"  skipped: {path} is not a usable sample; its slot was not imported"
                  for path in self.samples_skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Dump:
    ts: int
    channel: str
    path: Path


class _BadDump(Exception):
    """A dump that cannot be used; the message is its quarantine reason."""


def import_tmi(config: Config, folder: Path, tz: str = "UTC", log: Log = print_log) -> ImportReport:
    """Turn every dump under folder/<channel>/ into samples under data/samples/<day>/."""
    started = time.time()
    zone = _zone(tz)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give the folder holding one folder of "
                          "dumps per channel")
    secure_data_dir(config.data_dir, sqlite_path(config.store), log)
    policy = ChatterPolicy.for_data_dir(config.data_dir)
    try:
        report = _import(config, folder, zone, log, policy)
    except OSError as exc:
        raise SampleError(f"cannot import tmi dumps from {folder}: {exc}; fix the cause "
                          "(disk space, permissions) and run the import again: it is "
                          "idempotent") from None
    return replace(report, seconds=round(time.time() - started, 2))


def _import(config: Config, folder: Path, zone: zoneinfo.ZoneInfo, log: Log,
            policy: ChatterPolicy) -> ImportReport:
    dumps, quarantined = [], 0
    keep_raw = not policy.pseudonymous         # a quarantined dump's bytes hold logins
    for channel_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        channel = normalise_login(channel_dir.name)
        for path in sorted(p for p in channel_dir.iterdir() if p.is_file()):
            try:
                if channel is None:
                    raise _BadDump(f"folder name {channel_dir.name!r} is not a channel login")
                dumps.append(_Dump(_dump_ts(path.name, zone), channel, path))
            except _BadDump as exc:
                _quarantine(config, channel_dir.name, path, str(exc), keep_raw)
                quarantined += 1
    dumps.sort(key=lambda d: (d.ts, d.channel, d.path.name))
    log(f"importing {len(dumps)} tmi dumps from {folder}")
    with progress(log, "import_tmi", len(dumps), "dumps") as bar:
        return _import_dumps(config, dumps, quarantined, log, bar, policy)


def _import_dumps(config: Config, dumps: list[_Dump], quarantined: int, log: Log,
                  bar: Progress, policy: ChatterPolicy) -> ImportReport:
    """The dumps, slot after slot, into samples, each chatter list through ``policy``
    (pseudonyms, the suppression list); ``bar`` advances by the dumps of each slot once
    its sample is written."""
    keep_raw = not policy.pseudonymous         # a quarantined dump's bytes hold logins
    suppressed, collisions = 0, []
    read, written, unchanged, skipped = 0, 0, 0, []
    days: set[str] = set()
    tidied: set[str] = set()
    channels: set[str] = set()
    interval = config.interval
    for slot, of_slot in itertools.groupby(dumps, key=lambda d: d.ts - d.ts % interval):
        group = list(of_slot)
        try:
            streams: dict[str, dict] = {}
            for dump in group:
                try:
                    chatters, count = _read_dump(dump.path)
                except _BadDump as exc:
                    _quarantine(config, dump.path.parent.name, dump.path, str(exc), keep_raw)
                    quarantined += 1
                    continue
                policy.refresh(config.data_dir)
                filtered = policy.apply_all({dump.channel: (chatters, None)})[dump.channel]
                suppressed += filtered.suppressed
                collisions += policy.collisions
                _merge_stream(streams.setdefault(dump.channel, {"chatters": []}),
                              filtered.chatters, count)
                channels.add(dump.channel)
                read += 1
            if not streams:
                continue
            if day_of(slot) not in tidied:      # what a killed import or collector left there
                tidied.add(day_of(slot))
                if removed := remove_stale_temps(config.samples_dir / day_of(slot)):
                    log(f"  removed {len(removed)} temp file(s) a killed writer left in "
                        f"{config.samples_dir / day_of(slot)}")
            changed = _write_sample(config, slot, streams, policy.sample_fields())
            if changed is None:
                skipped.append(str(_sample_path(config, slot)))
                log(f"  {skipped[-1]} exists but is not a usable sample: left as it is, "
                    "the dumps of its slot were not imported")
                continue
            if changed:
                written += 1
            else:
                unchanged += 1
            days.add(day_of(slot))
        finally:                                # the slot's dumps done, its sample written
            bar.note(f"{written:,} samples written")
            bar.update(len(group))
    return ImportReport(dumps_read=read, dumps_quarantined=quarantined, samples_written=written,
                        samples_unchanged=unchanged, samples_skipped=tuple(skipped),
                        entries_suppressed=suppressed, pseudonymous=policy.pseudonymous,
                        collisions=tuple(sorted(set(collisions))),
                        days=tuple(sorted(days)), channels=tuple(sorted(channels)))


def _zone(tz: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {tz!r}; give an IANA name such as Europe/Paris "
                          "(a system without /usr/share/zoneinfo needs `pip install tzdata`)"
                          ) from None


def _dump_ts(name: str, zone: zoneinfo.ZoneInfo) -> int:
    """The poll time of a dump, from its file name."""
    if m := LOCAL_NAME.fullmatch(name):
        try:
            ts = int(dt.datetime(*map(int, m.groups()), tzinfo=zone).timestamp())
        except ValueError as exc:
            raise _BadDump(f"file name {name!r} is not a date: {exc}") from None
    elif m := UNIX_NAME.fullmatch(name):
        ts = int(m.group(1))
    else:
        raise _BadDump(f"file name {name!r} is neither <Y>-<M>-<D>-<HH>-<MM>_dump.json "
                       "nor <unix_ts>.json")
    if not TS_RANGE[0] <= ts < TS_RANGE[1]:
        raise _BadDump(f"file name {name!r} gives the time {ts}, not a date between 2005 and 2100")
    return ts


def _read_dump(path: Path) -> tuple[list[str], int | None]:
    """A dump's chatters (all role lists, known roles first, no duplicates) and chatter_count."""
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise _BadDump(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("chatters"), dict):
        raise _BadDump("wrong shape: no \"chatters\" object of role lists")
    count = doc.get("chatter_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise _BadDump(f"wrong shape: chatter_count is {count!r}, not a whole number")
    roles = doc["chatters"]
    chatters, seen = [], set()
    for role in [r for r in ROLES if r in roles] + [r for r in roles if r not in ROLES]:
        logins = roles[role]
        if not isinstance(logins, list) or not all(isinstance(x, str) for x in logins):
            raise _BadDump(f"wrong shape: chatters.{role} is not a list of logins")
        for login in logins:
            if login not in seen:
                seen.add(login)
                chatters.append(login)
    return chatters, count


def _merge_stream(stream: dict, chatters: list[str], count: int | None) -> None:
    """Add chatters not yet in the stream, in order; keep the larger chatter_count."""
    have = stream["chatters"]
    seen = {login for login in have if isinstance(login, str)}
    for login in chatters:
        if login not in seen:
            seen.add(login)
            have.append(login)
    if count is not None:
        stream["chatter_count"] = max(count, stream.get("chatter_count", count))


def _sample_path(config: Config, slot: int) -> Path:
    return config.samples_dir / day_of(slot) / f"{slot}.json"


def _write_sample(config: Config, slot: int, streams: dict[str, dict],
                  fields: dict | None = None) -> bool | None:
    """Write (or merge into) the slot's sample; True if the file changed, None if unusable.

    ``fields``: what the privacy policy adds to a sample (which key made its pseudonyms)."""
    path = _sample_path(config, slot)
    doc = {"version": 1, "ts": slot, "source": "tmi", "streams": {}, **(fields or {})}
    try:
        old = path.read_bytes()
    except FileNotFoundError:       # none yet, or the archiver just took it
        old = None
    if old is not None:
        try:
            parse_sample(path.name, old, day_of(slot))
        except SampleError:
            return None
        doc = orjson.loads(old)
    for channel in sorted(streams):
        target = doc["streams"].setdefault(channel, {"chatters": []})
        _merge_stream(target, streams[channel]["chatters"], streams[channel].get("chatter_count"))
    data = orjson.dumps(doc)
    if data == old:
        return False
    write_sample_file(path, data)
    return True


def _quarantine(config: Config, channel_dir: str, path: Path, reason: str,
                keep_raw: bool = True) -> None:
    """Copy a bad dump to quarantine/import_tmi/<channel>/ with its reason (the source stays).

    In pseudonymous mode (``keep_raw`` false) only the reason is kept, with the dump's path:
    its bytes hold logins, which must not reach the data folder."""
    target = config.quarantine_dir / "import_tmi" / channel_dir / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if keep_raw:
        shutil.copyfile(path, target)
    else:
        reason += (f"\nnot copied (pseudonymous mode: a dump holds logins); the dump is "
                   f"{path}")
    target.with_name(f"{path.name}.reason").write_text(reason + "\n")
