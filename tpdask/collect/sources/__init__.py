"""Presence sources: who was in each tracked chat during one collection window.

Every source turns the channels of a tick into the same thing, an `Observation` per
channel, so the collector writes one sample contract whatever the source. Choose with
`tpdask collect --source helix|irc|tmi` (docs/collector.md says what each one sees).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

_USER_ID = re.compile(r"[0-9]{1,20}")


def user_id_or_none(value: object) -> str | None:
    """A Twitch user id as the samples keep it (a string of ASCII digits), else None."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return text if _USER_ID.fullmatch(text) else None


@dataclass(frozen=True)
class Channel:
    """A tracked live channel of this tick, with the metadata a sample records."""

    login: str
    user_id: str
    viewer_count: int = 0
    title: str = ""
    game_name: str = ""
    language: str = ""
    started_at: str = ""

    @classmethod
    def from_helix(cls, stream: dict) -> "Channel":
        return cls(login=str(stream.get("user_login", "")).lower(),
                   user_id=str(stream.get("user_id", "")),
                   viewer_count=int(stream.get("viewer_count") or 0),
                   title=stream.get("title") or "", game_name=stream.get("game_name") or "",
                   language=stream.get("language") or "",
                   started_at=stream.get("started_at") or "")


@dataclass
class Observation:
    """The accounts seen in one chat during the window, and how they were seen.

    ``chatter_ids``, when the source gives ids, is parallel to ``chatters``: the user id
    of each login, or None where the source saw the login without one."""

    chatters: list[str]
    chatter_ids: list[str | None] | None = None
    observed_by: str = ""
    extra: dict = field(default_factory=dict)


class Source(Protocol):
    name: str

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        """Observations of this window for the channels it could read (others absent)."""

    def close(self) -> None:
        """Release connections."""
