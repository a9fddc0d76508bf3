"""The id.twitch.tv side: client credentials, the moderator's user token, validation.

Why it matters: the collector must get an app token (client-credentials flow), validate
it at start and hourly, renew tokens that expire or get revoked, and list chatters with
a *user* token (``moderator:read:chatters``) that expires after ~4 h and is renewed with
its refresh token.  Tokens expire in simulated time, so a fast clock makes the collector
meet expiry within minutes.  Endpoints (base ``/oauth2``):

* ``POST /oauth2/token`` grant_type=client_credentials | refresh_token
* ``GET  /oauth2/validate`` with ``Authorization: OAuth <token>``
* ``POST /oauth2/revoke`` client_id, token
"""

from __future__ import annotations

import random
import string
import threading
from dataclasses import dataclass

from tpdask.simulator.clock import SimClock
from tpdask.simulator.options import SimOptions
from tpdask.simulator.routing import Request, Response, json_response, oauth_error

CHATTERS_SCOPE = "moderator:read:chatters"
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class Token:
    """An access token: app tokens have no user."""

    value: str
    client_id: str
    expires_at: float  # simulated unix time
    user_id: str | None = None
    login: str | None = None
    scopes: tuple[str, ...] = ()


class Auth:
    """Token issuer and registry; one client application, one moderator user."""

    def __init__(self, clock: SimClock, options: SimOptions, seed: int):
        self.clock, self.options = clock, options
        self._rng = random.Random(f"tpdask-simulator-{seed}")  # stable credentials per seed
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> user id
        self.client_id = self._random(30)
        self.client_secret = self._random(30)
        self.refresh_token = self._random(50)
        self._refresh[self.refresh_token] = options.moderator_id
        self.user_token = self._issue_user().value
        self.expired_total = 0

    def _random(self, n: int) -> str:
        return "".join(self._rng.choice(_ALPHABET) for _ in range(n))

    def _issue_app(self) -> Token:
        with self._lock:
            token = Token(self._random(30), self.client_id,
                          self.clock.now() + self.options.app_token_lifetime)
            self._tokens[token.value] = token
        return token

    def _issue_user(self) -> Token:
        with self._lock:
            o = self.options
            token = Token(self._random(30), self.client_id,
                          self.clock.now() + o.user_token_lifetime,
                          o.moderator_id, o.moderator_login, (CHATTERS_SCOPE,))
            self._tokens[token.value] = token
        return token

    def lookup(self, value: str | None) -> Token | None:
        """The token if it exists, is not revoked and has not expired (simulated time)."""
        token = self._tokens.get(value or "")
        if token is None or token.expires_at <= self.clock.now():
            return None
        return token

    def expire_all(self) -> int:
        """Invalidate every access token issued so far (refresh tokens stay valid)."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
            self.expired_total += n
        return n

    def live_tokens(self) -> int:
        now = self.clock.now()
        return sum(1 for t in list(self._tokens.values()) if t.expires_at > now)

    # ------------------------------------------------------------ endpoints
    def token(self, req: Request) -> Response:
        """``POST /oauth2/token``: client_credentials, or refresh_token for the user token."""
        if req.method != "POST":
            return oauth_error(405, "method not allowed")
        form = req.form()
        if not form.get("client_id"):
            return oauth_error(400, "missing client id")
        if form["client_id"] != self.client_id:
            return oauth_error(400, "invalid client")
        if form.get("client_secret") != self.client_secret:
            return oauth_error(403, "invalid client secret")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            token = self._issue_app()
            return json_response(200, {"access_token": token.value,
                                       "expires_in": self.options.app_token_lifetime,
                                       "token_type": "bearer"})
        if grant == "refresh_token":
            if form.get("refresh_token") not in self._refresh:
                return oauth_error(400, "Invalid refresh token")
            token = self._issue_user()
            return json_response(200, {"access_token": token.value,
                                       "refresh_token": form["refresh_token"],
                                       "expires_in": self.options.user_token_lifetime,
                                       "scope": list(token.scopes), "token_type": "bearer"})
        return oauth_error(400, "unsupported grant type")

    def validate(self, req: Request) -> Response:
        """``GET /oauth2/validate``: what the token is, or 401 when it is not valid."""
        token = self.lookup(req.auth("OAuth") or req.auth("Bearer"))
        if token is None:
            return oauth_error(401, "invalid access token")
        body: dict = {"client_id": token.client_id}
        if token.user_id:
            body.update(login=token.login, user_id=token.user_id)
        body.update(scopes=list(token.scopes),
                    expires_in=max(0, int(token.expires_at - self.clock.now())))
        return json_response(200, body)

    def revoke(self, req: Request) -> Response:
        """``POST /oauth2/revoke`` client_id, token: the token stops working."""
        form = req.form()
        if form.get("client_id") != self.client_id:
            return oauth_error(400, "invalid client")
        with self._lock:
            if self._tokens.pop(form.get("token", ""), None) is None:
                return oauth_error(400, "Invalid token")
        return Response(200, b"", is_json=False)
