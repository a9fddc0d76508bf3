"""Presence sources: who was in each tracked chat during one collection window.

Every source turns the channels of a tick into the same thing, an `Observation` per
channel, so the collector writes one sample contract whatever the source. Choose with
`tpdask collect --source helix|irc|tmi` (docs/collector.md says what each one sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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
    """The accounts seen in one chat during the window, and how they were seen."""

    chatters: list[str]
    chatter_ids: list[str] | None = None
    observed_by: str = ""
    extra: dict = field(default_factory=dict)


class Source(Protocol):
    name: str

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        """Observations of this window for the channels it could read (others absent)."""

    def close(self) -> None:
        """Release connections."""
