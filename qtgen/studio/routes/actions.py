"""What a reviewer does (each a POST, past the CSRF guard, as the account logged in): approve (a publisher), reject,
regenerate, preview and save an edit (a writer); and a regeneration's progress. Each is refused while another person
holds a claim on the draft, and a save is refused when the draft changed since its form was shown, saying who
changed it; a draft gone from the queue says who approved or rejected it."""

from __future__ import annotations

import time
import urllib.parse
from functools import partial
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ...errors import QtgenError
from ...format.reader import read
from ...publishing import review
from ...site.pagehtml import meta_description
from ...site.render import render_answer
from ...team.accounts import PUBLISHER, WRITER
from ...team.board import Claimed
from ..pages import Pages, back, first, route, user_of


def _gone(p: Pages, name: str | None) -> str:
    """Why a draft is no longer in the queue, saying who did what if the studio saw it."""
    if name:
        with p.studio.board() as board:
            end = board.end_of(name)
        if end is not None:
            return f"{Path(name).name} is no longer in the queue: {end.says()}"
    return "that draft is no longer in the queue"


def _held(p: Pages, request: Request, names: list[str]) -> str | None:
    """Another person's claim on one of these drafts, said in words; None if none holds."""
    with p.studio.board() as board:
        for name in names:
            claim = board.others(name, user_of(request).person)
            if claim is not None:
                return f"{Path(name).name}: {claim.says()}"
    return None


async def approve(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    chosen = values.get("id", [])
    user = user_of(request)
    try:
        known = await run_in_threadpool(p.studio.drafts)  # one listing for all the chosen, off the event loop
        paths = [known[i] for i in chosen]
    except LookupError:
        gone = next((i for i in chosen if i not in known), None)
        name = await run_in_threadpool(p.studio.name_by_id, gone) if gone else None
        return back("/", error=_gone(p, name))
    if not paths:
        return back("/", error="choose the drafts to approve")
    names = [p.studio.name_of(path) for path in paths]
    held = await run_in_threadpool(_held, p, request, names)
    if held:
        return back(f"/draft/{chosen[0]}" if len(chosen) == 1 else "/", error=f"not approved: {held}")
    bases = values.get("base", [])  # the bytes the publisher saw, from a draft's page: approved only if still those
    expect = {str(path): base for path, base in zip(paths, bases) if base} if len(bases) == len(paths) else None
    busy = [path.name for path in paths if p.studio.regenerating(path)]
    if busy:
        return back(f"/draft/{chosen[0]}" if len(chosen) == 1 else "/",
                    error=f"not approved: {busy[0]} is being regenerated; approve it once the new answer is in")
    from ...site.index import open_index

    def run():
        with open_index(p.config) as index:
            result = review.approve(p.config, paths, index=index,
                                    allow_warnings=first(values, "allow_warnings") == "1",
                                    override=(first(values, "override") or "").strip() or None, expect=expect,
                                    reviewer=user.person)
            index.refresh()
        with p.studio.board() as board:
            for name in names:
                board.ended(name, "approved", user.person, f"commit {result.commit[:12]}" if result.commit else "")
        p.studio.index_changed()
        return result

    try:
        result = await run_in_threadpool(run)  # it may wait for another approval: the studio stays responsive
    except QtgenError as exc:
        if "no longer in the queue" in str(exc) and len(names) == 1:  # another publisher approved it just now
            return back("/", error=await run_in_threadpool(_gone, p, names[0]))
        where = f"/draft/{chosen[0]}" if len(chosen) == 1 else "/"
        return back(where, error=str(exc))
    sha = f" in commit {result.commit[:12]}" if result.commit else ""
    lot = first(values, "lot")  # approved from a lot's audit queue: back to it, to see where the audit stands
    home = f"/lots/{urllib.parse.quote(lot, safe='')}" if lot else "/"  # the lot's own address
    message = f"approved {len(result.placed)} draft(s){sha}"
    following = await run_in_threadpool(next_draft, p, first(values, "next"))
    if following and not lot:
        return back(following, message=message)
    return RedirectResponse(home + "?" + urllib.parse.urlencode({"msg": message}), status_code=303)

def next_draft(p: Pages, draft_id: str) -> str | None:
    """The page of the draft a reviewer goes on to (named by the form: the next in the queue), if it still waits."""
    if not (len(draft_id) == 16 and all(c in "0123456789abcdef" for c in draft_id)):
        return None
    return f"/draft/{draft_id}" if draft_id in p.studio.drafts() else None

async def reject(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    user = user_of(request)
    draft_id = request.path_params["draft_id"]
    try:
        path = await run_in_threadpool(p.studio.path_of, draft_id)
        name = p.studio.name_of(path)
        held = await run_in_threadpool(_held, p, request, [name])
        if held:
            return back(f"/draft/{draft_id}", error=f"not rejected: {held}")
        reason = first(values, "reason")
        target = await run_in_threadpool(partial(review.reject, p.config, name, reason, by=user.person))
        with p.studio.board() as board:
            board.ended(name, "rejected", user.person, " ".join(reason.split())[:200])
        await run_in_threadpool(p.studio.index_changed)
    except LookupError:
        return back("/", error=await run_in_threadpool(_gone, p, p.studio.name_by_id(draft_id)))
    except QtgenError as exc:
        return back(f"/draft/{request.path_params['draft_id']}", error=str(exc))
    following = await run_in_threadpool(next_draft, p, first(values, "next"))
    return back(following or "/", message=f"rejected: {target.name}")

async def regenerate(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    feedback = first(values, "feedback").strip()
    draft_id = request.path_params["draft_id"]
    if not feedback:
        return back(f"/draft/{draft_id}", error="say what should change")
    user = user_of(request)
    try:
        path = await run_in_threadpool(p.studio.path_of, draft_id)
    except LookupError:
        return back("/", error=await run_in_threadpool(_gone, p, p.studio.name_by_id(draft_id)))
    try:
        with p.studio.board() as board:
            board.claim(p.studio.name_of(path), user.person, "regenerating")
    except Claimed as exc:
        return back(f"/draft/{draft_id}", error=f"not regenerated: {exc}")
    p.studio.regenerate(path, feedback, by=user.person)
    return back(f"/draft/{draft_id}")  # the page shows the job while it runs, and its end once

def edited(p: Pages, path: Path, values: dict):
    current = read(path)
    one_line = lambda key: " ".join(first(values, key).split())  # noqa: E731 - a field is one line
    text = (f"description: {one_line('description')}\nkeywords: {one_line('keywords')}\n---\n"
            + first(values, "answer").replace("\r\n", "\n"))
    return current, review.from_editable(current, text)

async def preview(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    try:
        path = await run_in_threadpool(p.studio.path_of, request.path_params["draft_id"])
        _, page_ = edited(p, path, values)
    except LookupError:
        return PlainTextResponse("that draft is no longer in the queue", status_code=404)
    except QtgenError as exc:
        return JSONResponse({"html": "", "error": str(exc)})
    rendered = await run_in_threadpool(render_answer, page_.answer)
    return JSONResponse({"html": rendered.html, "errors": rendered.errors,
                         "meta": meta_description(page_), "chars": len(page_.seo.page_description)})

async def save(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    draft_id = request.path_params["draft_id"]
    user = user_of(request)

    def refused(status: int, error: str, base: str) -> Response:  # not saved: the form again with what was typed
        return p.page(request, "edit_failed.html", status_code=status, id=draft_id, error=error, base=base,
                      answer=first(values, "answer"), description=first(values, "description"),
                      keywords=first(values, "keywords"))

    try:
        path = await run_in_threadpool(p.studio.path_of, draft_id)
        name = p.studio.name_of(path)
        held = await run_in_threadpool(_held, p, request, [name])
        data = path.read_bytes()
        if held:
            return refused(409, f"not saved: {held}", first(values, "base"))
        base = first(values, "base")
        if base and base != review_sha(data):  # changed since this form was shown: whose change, and what it was
            return refused(409, f"not saved: the draft changed since you opened it ({p.studio.last_change(path)}); "
                                "what you typed is below: compare it with the draft and save again",
                           review_sha(data))
        current, new = edited(p, path, values)
        if new is None or new == current:
            return back(f"/draft/{draft_id}", message="no change")
        await run_in_threadpool(partial(review.save_checked, p.config, path, new, "edit (studio)", expect=data,
                                        by=user.person))
        with p.studio.board() as board:
            board.release(name, user.person)
        await run_in_threadpool(p.studio.index_changed)
    except LookupError:
        return back("/", error=await run_in_threadpool(_gone, p, p.studio.name_by_id(draft_id)))
    except QtgenError as exc:
        return refused(422, str(exc), first(values, "base"))
    return back(f"/draft/{draft_id}", message="saved")

async def job_status(p: Pages, request: Request) -> Response:
    job = p.studio.jobs.get(request.path_params["job_id"])
    if job is None:
        return JSONResponse({"state": "unknown"}, status_code=404)
    return JSONResponse({"state": job.state, "message": job.message, "seconds": round(time.time() - job.started, 1)})


def review_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def routes(p: Pages) -> list[Route]:
    return [
        route("/approve", partial(approve, p), PUBLISHER, methods=["POST"]),
        route("/draft/{draft_id}/reject", partial(reject, p), WRITER, methods=["POST"]),
        route("/draft/{draft_id}/regenerate", partial(regenerate, p), WRITER, methods=["POST"]),
        route("/draft/{draft_id}/preview", partial(preview, p), WRITER, methods=["POST"]),
        route("/draft/{draft_id}/edit", partial(save, p), WRITER, methods=["POST"]),
        route("/jobs/{job_id}", partial(job_status, p), WRITER),
    ]
