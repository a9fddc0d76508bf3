"""``/bots[?day=…]`` and ``/api/bots``: bots a day and account statuses.

Visitors see bots as pseudonyms; admins also their logins and the first accounts.
"""

from __future__ import annotations

from starlette.requests import Request

from tpdask.web.answers import Answer, one
from tpdask.web.auth import signed_in
from tpdask.web.site import site_of


def bots(request: Request) -> Answer:
    """The bots of ``day`` (one the store lists; by default the newest) by reason."""
    data, admin = site_of(request).data, signed_in(request).admin
    days = data.bot_days()
    day = one(request, "day")
    if day is not None and day not in days:
        return "bots.html", None
    found = data.bots(day or (days[-1] if days else ""), admin)
    if admin:
        found["account_list"] = data.account_list()
    return "bots.html", found
