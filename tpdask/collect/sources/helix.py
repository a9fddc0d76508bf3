"""The helix source: GET /helix/chat/chatters, for the channels the user token moderates.

It sees everyone connected to those chats (logged-in), the most complete view Twitch
gives today, each with its user id (``chatter_ids``; None for an id that is not digits).
A channel it may not read (403) is reported once and skipped for an hour, not retried
every tick.
"""

from __future__ import annotations

import time

from tpdask.collect.sources import Channel, Observation, user_id_or_none
from tpdask.collect.twitch import TwitchClient
from tpdask.errors import TwitchError
from tpdask.log import Log, print_log

RETRY_REFUSED_AFTER = 3600


class HelixSource:
    name = "helix"

    def __init__(self, client: TwitchClient, log: Log = print_log):
        self.client = client
        self.log = log
        self.moderator_id = str(client.user()["user_id"])
        self.refused: dict[str, float] = {}       # channel login -> when it was refused

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        seen = {}
        now = time.time()
        for channel in channels:
            if now - self.refused.get(channel.login, -RETRY_REFUSED_AFTER) < RETRY_REFUSED_AFTER:
                continue
            try:
                chatters = self.client.chatters(channel.user_id, self.moderator_id)
            except TwitchError as exc:
                if exc.status == 403:
                    self.refused[channel.login] = now
                    self.log(f"helix: cannot read the chatters of {channel.login} ({exc}); "
                             "skipping it for an hour — is the token's user a moderator there?")
                    continue
                raise
            self.refused.pop(channel.login, None)
            seen[channel.login] = Observation(
                chatters=[c["user_login"] for c in chatters],
                chatter_ids=[user_id_or_none(c.get("user_id")) for c in chatters],
                observed_by="chatters")
        return seen

    def close(self) -> None:
        pass
