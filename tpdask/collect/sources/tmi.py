"""The tmi source: the old `/group/user/<channel>/chatters` JSON, for an endpoint that
still serves it (Twitch's own answers 404 since 2023-04-03; archives and proxies do not).
"""

from __future__ import annotations

import requests

from tpdask.collect.sources import Channel, Observation
from tpdask.log import Log, print_log

ROLES = ("broadcaster", "vips", "moderators", "staff", "admins", "global_mods", "viewers")


def chatters_of(dump: dict) -> list[str]:
    """Every login of a tmi chatters answer, role lists in order, duplicates once."""
    lists = dump.get("chatters") or {}
    seen: dict[str, None] = {}
    for role in ROLES:
        for login in lists.get(role) or []:
            seen.setdefault(login, None)
    return list(seen)


class TmiSource:
    name = "tmi"

    def __init__(self, tmi_url: str, timeout: float = 10.0, log: Log = print_log):
        self.tmi_url = tmi_url.rstrip("/")
        self.timeout = timeout
        self.log = log
        self.session = requests.Session()

    def observe(self, channels: list[Channel]) -> dict[str, Observation]:
        seen = {}
        for channel in channels:
            url = f"{self.tmi_url}/group/user/{channel.login}/chatters"
            try:
                response = self.session.get(url, timeout=self.timeout)
                response.raise_for_status()
                dump = response.json()
            except (requests.RequestException, ValueError) as exc:
                self.log(f"tmi: no chatters for {channel.login} this tick ({type(exc).__name__})")
                continue
            seen[channel.login] = Observation(chatters=chatters_of(dump), observed_by="tmi")
        return seen

    def close(self) -> None:
        self.session.close()
