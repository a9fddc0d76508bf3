"""The Twitch client: Helix and OAuth2 over requests.

All rate limiting, back-off and token renewal live in one method, `_call`, around the
lowest-level request (the twarc pattern): a ``Retry-After`` is waited out (up to a minute,
else the call fails saying so), a 401 renews the token once and a second one is Twitch
refusing the credentials. Pagination is a generator of raw pages and the caller decides
when to stop; an answer that is not Helix's ``{"data": [...]}`` is an error at once. Every call has a timeout. Tokens and the client secret are
never logged or put in an error message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from typing import Any, Callable, Iterator

import orjson
import requests

from tpdask.collect.credentials import Credentials
from tpdask.errors import TwitchAuthError, TwitchError
from tpdask.log import Log, print_log

VALIDATE_EVERY = 3600          # Twitch asks apps to validate tokens hourly
#: The longest wait for a rate limit or a Retry-After; Twitch's bucket refills within a
#: minute, so a server asking for more is not a rate limit to sit out: the call fails.
MAX_RATE_WAIT = 60.0


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """The wait a ``Retry-After`` header asks for (RFC 9110: delay-seconds, or an HTTP-date),
    in seconds from ``now``; None when there is none or it cannot be read."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now)


def helix_items(body: Any, path: str, keys: tuple[str, ...] = ()) -> list[dict]:
    """The ``data`` list of a Helix answer, each item an object with the string ``keys``.

    Helix documents ``{"data": [...]}``; anything else (``[]``, ``{"data": null}``, a user
    without ``id``) is a TwitchError saying what came instead: a proxy, a wrong
    --helix_url or a changed API, which retrying does not mend.
    """
    problem = None
    if not isinstance(body, dict):
        kinds = {list: "a JSON array", str: "a JSON string", type(None): "JSON null"}
        problem = kinds.get(type(body), "a JSON number")
    elif "data" not in body:
        problem = 'no "data"'
    elif body["data"] is None:
        problem = '"data": null'
    elif not isinstance(body["data"], list):
        problem = '"data" that is not a list'
    else:
        for item in body["data"]:
            if not isinstance(item, dict):
                problem = "an item that is not an object"
            else:
                problem = next((f'an item without "{k}"' for k in keys
                                if not isinstance(item.get(k), str) or not item.get(k)), None)
            if problem:
                break
    if problem is None:
        return body["data"]
    excerpt = orjson.dumps(body).decode()[:120]
    raise TwitchError(f"Helix answered {path} with {problem}, not the {{\"data\": [...]}} "
                      f"it documents ({excerpt}); check that --helix_url is Twitch's Helix "
                      "(https://api.twitch.tv/helix)")


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

    def _wait_asked(self, response: requests.Response, url: str) -> bool:
        """Honour the answer's ``Retry-After``: the next try waits that long (the rate-limit
        wait, :meth:`_wait_for_rate_limit`). False when it has none; a TwitchError when it
        asks for more than MAX_RATE_WAIT."""
        wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        if wait is None:
            return False
        path = url.split("?")[0]
        if wait > MAX_RATE_WAIT:
            raise TwitchError(f"Twitch answered {response.status_code} on {path} and asked to "
                              f"wait {wait:.0f} s before the next call (Retry-After), more than "
                              f"tpdask waits ({MAX_RATE_WAIT:.0f} s): run it again later",
                              response.status_code)
        self._rate_reset = max(self._rate_reset or 0.0, time.time() + wait)
        self.log(f"{response.status_code} on {path} with Retry-After: waiting {wait:.1f} s")
        return True

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
        renewed = False          # a 401 renews the token once; a second 401 is a refusal
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
                if renewed:
                    raise self._refused_again(url, response, user)
                renewed = True
                if user:
                    self._refresh_user_token()
                else:
                    self.log("app token refused (401): renewing it")
                    self._fetch_app_token()
                continue
            if status == 429:
                reset = response.headers.get("Ratelimit-Reset")
                try:
                    self._rate_reset = float(reset) if reset else time.time() + 1
                except ValueError:
                    self._rate_reset = time.time() + 1
                self._wait_asked(response, url)
                last = f"429 rate limited on {url}"
                self.retries += 1
                continue
            if status >= 500:
                last = f"{status} from {url}"
                if self._wait_asked(response, url):
                    self.retries += 1
                else:
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
    def _message(response: requests.Response) -> str:
        """The ``message`` of a Twitch error body, or the start of whatever came."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:200]
        return str(body.get("message", "")) if isinstance(body, dict) else str(body)[:200]

    @classmethod
    def _refusal(cls, status: int, url: str, response: requests.Response,
                 user: bool) -> TwitchError:
        message = cls._message(response)
        path = url.split("?")[0]
        if status in (401, 403) and not path.endswith("/chat/chatters"):
            kind = "user token" if user else "client id/secret"
            return TwitchAuthError(f"Twitch refused the credentials (the {kind}: {status} on "
                                   f"{path}): {message}", status)
        return TwitchError(f"Twitch answered {status} on {path}: {message}", status)

    @classmethod
    def _refused_again(cls, url: str, response: requests.Response,
                       user: bool) -> TwitchAuthError:
        """A 401 that a new token did not cure: the credentials themselves are refused."""
        path = url.split("?")[0]
        if user:
            what, fix = ("a renewed user token", "create a new user token with the "
                         "moderator:read:chatters scope (TPDASK_USER_TOKEN)")
        else:
            what, fix = ("a new app token", "check TPDASK_CLIENT_ID and TPDASK_CLIENT_SECRET "
                         "(or --secrets_file), and that --helix_url and --auth_url are one "
                         "Twitch's")
        return TwitchAuthError(f"Twitch refused the credentials: 401 on {path} again with "
                               f"{what} ({cls._message(response)}); {fix}", 401)

    # ---- Helix -----------------------------------------------------------------------

    def pages(self, path: str, params: dict | list, user: bool = False) -> Iterator[dict]:
        """Raw pages of a paginated Helix endpoint, following the cursor."""
        params = list(params.items()) if isinstance(params, dict) else list(params)
        cursor = None
        while True:
            query = params + ([("after", cursor)] if cursor else [])
            page = self._call("GET", f"{self.helix_url}/{path}", params=query, user=user)
            items = helix_items(page, f"/{path}")
            yield page
            pagination = page.get("pagination")
            cursor = pagination.get("cursor") if isinstance(pagination, dict) else None
            if not cursor or not items:
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
            body = self._call("GET", f"{self.helix_url}/users", params=keys[i:i + 100])
            found.extend(helix_items(body, "/users", ("id", "login")))
        return found

    def chatters(self, broadcaster_id: str, moderator_id: str) -> list[dict]:
        """Everyone in a chat (user token of a moderator of it), all pages of 1000."""
        chatters = []
        query = {"broadcaster_id": broadcaster_id, "moderator_id": moderator_id, "first": 1000}
        for page in self.pages("chat/chatters", query, user=True):
            chatters.extend(page.get("data", []))
        return chatters
