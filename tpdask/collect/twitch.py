"""The Twitch client: Helix and OAuth2 over requests.

All rate limiting, back-off and token renewal live in one method, `_call`, around the
lowest-level request (the twarc pattern); pagination is a generator of raw pages and the
caller decides when to stop. Every call has a timeout. Tokens and the client secret are
never logged or put in an error message.
"""

from __future__ import annotations

import random
import time
from typing import Callable, Iterator

import requests

from tpdask.collect.credentials import Credentials
from tpdask.errors import TwitchAuthError, TwitchError
from tpdask.log import Log, print_log

VALIDATE_EVERY = 3600          # Twitch asks apps to validate tokens hourly
MAX_RATE_WAIT = 60.0


class TwitchClient:
    def __init__(self, credentials: Credentials, helix_url: str, auth_url: str, *,
                 timeout: float = 10.0, max_tries: int = 6, backoff_cap: float = 30.0,
                 log: Log = print_log, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None):
        self.credentials = credentials
        self.helix_url = helix_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_cap = backoff_cap
        self.log = log
        self.sleep = sleep
        self.session = session or requests.Session()
        self._app_token: str | None = None
        self._user_token = credentials.user_token
        self._refresh_token = credentials.refresh_token
        self._validated_at = 0.0
        self._rate_reset: float | None = None     # when Ratelimit-Remaining hit 0
        self.calls = 0
        self.retries = 0

    # ---- tokens ------------------------------------------------------------------------

    def _fetch_app_token(self) -> str:
        data = {"client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "grant_type": "client_credentials"}
        body = self._call("POST", f"{self.auth_url}/token", data=data, auth=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise TwitchAuthError("the token endpoint answered without an access_token")
        self._app_token, self._validated_at = token, time.time()
        return token

    def validate(self, token: str) -> dict | None:
        """What Twitch knows of a token (client_id, login, user_id, scopes), None if invalid."""
        try:
            return self._call("GET", f"{self.auth_url}/validate", auth=False,
                              headers={"Authorization": f"OAuth {token}"})
        except TwitchError as exc:
            if exc.status == 401:
                return None
            raise

    def _refresh_user_token(self) -> None:
        """Renew the user token with the refresh token (grant_type=refresh_token)."""
        if not self._refresh_token:
            raise TwitchAuthError("the user token was refused (401) and there is no refresh "
                                  "token: set TPDASK_REFRESH_TOKEN, or create a new user token")
        data = {"client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "grant_type": "refresh_token", "refresh_token": self._refresh_token}
        body = self._call("POST", f"{self.auth_url}/token", data=data, auth=False)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise TwitchAuthError("the token endpoint did not renew the user token")
        self._user_token = body["access_token"]
        self._refresh_token = body.get("refresh_token") or self._refresh_token
        self.log("user token renewed with the refresh token")

    def app_token(self) -> str:
        """The app token, fetched on first use and validated every hour."""
        if self._app_token is None:
            return self._fetch_app_token()
        if time.time() - self._validated_at >= VALIDATE_EVERY:
            if self.validate(self._app_token) is None:
                self.log("app token no longer valid: renewing it")
                return self._fetch_app_token()
            self._validated_at = time.time()
        return self._app_token

    def user(self) -> dict:
        """The user behind the user token (user_id, login, scopes); TwitchAuthError if none."""
        if not self._user_token:
            raise TwitchAuthError("no user token: set TPDASK_USER_TOKEN to a token with "
                                  "moderator:read:chatters to use the helix source")
        info = self.validate(self._user_token)
        if info is None and self._refresh_token:
            self._refresh_user_token()
            info = self.validate(self._user_token)
        if info is None:
            raise TwitchAuthError("the user token is invalid or expired: create a new one with "
                                  "the moderator:read:chatters scope")
        return info

    # ---- the one place for rate limits, back-off and renewal ----------------------------

    def _wait_for_rate_limit(self) -> None:
        if self._rate_reset is not None:
            wait = min(MAX_RATE_WAIT, self._rate_reset - time.time())
            self._rate_reset = None
            if wait > 0:
                self.log(f"rate limit reached: waiting {wait:.1f} s")
                self.sleep(wait)

    def _note_rate_limit(self, response: requests.Response) -> None:
        remaining = response.headers.get("Ratelimit-Remaining")
        reset = response.headers.get("Ratelimit-Reset")
        if remaining is not None and reset is not None and remaining.strip() == "0":
            try:
                self._rate_reset = float(reset)
            except ValueError:
                self._rate_reset = time.time() + 1

    def _backoff(self, attempt: int, why: str) -> None:
        delay = min(self.backoff_cap, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
        self.retries += 1
        self.log(f"{why}: retrying in {delay:.1f} s")
        self.sleep(delay)

    def _call(self, method: str, url: str, *, params=None, data=None, headers=None,
              auth: bool = True, user: bool = False):
        last = "no answer"
        for attempt in range(self.max_tries):
            self._wait_for_rate_limit()
            all_headers = dict(headers or {})
            if auth:
                token = self._user_token if user else self.app_token()
                all_headers.update({"Authorization": f"Bearer {token}",
                                    "Client-Id": self.credentials.client_id})
            try:
                self.calls += 1
                response = self.session.request(method, url, params=params, data=data,
                                                headers=all_headers, timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__} calling {url}"
                self._backoff(attempt, last)
                continue
            self._note_rate_limit(response)
            status = response.status_code
            if status == 401 and auth:
                if user:
                    self._refresh_user_token()
                else:
                    self.log("app token refused (401): renewing it")
                    self._fetch_app_token()
                continue
            if status == 429:
                reset = response.headers.get("Ratelimit-Reset")
                self._rate_reset = float(reset) if reset else time.time() + 1
                last = f"429 rate limited on {url}"
                self.retries += 1
                continue
            if status >= 500:
                last = f"{status} from {url}"
                self._backoff(attempt, last)
                continue
            if status >= 400:
                raise self._refusal(status, url, response, user)
            try:
                return response.json()
            except ValueError:
                last = f"malformed JSON from {url}"
                self._backoff(attempt, last)
        raise TwitchError(f"Twitch call failed after {self.max_tries} tries ({last}); "
                          "check the network and the --helix_url/--auth_url settings")

    @staticmethod
    def _refusal(status: int, url: str, response: requests.Response, user: bool) -> TwitchError:
        try:
            message = response.json().get("message", "")
        except ValueError:
            message = response.text[:200]
        path = url.split("?")[0]
        if status in (401, 403) and not path.endswith("/chat/chatters"):
            kind = "user token" if user else "client id/secret"
            return TwitchAuthError(f"Twitch refused the {kind} ({status} on {path}): {message}",
                                   status)
        return TwitchError(f"Twitch answered {status} on {path}: {message}", status)

    # ---- Helix -----------------------------------------------------------------------

    def pages(self, path: str, params: dict | list, user: bool = False) -> Iterator[dict]:
        """Raw pages of a paginated Helix endpoint, following the cursor."""
        params = list(params.items()) if isinstance(params, dict) else list(params)
        cursor = None
        while True:
            query = params + ([("after", cursor)] if cursor else [])
            page = self._call("GET", f"{self.helix_url}/{path}", params=query, user=user)
            yield page
            cursor = (page.get("pagination") or {}).get("cursor")
            if not cursor or not page.get("data"):
                return

    def top_streams(self, language: str, top: int) -> list[dict]:
        """The `top` live streams of a language by viewers, de-duplicated by user id."""
        seen, streams = set(), []
        for page in self.pages("streams", {"language": language, "first": 100}):
            for stream in page.get("data", []):
                if stream.get("user_id") not in seen:
                    seen.add(stream.get("user_id"))
                    streams.append(stream)
            if len(streams) >= top:
                break
        return streams[:top]

    def streams_of(self, logins: list[str]) -> list[dict]:
        """Live streams of the given channel logins (those offline are absent)."""
        streams = []
        for i in range(0, len(logins), 100):
            query = [("user_login", login) for login in logins[i:i + 100]] + [("first", 100)]
            for page in self.pages("streams", query):
                streams.extend(page.get("data", []))
        return streams

    def users(self, ids: list[str] = (), logins: list[str] = ()) -> list[dict]:
        """Accounts by id or login, 100 per call; suspended or deleted ones are absent."""
        keys = [("id", i) for i in ids] + [("login", x) for x in logins]
        found = []
        for i in range(0, len(keys), 100):
            found.extend(self._call("GET", f"{self.helix_url}/users",
                                    params=keys[i:i + 100]).get("data", []))
        return found

    def chatters(self, broadcaster_id: str, moderator_id: str) -> list[dict]:
        """Everyone in a chat (user token of a moderator of it), all pages of 1000."""
        chatters = []
        query = {"broadcaster_id": broadcaster_id, "moderator_id": moderator_id, "first": 1000}
        for page in self.pages("chat/chatters", query, user=True):
            chatters.extend(page.get("data", []))
        return chatters
