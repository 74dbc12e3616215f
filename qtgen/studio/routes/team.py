"""The team page (a publisher's): who has an account, inviting someone (the invitation's one-time link is shown once)
and revoking an account, which ends its sessions at once."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import InputError
from ...team.accounts import PUBLISHER, ROLES
from ..pages import Pages, back, first, route, user_of


def _members(p: Pages) -> list[dict]:
    with p.studio.accounts() as store:
        return [{"account": a, "sessions": store.sessions_of(a.key)} for a in store.accounts()]


async def team_page(p: Pages, request: Request) -> Response:
    members = await run_in_threadpool(_members, p)
    return p.page(request, "team.html", members=members, roles=ROLES, invited="",
                  msg=request.query_params.get("msg", ""), err=request.query_params.get("err", ""))


async def invite(p: Pages, request: Request) -> Response:
    values = await p.form(request)

    def make():
        with p.studio.accounts() as store:
            return store.invite(first(values, "name"), first(values, "email"), first(values, "role"),
                                user_of(request).person)

    try:
        code = await run_in_threadpool(make)
    except InputError as exc:
        return back("/team", error=str(exc))
    url = f"{request.url.scheme}://{request.headers.get('host')}/invite/{code}"
    members = await run_in_threadpool(_members, p)
    return p.page(request, "team.html", members=members, roles=ROLES, invited=url, msg="", err="")


async def revoke(p: Pages, request: Request) -> Response:
    await p.form(request)
    key = request.path_params["key"]
    if user_of(request).key == key:
        return back("/team", error="you cannot revoke your own account here (qtgen studio revoke does)")

    def end():
        with p.studio.accounts() as store:
            return store.revoke(key)

    try:
        account = await run_in_threadpool(end)
    except InputError as exc:
        return back("/team", error=str(exc))
    return back("/team", message=f"{account.name}'s account is revoked: logged out everywhere")


def routes(p: Pages) -> list[Route]:
    return [
        route("/team", partial(team_page, p), PUBLISHER),
        route("/team/invite", partial(invite, p), PUBLISHER, methods=["POST"]),
        route("/team/{key}/revoke", partial(revoke, p), PUBLISHER, methods=["POST"]),
    ]
