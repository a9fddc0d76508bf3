"""Requests, responses and Twitch-shaped errors: the one interface every endpoint uses.

Why: endpoints are plain functions ``Request -> Response`` that never touch sockets,
so each concern (auth, helix, tmi, control) is one small module, and the HTTP server
(server.py) alone decides about transport and injected faults (delay, 500, truncation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import orjson


@dataclass
class Request:
    """One HTTP request, parsed: lower-case header names, query values as lists."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter (``?id=1&id=2``)."""
        return list(self.query.get(name, []))

    def form(self) -> dict[str, str]:
        """Query and url-encoded body merged (Twitch's /oauth2/token accepts both)."""
        out = {k: v[0] for k, v in self.query.items() if v}
        if self.body:
            text = self.body.decode("utf-8", "replace")
            out.update({k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()})
        return out

    def json(self) -> Any:
        """The body as JSON (``ValueError`` when it is not)."""
        return orjson.loads(self.body or b"null")

    def auth(self, scheme: str) -> str | None:
        """The credential of an ``Authorization: <scheme> <value>`` header, if present."""
        value = self.headers.get("authorization", "")
        head, _, token = value.partition(" ")
        return token.strip() or None if head.lower() == scheme.lower() else None


@dataclass
class Response:
    """What an endpoint answers; ``is_json`` marks bodies the malformed-JSON fault may cut."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    is_json: bool = True


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), dict(headers or {}))


def helix_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Helix's error body: ``{"error": "Unauthorized", "status": 401, "message": "..."}``."""
    body = {"error": HTTPStatus(status).phrase, "status": status, "message": message}
    return json_response(status, body, headers)


def oauth_error(status: int, message: str) -> Response:
    """id.twitch.tv's error body: ``{"status": 403, "message": "invalid client secret"}``."""
    return json_response(status, {"status": status, "message": message})


def not_found(path: str) -> Response:
    return helix_error(404, f"no such endpoint: {path}")
