"""Logging in and out, and an invitation's page: the only pages served without a session.

A login page sets a cookie of its own (random, HttpOnly) whose CSRF token its form carries, so no other site can
log a browser in or out; each login makes a new session token (a token the browser held before is never taken
over). Failed logins lock an account, and an address, out for a while (`qtgen.team.accounts`).
"""

from __future__ import annotations

import secrets
import urllib.parse
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...errors import InputError
from ...team.accounts import WRITER, LoginRefused
from ..middleware import SESSION_TOKEN, cookie_name, set_cookie
from ..pages import Pages, first, route, user_of


def _next(target: str | None) -> str:
    """Where to go once logged in: a path of this studio only (never another site)."""
    target = target or "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target


def _with_pre_cookie(request: Request, response: Response) -> Response:
    if not request.cookies.get(cookie_name(request.scope, "pre")):
        set_cookie(response, request.scope, cookie_name(request.scope, "pre"), request.state.pre)
    return response


def _form_page(p: Pages, request: Request, template: str, status_code: int = 200, **context) -> Response:
    """A page before any login: its CSRF token comes from a cookie of its own, set now if the browser has none."""
    pre = request.cookies.get(cookie_name(request.scope, "pre")) or secrets.token_urlsafe(24)
    request.state.pre = pre
    context["pre_csrf"] = p.studio.csrf_of(pre, before_login=True)
    return _with_pre_cookie(request, p.page(request, template, status_code=status_code, **context))


def _logged_in(request: Request, token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request.scope, cookie_name(request.scope), token)
    response.delete_cookie(cookie_name(request.scope, "pre"), path="/")
    return response


async def login_page(p: Pages, request: Request) -> Response:
    if user_of(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return _form_page(p, request, "login.html", target=_next(request.query_params.get("next")), name="", error="")


async def login(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    name, target = first(values, "name")[:200], _next(first(values, "next"))
    address = (request.client.host if request.client else "") or "unknown"

    def attempt():
        with p.studio.accounts() as store:
            return store.login(name, first(values, "password")[:1000], address)

    try:
        _, token = await run_in_threadpool(attempt)
    except LoginRefused as exc:
        status = 429 if exc.wait else 401
        response = _form_page(p, request, "login.html", status_code=status, target=target, name=name, error=str(exc))
        if exc.wait:
            response.headers["Retry-After"] = str(max(1, int(exc.wait)))
        return response
    return _logged_in(request, token, target)


async def logout(p: Pages, request: Request) -> Response:
    token = request.scope.get(SESSION_TOKEN)

    def end():
        with p.studio.accounts() as store:
            store.logout(token)

    await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(cookie_name(request.scope), path="/")
    return response


def _invitation(p: Pages, code: str):
    with p.studio.accounts() as store:
        return store.invitation(code)


async def invitation_page(p: Pages, request: Request) -> Response:
    found = await run_in_threadpool(_invitation, p, request.path_params["code"])
    if found is None:
        return p.page(request, "invitation_gone.html", status_code=410)
    return _form_page(p, request, "invitation.html", invitation=found, code=request.path_params["code"], error="")


async def accept(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    code = request.path_params["code"]
    password = first(values, "password")[:1000]

    def setup():
        with p.studio.accounts() as store:
            found = store.invitation(code)
            if found is None:
                return None, None
            if password != first(values, "again")[:1000]:
                raise InputError("the two passwords differ")
            return store.accept(code, password)

    try:
        account, token = await run_in_threadpool(setup)
    except InputError as exc:
        found = await run_in_threadpool(_invitation, p, code)
        if found is None:
            return p.page(request, "invitation_gone.html", status_code=410)
        return _form_page(p, request, "invitation.html", status_code=422, invitation=found, code=code, error=str(exc))
    if account is None:
        return p.page(request, "invitation_gone.html", status_code=410)
    return _logged_in(request, token, "/?" + urllib.parse.urlencode({"msg": f"welcome, {account.name}"}))


def routes(p: Pages) -> list[Route]:
    return [
        route("/login", partial(login_page, p), None),
        route("/login", partial(login, p), None, methods=["POST"]),
        route("/logout", partial(logout, p), WRITER, methods=["POST"]),
        route("/invite/{code}", partial(invitation_page, p), None),
        route("/invite/{code}", partial(accept, p), None, methods=["POST"]),
    ]
