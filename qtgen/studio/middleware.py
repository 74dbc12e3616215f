"""The studio's guards, one ASGI middleware per concern, outermost first:

- `SecurityHeaders`: the same headers on every answer, refusals and errors included (CSP, nosniff, no framing,
  no caching, same-origin referrers);
- `TrustedHost`: only the bound host names are served (no DNS rebinding);
- `Login`: a session (an account's, made by a login) on every route but the login and invitation pages, in an
  HttpOnly, SameSite=Strict cookie (Secure over HTTPS);
- `Csrf`: every POST within the body limit however it is sent, carrying its own session's CSRF token, from our own
  origin.
"""

from __future__ import annotations

import hmac
import urllib.parse

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse

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
    """Only the host names the studio is bound to, on its port (None: any, for --allow-remote), and the public
    names it is served under by a proxy (`names`, on any port: the proxy's); 421 otherwise."""

    def __init__(self, app, hosts: set[str] | frozenset | None = LOOPBACK_NAMES, names: frozenset = frozenset()):
        self.app = app
        self.hosts = hosts
        self.names = frozenset(n.casefold() for n in names)

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
        if parts.hostname and parts.hostname.casefold() in self.names:
            return True
        server_port = (scope.get("server") or (None, None))[1]
        return parts.hostname in self.hosts and (port is None or server_port is None or port == server_port)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.allowed(scope, Request(scope).headers.get("host")):
            return await PlainTextResponse("421: this studio answers only to its own address",
                                           status_code=421)(scope, receive, send)
        return await self.app(scope, receive, send)


PUBLIC = ("/login", "/invite/")  # served without a session: logging in, and an invitation's page
SESSION_USER, SESSION_TOKEN = "qtgen.user", "qtgen.session"  # where the guards leave who is logged in


def cookie_name(scope, kind: str = "") -> str:
    """One studio per port: its own cookies (`kind` "pre": the token of a page before any login)."""
    return f"{COOKIE}{'_' + kind if kind else ''}_{(scope.get('server') or ('', 0))[1]}"


def set_cookie(response, scope, name: str, value: str, max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Strict, and Secure when the request came over HTTPS (as a trusted proxy says)."""
    response.set_cookie(name, value, httponly=True, samesite="strict", path="/", max_age=max_age,
                        secure=scope.get("scheme") == "https")


def public(path: str) -> bool:
    return path == "/login" or (path.startswith("/invite/") and path.count("/") == 2)


class Login:
    """A session on every route but the login and invitation pages: a cookie holding a session token that a login
    made (a password, an invitation, or the one-time URL the studio prints for whoever started it). The account
    it belongs to goes to the routes, which check its role."""

    def __init__(self, app, studio):
        self.app = app
        self.studio = studio

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.concurrency import run_in_threadpool

        request = Request(scope)
        name = cookie_name(scope)
        token = request.cookies.get(name)
        account = await run_in_threadpool(self.studio.session, token) if token else None
        login = request.query_params.get("login")
        if login is not None and request.method == "GET":
            if not self.studio.use_login(login):
                if account is not None:  # a used link opened again in the browser that used it
                    return await RedirectResponse(request.url.path, status_code=303)(scope, receive, send)
                return await PlainTextResponse(
                    "401: this login link was already used (each works once); restart qtgen studio for a new one, "
                    "or log in at /login", status_code=401)(scope, receive, send)
            fresh = await run_in_threadpool(self.studio.owner_session)  # a new session: never a token sent to us
            query = urllib.parse.urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "login"])
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            set_cookie(response, scope, name, fresh)
            return await response(scope, receive, send)
        if account is None:
            if public(request.url.path):
                scope[SESSION_USER], scope[SESSION_TOKEN] = None, None
                return await self.app(scope, receive, send)
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                target = "/login?" + urllib.parse.urlencode({"next": request.url.path})
                return await HTMLResponse(f'<!DOCTYPE html><title>qtgen studio</title><p>401: <a href="{target}">log '
                                          'in</a> first (or open the studio with the login URL it printed).',
                                          status_code=401)(scope, receive, send)
            return await PlainTextResponse("401: log in at /login, or open the studio with the login URL it printed",
                                           status_code=401)(scope, receive, send)
        scope[SESSION_USER], scope[SESSION_TOKEN] = account, token
        return await self.app(scope, receive, send)


class Csrf:
    """Every POST: its body read within MAX_BODY (chunked or not, never more), the CSRF token of its own session (a
    header or a form field; before a login, that of the page's own cookie), and no other origin."""

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
        session = scope.get(SESSION_TOKEN)
        basis = session if session else (request.cookies.get(cookie_name(scope, "pre")) or "")
        expected = self.studio.csrf_of(basis, before_login=not session) if basis else None
        if sent is None or expected is None or not hmac.compare_digest(sent.encode(), expected.encode()):
            return await PlainTextResponse("403: missing or wrong CSRF token", status_code=403)(scope, replay, send)
        if request.headers.get("origin") not in (None, f"{scope['scheme']}://{request.headers.get('host')}"):
            return await PlainTextResponse("403: cross-origin request", status_code=403)(scope, replay, send)
        return await self.app(scope, replay, send)


def guarded(app, studio, hosts: set[str] | frozenset | None = LOOPBACK_NAMES, names: frozenset = frozenset()):
    """The app inside its guards, outermost first: headers, host, login, CSRF."""
    return SecurityHeaders(TrustedHost(Login(Csrf(app, studio), studio), hosts, names))


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
