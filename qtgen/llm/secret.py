"""Secrets (the API key, credentials in a base URL) masked where server text enters qtgen.

Every message built from what a server said (an error body, a connection error naming the URL, a
reply) goes through `SecretMask.clean` in the client, so no ledger row, report line, log line, cache
entry or table can hold a secret; the CLI masks its last line again as a second guard.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
# Things that are secrets whoever's they are: bearer tokens and OpenAI-style keys echoed by a gateway.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KEY_LIKE = re.compile(r"\b(sk|rk|sess)-[A-Za-z0-9_-]{8,}")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_PARAM = re.compile(r"(?i)([?&](?:api[-_]?key|key|token|access_token|sig|signature)=)[^&\s#]+")


def public_url(url: str | None) -> str:
    """The URL without user, password or query string: safe to show, log or use as a cache key."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_USERINFO.sub(r"\1", url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def url_secrets(url: str | None) -> list[str]:
    """The credentials a URL carries: user, password, userinfo, and secret-looking query values."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found += [userinfo, unquote(userinfo)]
        for piece in userinfo.split(":", 1):
            if len(piece) >= 3:
                found += [piece, unquote(piece)]
    for m in _SECRET_PARAM.finditer("?" + parts.query if parts.query else ""):
        value = m.string[m.end(1):m.end()]
        found += [value, unquote(value)]
    return found


class SecretMask:
    """Replaces every known secret, and anything shaped like a bearer token or key, by ***."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, extra: list[str] | None = None):
        values = [api_key or "", *url_secrets(base_url), *(extra or [])]
        # longest first, so that a secret containing another is masked whole
        self.secrets = sorted({v for v in values if v and len(v) >= 3}, key=len, reverse=True)

    def clean(self, text: object) -> str:
        out = str(text)
        for secret in self.secrets:
            out = out.replace(secret, MASK)
        out = _URL_USERINFO.sub(r"\1" + MASK + "@", out)
        out = _SECRET_PARAM.sub(r"\1" + MASK, out)
        out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
        return _KEY_LIKE.sub(lambda m: f"{m.group(1)}-{MASK}", out)

    def known(self, text: str) -> str:
        """Only the known secrets masked: for model replies, where 'Bearer token' may be the topic."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def __call__(self, text: object) -> str:
        return self.clean(text)
