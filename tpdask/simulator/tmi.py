"""The old tmi endpoint, ``GET /group/user/<channel>/chatters``, as it answered until 2023.

Why keep a dead endpoint: tpdask imports years of dumps of it (``import_tmi``) and its
collector once polled it; the simulator lets both be tested against the exact shape
(``chatter_count`` and the seven role lists).  The broadcaster is listed when live, the
chat bots as moderators (they are, on real channels), everyone else as viewers.
No authentication, as on Twitch.
"""

from __future__ import annotations

from tpdask.simulator.routing import Response, json_response
from tpdask.simulator.world import World

ROLES = ("broadcaster", "vips", "moderators", "staff", "admins", "global_mods", "viewers")


def tmi_chatters(world: World, channel: str) -> Response:
    """The chatters of ``channel`` at simulated now, grouped by role."""
    channel = channel.lower()
    logins = world.chatters(world.now(), channel)
    groups: dict[str, list[str]] = {role: [] for role in ROLES}
    if logins:
        groups["broadcaster"].append(channel)
    bots = set(world.bot_logins)
    for login in logins:
        groups["moderators" if login in bots else "viewers"].append(login)
    count = sum(len(v) for v in groups.values())
    return json_response(200, {"_links": {}, "chatter_count": count, "chatters": groups})
