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
        import base64  # the Authorization: Basic value an HTTP client makes of them, echoed bare by some servers

        found.append(base64.b64encode(unquote(userinfo).encode()).decode().rstrip("="))
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
        """Server text with every secret masked, read as a person would read it: JSON and percent escapes
        (`\\u0073k-...`, `sk%2D...`) decoded first, so an encoded secret is masked too."""
        out = decoded(str(text))
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

    def value(self, value):
        """A value decoded from JSON with the known secrets masked in every string (keys included)."""
        if isinstance(value, str):
            value = self.known(value)
            plain = decoded(value)  # a string that is itself JSON (a reply's content) may escape a secret again
            return self.known(plain) if plain != value and self.known(plain) != plain else value
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        return value

    def jsonl(self, text: str) -> str:
        """JSON Lines (a Batch API result file) with the known secrets masked in each line's decoded values, so
        an escaped key is caught; a line that is not JSON is masked as text."""
        import json

        out = []
        for line in self.known(text).split("\n"):
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                out.append(self.known(decoded(line)) if self.known(decoded(line)) != decoded(line) else line)
                continue
            masked = self.value(data)
            out.append(line if masked == data else json.dumps(masked, ensure_ascii=False))
        return "\n".join(out)

    def __call__(self, text: object) -> str:
        return self.clean(text)


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\/")


def decoded(text: str) -> str:
    """Text with JSON/Python escapes (\\uXXXX, \\xXX, \\/) and percent escapes decoded, as a reader sees it."""
    if "\\" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)) if (m.group(1) or m.group(2))
                                   else "/", text)
    if "%" in text:
        text = unquote(text)
    return text
