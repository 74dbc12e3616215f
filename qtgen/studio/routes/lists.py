"""Question lists from the browser (a writer's): upload a list, see it checked as `qtgen batch` checks it (each bad line
named), start its run, and follow the run at its own address while it drafts in the studio's background."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import QtgenError
from ...team.accounts import WRITER
from ..pages import Pages, back, first, route, user_of


def _uploads(p: Pages) -> list:
    with p.studio.board() as board:
        return board.uploads()[:50]


async def lists_page(p: Pages, request: Request) -> Response:
    uploads = await run_in_threadpool(_uploads, p)
    return p.page(request, "lists.html", uploads=uploads, check=None, msg=request.query_params.get("msg", ""),
                  err=request.query_params.get("err", ""))


async def upload(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    name, text, subject = first(values, "name") or "questions.txt", first(values, "text"), first(values, "subject")
    try:
        check = await run_in_threadpool(p.studio.uploads.check, name, text.encode("utf-8"), subject)
    except QtgenError as exc:
        return back("/lists", error=str(exc))
    uploads = await run_in_threadpool(_uploads, p)
    return p.page(request, "lists.html", uploads=uploads, check=check, msg="", err="")


async def start(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    try:
        path = p.studio.uploads.find(request.path_params["upload_id"])
        run_id = await run_in_threadpool(p.studio.uploads.start, path, user_of(request).person,
                                         first(values, "subject") or None)
    except LookupError:
        return back("/lists", error="that list is gone; upload it again")
    except QtgenError as exc:
        return back("/lists", error=str(exc))
    return back(f"/runs/{run_id}")


async def run_page(p: Pages, request: Request) -> Response:
    try:
        status = await run_in_threadpool(p.studio.uploads.status, request.path_params["run_id"])
    except LookupError:
        return p.page(request, "gone.html", status_code=404, why="No list uploaded in the studio started this run.")
    return p.page(request, "run.html", run=status, msg=request.query_params.get("msg", ""), err="")


def routes(p: Pages) -> list[Route]:
    return [
        route("/lists", partial(lists_page, p), WRITER),
        route("/lists", partial(upload, p), WRITER, methods=["POST"]),
        route("/lists/{upload_id}/start", partial(start, p), WRITER, methods=["POST"]),
        route("/runs/{run_id}", partial(run_page, p), WRITER),
    ]
