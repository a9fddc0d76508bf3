"""Pseudonyms of viewers in the website's URLs and pages: reversible only with the secret.

A token is the URL-safe base64 (no padding) of AES-SIV(key, login padded to 25 bytes):
deterministic, so a viewer keeps one token for a given server secret; authenticated, so a
forged or altered token decrypts to nothing (the page answers 404); reversible only by
the server, which holds the key; and of one length for every login (55 characters), so
the token says nothing about the login's length. The name shown for a viewer is derived
from the token (``viewer·`` + its first 8 characters).
"""

from __future__ import annotations

import base64
import hashlib
import re

from Cryptodome.Cipher import AES

from tpdask.samples import LOGIN_RE

PAD = 25
TOKEN = re.compile(r"^[A-Za-z0-9_-]{55}$")


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        # AES-256-SIV takes a 64-byte key; derived, so the secret's other uses stay apart
        self._key = hashlib.sha512(b"tpdask-pseudonyms-v1:" + secret).digest()
        self._cache: dict[str, str] = {}

    def token(self, login: str) -> str:
        """The URL token of a viewer login (``^[a-z0-9_]{1,25}$``)."""
        cached = self._cache.get(login)
        if cached is not None:
            return cached
        if not LOGIN_RE.fullmatch(login):
            raise ValueError("not a viewer login")
        cipher = AES.new(self._key, AES.MODE_SIV)
        ciphertext, tag = cipher.encrypt_and_digest(login.encode().ljust(PAD, b"\0"))
        token = base64.urlsafe_b64encode(tag + ciphertext).decode().rstrip("=")
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[login] = token
        return token

    def login(self, token: str) -> str | None:
        """The login of a token, or None when the token is not one of this server's."""
        if not TOKEN.fullmatch(token):
            return None
        raw = base64.urlsafe_b64decode(token + "=")
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            return None  # the last character's unused bits must be zero: one token per login
        cipher = AES.new(self._key, AES.MODE_SIV)
        try:
            padded = cipher.decrypt_and_verify(raw[16:], raw[:16])
        except ValueError:
            return None
        login = padded.rstrip(b"\0").decode("ascii", "replace")
        return login if LOGIN_RE.fullmatch(login) else None


def display_name(token: str) -> str:
    """The name a page shows for the viewer of ``token``."""
    return "viewer·" + token[:8]
