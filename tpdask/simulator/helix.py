"""The Helix endpoints tpdask uses, answering from the audience model at simulated now.

Why these and only these: the collector picks channels with ``/helix/streams``, lists
moderated chats with ``/helix/chat/chatters`` and the verifier resolves accounts with
``/helix/users``.  Shapes, status codes and messages follow dev.twitch.tv's reference:

* every request needs ``Authorization: Bearer <token>`` and the token's ``Client-Id``
  (401 otherwise) and spends one point of the client's bucket (``Ratelimit-*`` headers,
  429 past it; see ratelimit.py);
* a listing is read at one instant: the cursor carries the simulated time of its first
  page, so pages of one listing never overlap nor miss anyone, however fast the clock.
  A listing without ``after`` reads the present.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib

import orjson

from tpdask.simulator.auth import CHATTERS_SCOPE, Auth, Token
from tpdask.simulator.faults import Faults
from tpdask.simulator.ratelimit import RateLimiter
from tpdask.simulator.routing import Request, Response, helix_error, json_response, not_found
from tpdask.simulator.world import World

_THUMB = "https://static-cdn.jtvnw.net/previews-ttv/live_user_{login}-{{width}}x{{height}}.jpg"
_AVATAR = "https://static-cdn.jtvnw.net/user-default-pictures-uv/{n}-profile_image-300x300.png"


class BadRequest(Exception):
    """A parameter is wrong: answered 400 with this message."""


def encode_cursor(ts: int, offset: int) -> str:
    raw = orjson.dumps({"a": {"Offset": offset}, "t": ts})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(pinned simulated time, offset) of a cursor made by ``encode_cursor``."""
    try:
        obj = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(obj["t"]), int(obj["a"]["Offset"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Invalid cursor value") from None


def helix_stream(rec: dict) -> dict:
    """A model stream record in the shape of a Helix ``/streams`` item."""
    sid = 40_000_000_000 + zlib.crc32(f"{rec['user_id']}:{rec['started_at']}".encode())
    return {"id": str(sid), "user_id": rec["user_id"], "user_login": rec["user_login"],
            "user_name": rec["user_name"], "game_id": str(zlib.crc32(rec["game_name"].encode())),
            "game_name": rec["game_name"], "type": "live", "title": rec["title"],
            "viewer_count": rec["viewer_count"], "started_at": rec["started_at"],
            "language": rec["language"], "thumbnail_url": _THUMB.format(login=rec["user_login"]),
            "tag_ids": [], "tags": [], "is_mature": False}


class Helix:
    """Router and handlers of ``/helix/...``."""

    def __init__(self, world: World, auth: Auth, faults: Faults, limiter: RateLimiter):
        self.world, self.auth, self.faults, self.limiter = world, auth, faults, limiter
        self._routes = {"/streams": self.streams, "/chat/chatters": self.chatters,
                        "/users": self.users}

    def handle(self, req: Request, route: str) -> Response:
        """Authenticate, rate-limit, dispatch ``route`` (the path after ``/helix``)."""
        handler = self._routes.get(route.rstrip("/"))
        if handler is None or req.method != "GET":
            return not_found(req.path)
        bearer, client_id = req.auth("Bearer"), req.headers.get("client-id")
        if not bearer:
            return helix_error(401, "OAuth token is missing")
        if not client_id:
            return helix_error(401, "Client-Id header is missing")
        token = self.auth.lookup(bearer)
        if token is None:
            challenge = 'OAuth realm="TwitchTV", error="invalid_token"'
            return helix_error(401, "Invalid OAuth token", {"WWW-Authenticate": challenge})
        if token.client_id != client_id:
            return helix_error(401, "Client ID and OAuth token do not match")
        if self.faults.take_unauthorized():
            return helix_error(401, "Invalid OAuth token")
        if self.faults.take_rate_limit():
            return helix_error(429, "Too Many Requests", {**self.limiter.exhausted(),
                                                          **self.faults.retry_after_headers()})
        allowed, headers = self.limiter.take(client_id)
        if not allowed:
            self.faults.count("helix.rate_limited")
            return helix_error(429, "Too Many Requests", headers)
        try:
            resp = handler(req, token)
        except BadRequest as exc:
            resp = helix_error(400, str(exc))
        if resp.status == 200 and self.faults.helix_shape:   # only then: bodies are big
            resp.body = orjson.dumps(self.faults.reshape(orjson.loads(resp.body)))
        resp.headers.update(headers)
        return resp

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _first(req: Request, default: int, most: int) -> int:
        text = req.arg("first", str(default))
        if not (text or "").isdigit() or not 1 <= int(text) <= most:
            raise BadRequest(f'The parameter "first" was malformed: '
                             f"the value must be between 1 and {most}")
        return int(text)

    def _pinned(self, req: Request) -> tuple[int, int]:
        after = req.arg("after")
        return decode_cursor(after) if after else (self.world.now(), 0)

    @staticmethod
    def _page(items: list, ts: int, offset: int, first: int) -> tuple[list, dict]:
        end = offset + first
        cursor = {"cursor": encode_cursor(ts, end)} if end < len(items) else {}
        return items[offset:end], cursor

    # ------------------------------------------------------------ endpoints
    def streams(self, req: Request, token: Token) -> Response:
        """``GET /helix/streams``: live streams at the pinned instant, most viewers first."""
        first = self._first(req, 20, 100)
        ts, offset = self._pinned(req)
        recs = self.world.live(ts)
        languages = req.args("language")
        if languages and self.world.config.language not in languages:
            recs = []
        logins, ids = set(req.args("user_login")), set(req.args("user_id"))
        if len(logins) + len(ids) > 100:
            raise BadRequest("The sum of user_id and user_login values must not exceed 100")
        if logins or ids:
            recs = [r for r in recs if r["user_login"] in logins or r["user_id"] in ids]
        games = set(req.args("game_id"))
        data = [helix_stream(r) for r in recs]
        if games:
            data = [d for d in data if d["game_id"] in games]
        page, pagination = self._page(data, ts, offset, first)
        self.faults.count("helix.streams")
        return json_response(200, {"data": page, "pagination": pagination})

    def chatters(self, req: Request, token: Token) -> Response:
        """``GET /helix/chat/chatters``: a moderated chat's users, up to 1000 a page."""
        broadcaster, moderator = req.arg("broadcaster_id"), req.arg("moderator_id")
        for name, value in (("broadcaster_id", broadcaster), ("moderator_id", moderator)):
            if not value:
                raise BadRequest(f'Missing required parameter "{name}"')
        if token.user_id is None or CHATTERS_SCOPE not in token.scopes:
            return helix_error(401, f"Missing scope: {CHATTERS_SCOPE}")
        if token.user_id != moderator:
            return helix_error(401, "The ID in moderator_id must match the user ID found "
                                    "in the request's OAuth token.")
        if not self.world.moderates(moderator, broadcaster):
            return helix_error(403, "The user in moderator_id must be a moderator of the "
                                    "broadcaster's chat room.")
        first = self._first(req, 100, 1000)
        ts, offset = self._pinned(req)
        login = self.world.login_of_streamer.get(broadcaster, "")
        logins = self.world.chatters(ts, login)
        page, pagination = self._page(logins, ts, offset, first)
        accounts = self.world.accounts
        data = [{"user_id": accounts.id_of(x) or "", "user_login": x, "user_name": x}
                for x in page]
        self.faults.count("helix.chatters")
        return json_response(200, {"data": data, "pagination": pagination,
                                   "total": len(logins)})

    def users(self, req: Request, token: Token) -> Response:
        """``GET /helix/users?id=..&login=..``: live accounts; gone ones are absent."""
        ids, logins = req.args("id"), req.args("login")
        if len(ids) + len(logins) > 100:
            raise BadRequest("The sum of the id and login parameters must not exceed 100")
        if not ids and not logins:
            if token.user_id is None:
                raise BadRequest("Must provide an ID, Login or OAuth Token")
            ids = [token.user_id]
        accounts = self.world.accounts
        found = [accounts.by_id(x) for x in ids] + [accounts.by_login(x) for x in logins]
        seen, data = set(), []
        for acc in found:
            if acc is not None and acc.id not in seen:
                seen.add(acc.id)
                data.append(_user_record(acc.id, acc.login, acc.broadcaster_type))
        self.faults.count("helix.users")
        return json_response(200, {"data": data})


def _user_record(uid: str, login: str, broadcaster_type: str) -> dict:
    created = dt.datetime(2011, 6, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
        seconds=int(uid) * 7919 % (11 * 365 * 86400))
    return {"id": uid, "login": login, "display_name": login, "type": "",
            "broadcaster_type": broadcaster_type, "description": "",
            "profile_image_url": _AVATAR.format(n=int(uid) % 8), "offline_image_url": "",
            "view_count": 0, "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
