"""Every knob of the simulator beyond the audience model, with its default, in one place.

Why a frozen dataclass: it is small, picklable and printable, the constructor of
``Simulator`` takes one, and the docs (docs/simulator.md) list the same fields.  The
defaults copy Twitch where Twitch is documented (800 points a minute, 20 JOINs per 10 s,
1000 users for membership messages, 4-hour user tokens) and are otherwise picked so that
a simulated day exercises the collector's failure paths without drowning it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdask.errors import ConfigError


@dataclass(frozen=True)
class SimOptions:
    """Simulator settings; times are simulated seconds unless the name says ``real``."""

    app_token_lifetime: int = 5_011_200
    """Lifetime of client-credentials tokens (Twitch: about 58 days)."""
    user_token_lifetime: int = 14_400
    """Lifetime of the moderator's user token (Twitch: about 4 h); renew it with the
    refresh token (``grant_type=refresh_token``)."""
    rate_limit: int = 800
    """Helix points per minute (real time) per client id; one request costs one point."""
    moderator_login: str = "tpdask_mod"
    """Login of the user whose token lists chatters (``moderator:read:chatters``)."""
    moderator_id: str = "90000001"
    """User id of that moderator."""
    mod_top: int = 10
    """The moderator moderates the ``mod_top`` most popular streamers of the model ..."""
    mod_extra: tuple[str, ...] = ()
    """... plus these channels (logins)."""
    renamed: float = 0.02
    """Fraction of viewer accounts answering /helix/users under a new login."""
    suspended: float = 0.01
    """Fraction of viewer accounts suspended (absent from /helix/users)."""
    deleted: float = 0.01
    """Fraction of viewer accounts deleted (absent from /helix/users)."""
    irc_batch: float = 10.0
    """JOIN/PART and PRIVMSG lines go out in bursts every ``irc_batch`` simulated seconds."""
    irc_message_gap: float = 600.0
    """Mean simulated seconds between two messages of one chatter (most viewers lurk)."""
    irc_membership_max: int = 1000
    """Chats with more users than this get no JOIN/PART lines (as on Twitch)."""
    irc_join_limit: int = 20
    """JOINs accepted per connection per ``irc_join_window`` real seconds; excess ignored."""
    irc_join_window: float = 10.0
    """Real seconds of the JOIN rate window."""
    irc_ping_real: float = 240.0
    """Real seconds between the server's PINGs; no PONG by the next PING drops the client."""
    chaos: float = 0.0
    """Soak-test fault mix: this fraction of HTTP requests gets a random fault (500, 429,
    truncated JSON, 0.2-1 s delay) and IRC connections are dropped now and then."""

    def __post_init__(self) -> None:
        checks = (
            (self.app_token_lifetime > 0 and self.user_token_lifetime > 0, "token lifetimes > 0"),
            (self.rate_limit >= 1, "rate_limit >= 1"),
            (self.mod_top >= 0, "mod_top >= 0"),
            (all(0 <= f < 1 for f in (self.renamed, self.suspended, self.deleted))
             and self.renamed + self.suspended + self.deleted < 1, "account fractions in [0, 1)"),
            (self.irc_batch > 0 and self.irc_message_gap > 0, "irc_batch, irc_message_gap > 0"),
            (self.irc_join_limit >= 1 and self.irc_join_window > 0, "irc join limit >= 1"),
            (self.irc_ping_real > 0, "irc_ping_real > 0"),
            (0 <= self.chaos <= 1, "chaos in [0, 1]"),
        )
        for ok, rule in checks:
            if not ok:
                raise ConfigError(f"bad simulator options ({rule} is required): {self}")
