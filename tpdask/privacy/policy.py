"""What collection and import do to each chat's chatter list before a sample is written.

Every source's observations and every imported tmi dump go through one
:class:`ChatterPolicy`, made from the environment and the data folder:

- **suppression**: a chatter on the suppression list (an erased viewer) is left out;
- **pseudonymous mode** (``TPDASK_PSEUDONYM_KEY`` or ``TPDASK_PSEUDONYM_KEY_FILE``): each
  chatter entry is normalised (``strip().lower()``; an entry that is not a valid login is
  left out, as the day job would) and replaced by its pseudonym, except the streamer's own
  login in its own chat, which is the channel's name (kept, so the analytics still leave a
  streamer out of its own audience); chatter ids are dropped; the sample says which key
  made its pseudonyms (``"pseudonyms": <key id>``).

Nothing of a login reaches the disk: the policy runs in memory, before the sample is
written. A data folder once collected pseudonymously is marked
(``privacy/pseudonymous.json``: the key's id, since when); a collector or an import without
the key, or with another key, is refused there, since it would mix logins (or other
pseudonyms) into the folder.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa

from tpdask.errors import ConfigError
from tpdask.privacy.keys import KEY_ENV, KEY_FILE_ENV, privacy_dir, pseudonym_key
from tpdask.privacy.pseudonyms import CollisionWatch, Pseudonymizer
from tpdask.privacy.modes import write_private
from tpdask.privacy.suppression import Suppression, list_path
from tpdask.samples import normalise_login

MARKER = "pseudonymous.json"


def marker_path(data_dir: Path | str) -> Path:
    return privacy_dir(data_dir) / MARKER


def read_marker(data_dir: Path | str) -> dict | None:
    """The folder's pseudonymous-mode marker, None when it has none."""
    try:
        return orjson.loads(marker_path(data_dir).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {marker_path(data_dir)}: {exc}") from None


def refuse_if_pseudonymous(data_dir: Path | str, what: str,
                           environ: Mapping[str, str] | None = None) -> None:
    """ConfigError when the folder holds pseudonyms or the key is set: ``what`` (the
    verifier) cannot work on pseudonyms."""
    marker = read_marker(data_dir)
    if marker is not None or pseudonym_key(environ) is not None:
        since = f" since {marker.get('since_day')}" if marker else ""
        raise ConfigError(
            f"{what} does not run in pseudonymous mode: the viewers of this data folder are "
            f"keyed hashes of their logins{since}, which Twitch cannot look up (and looking "
            "them up would need the logins pseudonymous mode keeps off the disk)")


def _holds_data(data_dir: Path) -> bool:
    """Whether the folder already holds samples, archives or a lake (written with logins)."""
    return any(folder.is_dir() and any(folder.iterdir()) for folder in (
        data_dir / "samples", data_dir / "archive", data_dir / "lake" / "viewer_days"))


@dataclass
class Filtered:
    """One chat's chatter list after the policy, and what was left out."""

    chatters: list
    chatter_ids: list | None
    suppressed: int = 0
    invalid: int = 0


@dataclass
class ChatterPolicy:
    """Suppression and (optionally) pseudonyms, for one collector or import run."""

    suppression: Suppression | None
    pseudonyms: Pseudonymizer | None = None
    watch: CollisionWatch = field(default_factory=CollisionWatch)
    collisions: list[str] = field(default_factory=list)   # found by the last apply_all

    @classmethod
    def for_data_dir(cls, data_dir: Path | str,
                     environ: Mapping[str, str] | None = None) -> ChatterPolicy:
        """The policy of a data folder; marks the folder pseudonymous on first use of a key,
        refuses a key other than the folder's, and no key in a pseudonymous folder."""
        key = pseudonym_key(environ)
        marker = read_marker(data_dir)
        pseudonyms = Pseudonymizer(key) if key is not None else None
        if pseudonyms is None and marker is not None:
            raise ConfigError(
                f"{data_dir} is a pseudonymous data folder (since {marker.get('since_day')}): "
                f"set {KEY_ENV} or {KEY_FILE_ENV} to the same key, or logins would be written "
                "beside its pseudonyms")
        if pseudonyms is not None and marker is not None and \
                marker.get("key_id") != pseudonyms.key_id:
            raise ConfigError(
                f"the pseudonyms of {data_dir} were made with another key (id "
                f"{marker.get('key_id')}, this one is {pseudonyms.key_id}): a new key would give "
                f"everyone new pseudonyms. Use the folder's key, or move {marker_path(data_dir)} "
                "away to start a new series on purpose (docs/privacy.md)")
        if pseudonyms is not None and marker is None:
            write_private(marker_path(data_dir), orjson.dumps({
                "version": 1, "key_id": pseudonyms.key_id, "since": int(time.time()),
                "since_day": time.strftime("%Y-%m-%d", time.gmtime()),
                "plain_before": _holds_data(Path(data_dir))}))
        suppression = Suppression(data_dir) if list_path(data_dir).exists() else None
        return cls(suppression=suppression, pseudonyms=pseudonyms)

    @property
    def pseudonymous(self) -> bool:
        return self.pseudonyms is not None

    @property
    def plain(self) -> bool:
        """Nothing to do: no pseudonyms and no one suppressed (chatter lists pass as they are)."""
        return self.pseudonyms is None and (self.suppression is None or self.suppression.empty)

    def refresh(self, data_dir: Path | str) -> None:
        """Take an erasure made since into account (the list is read again when it changed)."""
        if self.suppression is None:
            if list_path(data_dir).exists():
                self.suppression = Suppression(data_dir)
        else:
            self.suppression.refresh()

    def sample_fields(self) -> dict:
        """Fields a sample gets under this policy: which key made its pseudonyms."""
        return {"pseudonyms": self.pseudonyms.key_id} if self.pseudonyms is not None else {}

    def apply_all(self, chats: dict[str, tuple[list, list | None]]) -> dict[str, Filtered]:
        """streamer → (chatters, chatter_ids or None) of one sample, filtered.

        The pseudonyms made are checked for collisions together; ``collisions`` lists
        those found (pseudonyms only).
        """
        if self.plain:
            self.collisions = []
            return {s: Filtered(list(c), None if i is None else list(i))
                    for s, (c, i) in chats.items()}
        made: dict[str, tuple[str, int, int]] = {}
        out = {streamer: self._apply(streamer, chatters, ids, made)
               for streamer, (chatters, ids) in chats.items()}
        self.collisions = self.watch.check(list(made.values()))
        return out

    def _apply(self, streamer: str, chatters: list, ids: list | None,
               made: dict[str, tuple[str, int, int]]) -> Filtered:
        suppression = None if self.suppression is None or self.suppression.empty \
            else self.suppression
        if self.pseudonyms is None:
            assert suppression is not None
            logins = [normalise_login(c) or "" for c in chatters]
            drop = suppression.mask(pa.array(logins, pa.string()))
            kept = [c for c, d in zip(chatters, drop) if not d]
            kept_ids = None if ids is None or len(ids) != len(chatters) else \
                [i for i, d in zip(ids, drop) if not d]
            return Filtered(kept, kept_ids, suppressed=int(drop.sum()))
        out: list[str] = []
        invalid = 0
        for entry in chatters:
            login = normalise_login(entry)
            if login is None:
                invalid += 1
            elif login == streamer:
                out.append(login)                     # the channel's own name stays
            else:
                digest = self.pseudonyms.digest(login)
                previous = made.setdefault(login, digest)
                out.append(previous[0])
        suppressed = 0
        if suppression is not None and out:
            drop = suppression.mask(pa.array(out, pa.string()))
            suppressed = int(drop.sum())
            out = [p for p, d in zip(out, drop) if not d]
        return Filtered(out, None, suppressed=suppressed, invalid=invalid)
