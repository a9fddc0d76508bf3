"""A viewer's profile page: the analysed profile plus the viewer's published days.

What a visitor sees is anonymised: the viewer is a pseudonym, and the viewer's own
channel (when the viewer is also a streamer) is left out of what is shown, as the
profiles of the analytics contract leave it out, so that a streamer's profile does not
name the streamer. Only :func:`viewer_profile` with ``login_shown=True`` (the admins'
lookup) adds the login.
"""

from __future__ import annotations

from typing import Any

from tpdask.stores.base import Store
from tpdask.web.pseudonyms import Pseudonyms, display_name

#: Sessions drawn on a profile's timeline (the newest ones).
MAX_SESSIONS = 600


def viewer_profile(store: Store, pseudonyms: Pseudonyms, login: str,
                   login_shown: bool = False) -> dict[str, Any] | None:
    """The page data of a viewer, or None when the store knows nothing of it."""
    profile = next((doc for _, _, doc in store.iter_results("profiles", "", login)), None)
    history = store.viewer_history(login)
    if profile is None and not history:
        return None
    token = pseudonyms.token(login)
    days: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    per_streamer: dict[str, float] = {}
    for record in history:
        minutes = 0.0
        for streamer, s in record["streamers"].items():
            if streamer == login:
                continue
            minutes += s["minutes"]
            per_streamer[streamer] = per_streamer.get(streamer, 0) + s["minutes"]
            sessions += [{"streamer": streamer, "start": a, "end": b} for a, b in s["sessions"]]
        days.append({"day": record["day"], "minutes": minutes, "samples": record["samples"]})
    sessions.sort(key=lambda s: (s["start"], s["streamer"]))
    top = sorted(per_streamer.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    data: dict[str, Any] = {
        "token": token,
        "name": display_name(token),
        "first_day": profile["first_day"] if profile else history[0]["day"],
        "last_day": profile["last_day"] if profile else history[-1]["day"],
        "days_active": profile["days_active"] if profile else len(history),
        "minutes": sum(d["minutes"] for d in days) if profile is None else
        sum(m for s, m in per_streamer.items()) or 0,
        "main_streamer": profile.get("main_streamer") if profile else None,
        "loyalty": profile.get("loyalty") if profile else None,
        "bot": profile.get("bot") if profile else None,
        "hours": profile.get("hours") if profile else None,
        "streamers": [{"streamer": s, "minutes": round(m, 1)} for s, m in top],
        "days": days,
        "sessions": sessions[-MAX_SESSIONS:],
        "sessions_total": len(sessions),
    }
    if data["main_streamer"] == login:
        data["main_streamer"] = None
    if login_shown:
        data["login"] = login
    return data
