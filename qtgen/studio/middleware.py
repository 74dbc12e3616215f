"""The studio's guards, one ASGI middleware per concern, outermost first:

- `SecurityHeaders`: the same headers on every answer, refusals and errors included (CSP, nosniff, no framing,
  no caching, same-origin referrers);
- `TrustedHost`: only the bound host names are served (no DNS rebinding);
- `Login`: the access token, which lives only in an HttpOnly, SameSite=Strict cookie set by a one-time login URL;
- `Csrf`: every POST within the body limit however it is sent, carrying the CSRF token, from our own origin.
"""

from __future__ import annotations

import hmac
import urllib.parse

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

COOKIE = "qtgen_studio"
MAX_BODY = 2_000_000  # bytes: an edited answer is a few kilobytes
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]


class SecurityHeaders:
    """The same security headers on every response this app sends, whichever layer sent it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                message["headers"] = [h for h in message.get("headers", []) if h[0].lower() not in names] + HEADERS
            await send(message)

        return await self.app(scope, receive, secured)


class TrustedHost:
    """Only the host names the studio is bound to (None: any, for --allow-remote); 421 otherwise."""

    def __init__(self, app, hosts: set[str] | frozenset | None = LOOPBACK_NAMES):
        self.app = app
        self.hosts = hosts

    def allowed(self, scope, host_header: str | None) -> bool:
        if self.hosts is None:
            return True
        if not host_header:
            return False
        parts = urllib.parse.urlsplit("//" + host_header)
        try:
            port = parts.port
        except ValueError:
            return False
        server_port = (scope.get("server") or (None, None))[1]
        return parts.hostname in self.hosts and (port is None or server_port is None or port == server_port)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.allowed(scope, Request(scope).headers.get("host")):
            return await PlainTextResponse("421: this studio answers only to its own address",
                                           status_code=421)(scope, receive, send)
        return await self.app(scope, receive, send)


class Login:
    """The access token on every route: a cookie set once by a one-time login URL (the link is then worthless)."""

    def __init__(self, app, studio):
        self.app = app
        self.studio = studio

    def _good(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.studio.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        name = f"{COOKIE}_{(scope.get('server') or ('', 0))[1]}"  # one studio per port: its own cookie
        cookie = request.cookies.get(name)
        login = request.query_params.get("login")
        if login is not None and request.method == "GET":
            if not self.studio.use_login(login):
                if self._good(cookie):  # a used link opened again in the browser that used it
                    return await RedirectResponse(request.url.path, status_code=303)(scope, receive, send)
                return await PlainTextResponse(
                    "401: this login link was already used (each works once); restart qtgen studio for a new one",
                    status_code=401)(scope, receive, send)
            # the lasting secret goes into a cookie only this site can send; the link is now worthless
            query = urllib.parse.urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "login"])
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            response.set_cookie(name, self.studio.token, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, send)
        if not self._good(cookie):
            return await PlainTextResponse("401: open the studio with the login URL it printed",
                                           status_code=401)(scope, receive, send)
        return await self.app(scope, receive, send)


class Csrf:
    """Every POST: its body read within MAX_BODY (chunked or not, never more), the CSRF token (a header or a form
    field), and no other origin."""

    def __init__(self, app, studio):
        self.app = app
        self.studio = studio

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        request = Request(scope)
        too_large = PlainTextResponse("413: request too large", status_code=413)
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = MAX_BODY + 1
        if declared > MAX_BODY:
            return await too_large(scope, receive, send)
        body = await _body_within(receive, MAX_BODY)
        if body is None:
            return await too_large(scope, receive, send)

        async def replay():  # the app reads the body again
            return {"type": "http.request", "body": body, "more_body": False}

        sent = request.headers.get("x-csrf-token")
        if sent is None:
            sent = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("csrf") or [None])[0]
        if sent is None or not hmac.compare_digest(sent.encode(), self.studio.csrf.encode()):
            return await PlainTextResponse("403: missing or wrong CSRF token", status_code=403)(scope, replay, send)
        if request.headers.get("origin") not in (None, f"{scope['scheme']}://{request.headers.get('host')}"):
            return await PlainTextResponse("403: cross-origin request", status_code=403)(scope, replay, send)
        return await self.app(scope, replay, send)


def guarded(app, studio, hosts: set[str] | frozenset | None = LOOPBACK_NAMES):
    """The app inside its guards, outermost first: headers, host, login, CSRF."""
    return SecurityHeaders(TrustedHost(Login(Csrf(app, studio), studio), hosts))


async def _body_within(receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes (the rest is never read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)
