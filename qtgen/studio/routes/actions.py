"""What a reviewer does (each a POST, past the CSRF guard): approve, reject, regenerate, preview and save an edit; and
a regeneration's progress."""

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
from ..pages import Pages, back, first


async def approve(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    chosen = values.get("id", [])
    try:
        known = await run_in_threadpool(p.studio.drafts)  # one listing for all the chosen, off the event loop
        paths = [known[i] for i in chosen]
    except LookupError:
        return back("/", error="a draft you chose is no longer in the queue")
    if not paths:
        return back("/", error="choose the drafts to approve")
    busy = [path.name for path in paths if p.studio.regenerating(path)]
    if busy:
        return back(f"/draft/{chosen[0]}" if len(chosen) == 1 else "/",
                    error=f"not approved: {busy[0]} is being regenerated; approve it once the new answer is in")
    from ...site.index import open_index

    def run():
        with open_index(p.config) as index:
            result = review.approve(p.config, paths, index=index,
                                    allow_warnings=first(values, "allow_warnings") == "1",
                                    override=(first(values, "override") or "").strip() or None)
            index.refresh()
        p.studio.index_changed()
        return result

    try:
        result = await run_in_threadpool(run)  # it may wait for another approval: the studio stays responsive
    except QtgenError as exc:
        where = f"/draft/{chosen[0]}" if len(chosen) == 1 else "/"
        return back(where, error=str(exc))
    sha = f" in commit {result.commit[:12]}" if result.commit else ""
    lot = first(values, "lot")  # approved from a lot's audit queue: back to it, to see where the audit stands
    home = "/?" + urllib.parse.urlencode({"lot": lot}) if lot else "/"
    message = f"approved {len(result.placed)} draft(s){sha}"
    following = await run_in_threadpool(next_draft, p, first(values, "next"))
    if following and not lot:
        return back(following, message=message)
    return RedirectResponse(home + ("&" if lot else "?") + urllib.parse.urlencode({"msg": message}), status_code=303)

def next_draft(p: Pages, draft_id: str) -> str | None:
    """The page of the draft a reviewer goes on to (named by the form: the next in the queue), if it still waits."""
    if not (len(draft_id) == 16 and all(c in "0123456789abcdef" for c in draft_id)):
        return None
    return f"/draft/{draft_id}" if draft_id in p.studio.drafts() else None

async def reject(p: Pages, request: Request) -> Response:
    values = await p.form(request)
    try:
        path = await run_in_threadpool(p.studio.path_of, request.path_params["draft_id"])
        target = await run_in_threadpool(review.reject, p.config, p.studio.name_of(path), first(values, "reason"))
        await run_in_threadpool(p.studio.index_changed)
    except LookupError:
        return back("/", error="that draft is no longer in the queue")
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
    try:
        path = await run_in_threadpool(p.studio.path_of, draft_id)
    except LookupError:
        return back("/", error="that draft is no longer in the queue")
    p.studio.regenerate(path, feedback)
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
    try:
        path = await run_in_threadpool(p.studio.path_of, draft_id)
        current, new = edited(p, path, values)
        if new is None or new == current:
            return back(f"/draft/{draft_id}", message="no change")
        await run_in_threadpool(review.save_checked, p.config, path, new, "edit (studio)")
        await run_in_threadpool(p.studio.index_changed)
    except LookupError:
        return back("/", error="that draft is no longer in the queue")
    except QtgenError as exc:  # not saved: show the form again with what the reviewer typed
        return p.page(request, "edit_failed.html", status_code=422, id=draft_id, error=str(exc),
                    answer=first(values, "answer"), description=first(values, "description"),
                    keywords=first(values, "keywords"))
    return back(f"/draft/{draft_id}", message="saved")

async def job_status(p: Pages, request: Request) -> Response:
    job = p.studio.jobs.get(request.path_params["job_id"])
    if job is None:
        return JSONResponse({"state": "unknown"}, status_code=404)
    return JSONResponse({"state": job.state, "message": job.message, "seconds": round(time.time() - job.started, 1)})


def routes(p: Pages) -> list[Route]:
    return [
        Route("/approve", partial(approve, p), methods=["POST"]),
        Route("/draft/{draft_id}/reject", partial(reject, p), methods=["POST"]),
        Route("/draft/{draft_id}/regenerate", partial(regenerate, p), methods=["POST"]),
        Route("/draft/{draft_id}/preview", partial(preview, p), methods=["POST"]),
        Route("/draft/{draft_id}/edit", partial(save, p), methods=["POST"]),
        Route("/jobs/{job_id}", partial(job_status, p)),
    ]
