"""Bot rules of the analytics contract: `concurrent`, `always_on` and `known`."""

from __future__ import annotations

from dataclasses import dataclass

#: The shipped list of known bot accounts (the contract's default).
KNOWN_BOTS = ("nightbot", "streamelements", "moobot", "streamlabs", "fossabot", "wizebot",
              "soundalerts", "commanderroot", "sery_bot", "kofistreambot")


@dataclass(frozen=True)
class BotRules:
    """When a viewer is a bot on a day (settings bot_concurrent, bot_hours, bot_list)."""

    concurrent: int = 3          # in the chats of more than this many streams at one k
    hours: float = 20            # samples × interval ≥ hours × 3600
    known: tuple[str, ...] = KNOWN_BOTS

    def always_on_samples(self, interval: int) -> float:
        """The fewest samples of a day that make a viewer `always_on`."""
        return self.hours * 3600 / interval
