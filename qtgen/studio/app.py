"""`qtgen studio`: the review queue in a browser, on Starlette.

Every route needs the access token, which lives only in an HttpOnly, SameSite=Strict cookie: the studio
prints (and opens the browser on) a one-time login URL that sets the cookie and stops working once used,
so no lasting secret reaches browser history or the process list. Only the bound host names are served
(no DNS rebinding), request bodies are cut off at a limit however they are sent, and every action is a
POST carrying the CSRF token. Drafts are
addressed by an opaque id from the queue, never by a path from the request. A draft is shown exactly
as the site renders it (raw HTML as text, math by the real KaTeX), under a Content-Security-Policy
that lets no script but the studio's own run, so a draft's content can never execute anything.
The studio only parses requests, calls the library (`qtgen.publishing.review`) and presents.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import time
import urllib.parse
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..config import Config
from ..errors import QtgenError
from ..format.reader import read
from ..site.katex import VENDOR
from ..site.pagehtml import meta_description, page_title, search_preview
from ..site.render import render_answer
from ..publishing import lots as audits
from ..publishing import review
from ..drafts.folder import DraftStore
from ..judging.verdicts import risk_order, verdicts_of
from ..publishing.provenance import describe as made_with, of_versions
from .state import Job, Studio  # noqa: F401 - the studio's state, part of this module's API

HERE = Path(__file__).resolve().parent
COOKIE = "qtgen_studio"
MAX_BODY = 2_000_000  # bytes: an edited answer is a few kilobytes
PAGE_SIZE = 100  # drafts on one page of the queue
WARM_WAIT = 120.0  # seconds a page waits for the studio's warm-up before doing the work itself
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def create_app(config: Config, token: str, *, hosts: set[str] | None = LOOPBACK_NAMES,
               studio: Studio | None = None) -> Starlette:
    """The studio's ASGI app; `hosts`: the host names it answers to (None: any, for --allow-remote)."""
    studio = studio or Studio(config, token)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def page(request: Request, template: str, status_code: int = 200, **context) -> Response:
        context.update(csrf=studio.csrf, drafts_dir=str(config.drafts), made_with=made_with)
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    async def form(request: Request) -> dict[str, list[str]]:
        body = (await request.body()).decode("utf-8", "replace")
        return urllib.parse.parse_qs(body, keep_blank_values=True)

    def first(values: dict, key: str, default: str = "") -> str:
        return (values.get(key) or [default])[0]

    def back(url: str, message: str = "", error: str = "") -> RedirectResponse:
        query = urllib.parse.urlencode({k: v for k, v in (("msg", message), ("err", error)) if v})
        return RedirectResponse(url + (("?" + query) if query else ""), status_code=303)

    # -- the queue ------------------------------------------------------------------------------
    # pages are plain functions: Starlette runs them in its thread pool, so a slow one never stalls the others
    def queue_page(request: Request) -> Response:
        from ..publishing.recovery import recover

        recovered = recover(config)

        status = request.query_params.get("status") or None
        subject = request.query_params.get("subject") or None
        sort = request.query_params.get("sort") or "subject"
        try:
            number = max(1, int(request.query_params.get("page") or 1))
        except ValueError:
            number = 1
        verdict = request.query_params.get("verdict") or None
        search = " ".join((request.query_params.get("q") or "").split())[:200]
        lot_name = request.query_params.get("lot") or None
        studio.ready(timeout=WARM_WAIT)  # the warm-up, if still running, does this page's work: waited for
        if studio.stopping:
            return PlainTextResponse("503: the studio is stopping", status_code=503)
        items = review.queue(config, studio.index(), subject=subject,
                             status=status if status in (review.OK, review.WARNINGS, review.ERRORS) else None)
        judged = verdicts_of(config, items)
        lot = None
        if lot_name:  # the audit queue: the lot's sampled drafts still waiting for a decision
            try:
                lot = audits.status(config, lot_name)
            except QtgenError as exc:
                return back("/", error=str(exc))
            waiting = {m.draft for m in lot.pending}
            items = [i for i in items if str(i.path) in waiting]
        if verdict in ("pass", "revise", "reject", "unjudged"):
            items = [i for i in items if (judged[str(i.path)].verdict if str(i.path) in judged else "unjudged") == verdict]
        if search:  # every word, in the question, subject or file name, whatever the case
            words = search.casefold().split()
            items = [i for i in items if all(w in f"{i.question or ''} {i.subject or ''} {i.path.name}".casefold()
                                             for w in words)]
        if sort == "risk":
            items = risk_order(items, judged)
        rows = [{"item": i, "name": studio.name_of(i.path), "revision": i.revises is not None,
                 "no_index": i.no_index, "judge": judged.get(str(i.path))} for i in items]
        order = {"errors": 0, "warnings": 1, "ok": 2}
        keys = {"subject": lambda r: (r["item"].subject or "", r["name"]),
                "status": lambda r: (order[r["item"].status], r["name"]),
                "words": lambda r: (r["item"].words, r["name"]),
                "question": lambda r: (r["item"].question or "", r["name"])}
        if sort != "risk":
            rows.sort(key=keys.get(sort, keys["subject"]))
        subjects = sorted({r["item"].subject for r in rows if r["item"].subject})
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        number = min(number, pages)
        shown = rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        for r in shown:  # ids for the rows shown only
            r["id"] = studio.draft_id(r["item"].path)
        counts = {k: sum(1 for r in rows if r["item"].status == k) for k in order}
        msg = "; ".join([*recovered, request.query_params.get("msg", "")]).strip("; ")

        def link(n: int) -> str:
            query = {k: v for k, v in (("status", status), ("subject", subject), ("sort", sort), ("verdict", verdict),
                                       ("q", search), ("lot", lot_name)) if v}
            return "/?" + urllib.parse.urlencode({**query, "page": n})

        return page(request, "queue.html", rows=shown, total=len(rows), counts=counts, status=status or "",
                    subject=subject or "", sort=sort, subjects=subjects, search=search, msg=msg, verdict=verdict or "", lot=lot, err=request.query_params.get("err", ""),
                    number=number, pages=pages, first=(number - 1) * PAGE_SIZE + 1 if rows else 0,
                    last=(number - 1) * PAGE_SIZE + len(shown),
                    prev_link=link(number - 1) if number > 1 else None,
                    next_link=link(number + 1) if number < pages else None)

    # -- one draft ------------------------------------------------------------------------------
    def draft_page(request: Request) -> Response:
        drafts = studio.drafts()
        path = drafts.get(request.path_params["draft_id"])
        if path is None:
            return page(request, "gone.html", status_code=404)
        ids = list(drafts)
        here = ids.index(request.path_params["draft_id"])
        index = studio.index()
        item = review.assess(config, path, index)
        similar = index.similar(item.page.question, limit=5) if item.page else []
        history = DraftStore(config, migrate=False).history(path).versions()
        against = request.query_params.get("against")
        diff = ""
        if len(history) > 1 or against or item.revises:
            try:
                diff = review.diff(config, studio.name_of(path), int(against) if against else None)
            except (QtgenError, ValueError) as exc:
                diff = str(exc)
        rendered = render_answer(item.page.answer) if item.page else None
        judgment = verdicts_of(config, [item]).get(str(path))
        return page(request, "draft.html", id=request.path_params["draft_id"], item=item, path=path,
                    name=studio.name_of(path), rendered=rendered,
                    preview=search_preview(item.page) if item.page else None,
                    title=page_title(item.page) if item.page else "", meta=meta_description(item.page) if item.page else "",
                    similar=[m for m in similar if Path(m.entry.path).resolve() not in
                             {path.resolve(), item.revises.resolve() if item.revises else None}],
                    history=list(zip(history, of_versions(config, history))), diff=diff, against=against or "",
                    judge_gate=bool(config.judge.get("required") or "min_score" in config.judge), judgment=judgment,
                    judge_issues=[{"quote": i.quote, "problem": f"{i.severity}: {i.problem} (correct: {i.correction})"}
                                  for i in judgment.issues] if judgment else [],
                    prev_id=ids[here - 1] if here > 0 else None, next_id=ids[here + 1] if here + 1 < len(ids) else None,
                    msg=request.query_params.get("msg", ""), err=request.query_params.get("err", ""),
                    editing=request.query_params.get("edit") == "1",
                    jobs=studio.jobs_to_show(request.path_params["draft_id"]))

    # -- actions (POST, CSRF) -------------------------------------------------------------------
    async def approve(request: Request) -> Response:
        values = await form(request)
        chosen = values.get("id", [])
        try:
            known = await run_in_threadpool(studio.drafts)  # one listing for all the chosen, off the event loop
            paths = [known[i] for i in chosen]
        except LookupError:
            return back("/", error="a draft you chose is no longer in the queue")
        if not paths:
            return back("/", error="choose the drafts to approve")
        busy = [p.name for p in paths if studio.regenerating(p)]
        if busy:
            return back(f"/draft/{chosen[0]}" if len(chosen) == 1 else "/",
                        error=f"not approved: {busy[0]} is being regenerated; approve it once the new answer is in")
        from ..site.index import open_index

        def run():
            with open_index(config) as index:
                result = review.approve(config, paths, index=index,
                                        allow_warnings=first(values, "allow_warnings") == "1",
                                        override=(first(values, "override") or "").strip() or None)
                index.refresh()
            studio.index_changed()
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
        following = await run_in_threadpool(next_draft, first(values, "next"))
        if following and not lot:
            return back(following, message=message)
        return RedirectResponse(home + ("&" if lot else "?") + urllib.parse.urlencode({"msg": message}), status_code=303)

    def next_draft(draft_id: str) -> str | None:
        """The page of the draft a reviewer goes on to (named by the form: the next in the queue), if it still waits."""
        if not (len(draft_id) == 16 and all(c in "0123456789abcdef" for c in draft_id)):
            return None
        return f"/draft/{draft_id}" if draft_id in studio.drafts() else None

    async def reject(request: Request) -> Response:
        values = await form(request)
        try:
            path = await run_in_threadpool(studio.path_of, request.path_params["draft_id"])
            target = await run_in_threadpool(review.reject, config, studio.name_of(path), first(values, "reason"))
            await run_in_threadpool(studio.index_changed)
        except LookupError:
            return back("/", error="that draft is no longer in the queue")
        except QtgenError as exc:
            return back(f"/draft/{request.path_params['draft_id']}", error=str(exc))
        following = await run_in_threadpool(next_draft, first(values, "next"))
        return back(following or "/", message=f"rejected: {target.name}")

    async def regenerate(request: Request) -> Response:
        values = await form(request)
        feedback = first(values, "feedback").strip()
        draft_id = request.path_params["draft_id"]
        if not feedback:
            return back(f"/draft/{draft_id}", error="say what should change")
        try:
            path = await run_in_threadpool(studio.path_of, draft_id)
        except LookupError:
            return back("/", error="that draft is no longer in the queue")
        studio.regenerate(path, feedback)
        return back(f"/draft/{draft_id}")  # the page shows the job while it runs, and its end once

    def edited(path: Path, values: dict):
        current = read(path)
        one_line = lambda key: " ".join(first(values, key).split())  # noqa: E731 - a field is one line
        text = (f"description: {one_line('description')}\nkeywords: {one_line('keywords')}\n---\n"
                + first(values, "answer").replace("\r\n", "\n"))
        return current, review.from_editable(current, text)

    async def preview(request: Request) -> Response:
        values = await form(request)
        try:
            path = await run_in_threadpool(studio.path_of, request.path_params["draft_id"])
            _, page_ = edited(path, values)
        except LookupError:
            return PlainTextResponse("that draft is no longer in the queue", status_code=404)
        except QtgenError as exc:
            return JSONResponse({"html": "", "error": str(exc)})
        rendered = await run_in_threadpool(render_answer, page_.answer)
        return JSONResponse({"html": rendered.html, "errors": rendered.errors,
                             "meta": meta_description(page_), "chars": len(page_.seo.page_description)})

    async def save(request: Request) -> Response:
        values = await form(request)
        draft_id = request.path_params["draft_id"]
        try:
            path = await run_in_threadpool(studio.path_of, draft_id)
            current, new = edited(path, values)
            if new is None or new == current:
                return back(f"/draft/{draft_id}", message="no change")
            await run_in_threadpool(review.save_checked, config, path, new, "edit (studio)")
            await run_in_threadpool(studio.index_changed)
        except LookupError:
            return back("/", error="that draft is no longer in the queue")
        except QtgenError as exc:  # not saved: show the form again with what the reviewer typed
            return page(request, "edit_failed.html", status_code=422, id=draft_id, error=str(exc),
                        answer=first(values, "answer"), description=first(values, "description"),
                        keywords=first(values, "keywords"))
        return back(f"/draft/{draft_id}", message="saved")

    async def job_status(request: Request) -> Response:
        job = studio.jobs.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"state": "unknown"}, status_code=404)
        return JSONResponse({"state": job.state, "message": job.message, "seconds": round(time.time() - job.started, 1)})

    routes = [
        Route("/", queue_page),
        Route("/draft/{draft_id}", draft_page),
        Route("/approve", approve, methods=["POST"]),
        Route("/draft/{draft_id}/reject", reject, methods=["POST"]),
        Route("/draft/{draft_id}/regenerate", regenerate, methods=["POST"]),
        Route("/draft/{draft_id}/preview", preview, methods=["POST"]),
        Route("/draft/{draft_id}/edit", save, methods=["POST"]),
        Route("/jobs/{job_id}", job_status),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        Mount("/katex", StaticFiles(directory=str(VENDOR)), name="katex"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        studio.warm()  # the index, its model and the queue, ready before the first page asks (once: `serve` may have)
        yield
        studio.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    return Guard(app, studio, hosts)


class Guard:
    """ASGI middleware: the bound host names only, the access token (a cookie set by a one-time login URL)
    on every route, a body limit and CSRF on every POST, security headers on every answer."""

    def __init__(self, app, studio: Studio, hosts: set[str] | frozenset | None = LOOPBACK_NAMES):
        self.app = app
        self.studio = studio
        self.hosts = hosts

    def _host_ok(self, scope, host_header: str | None) -> bool:
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
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        if not self._host_ok(scope, request.headers.get("host")):  # DNS rebinding: a name that is not ours
            return await self._send(PlainTextResponse("421: this studio answers only to its own address",
                                                      status_code=421), scope, receive, send)
        name = f"{COOKIE}_{(scope.get('server') or ('', 0))[1]}"  # one studio per port: its own cookie
        cookie = request.cookies.get(name)
        good = lambda v: v is not None and hmac.compare_digest(v.encode(), self.studio.token.encode())  # noqa: E731
        login = request.query_params.get("login")
        if login is not None and request.method == "GET":
            if not self.studio.use_login(login):
                if good(cookie):  # a used link opened again in the browser that used it
                    return await self._send(RedirectResponse(request.url.path, status_code=303), scope, receive, send)
                return await self._send(PlainTextResponse(
                    "401: this login link was already used (each works once); restart qtgen studio for a new one",
                    status_code=401), scope, receive, send)
            # the lasting secret goes into a cookie only this site can send; the link is now worthless
            query = urllib.parse.urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "login"])
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            response.set_cookie(name, self.studio.token, httponly=True, samesite="strict", path="/")
            return await self._send(response, scope, receive, send)
        if not good(cookie):
            return await self._send(PlainTextResponse("401: open the studio with the login URL it printed",
                                                      status_code=401), scope, receive, send)
        if request.method == "POST":
            if int(request.headers.get("content-length") or 0) > MAX_BODY:
                return await self._send(PlainTextResponse("413: request too large", status_code=413),
                                        scope, receive, send)
            body = await _body_within(receive, MAX_BODY)  # chunked or not, never more than the limit is read
            if body is None:
                return await self._send(PlainTextResponse("413: request too large", status_code=413),
                                        scope, receive, send)

            async def replay():  # the app reads the body again
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
            sent = request.headers.get("x-csrf-token")
            if sent is None:
                sent = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("csrf") or [None])[0]
            if sent is None or not hmac.compare_digest(sent.encode(), self.studio.csrf.encode()):
                return await self._send(PlainTextResponse("403: missing or wrong CSRF token", status_code=403),
                                        scope, receive, send)
            if request.headers.get("origin") not in (None, f"{scope['scheme']}://{request.headers.get('host')}"):
                return await self._send(PlainTextResponse("403: cross-origin request", status_code=403),
                                        scope, receive, send)

        async def secured(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
                            (b"cache-control", b"no-store")]
                message["headers"] = headers
            await send(message)

        return await self.app(scope, receive, secured)

    async def _send(self, response: Response, scope, receive, send):
        async def secured(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (b"content-security-policy", CSP.encode()), (b"cache-control", b"no-store")]
            await send(message)

        await response(scope, receive, secured)


def new_token() -> str:
    return secrets.token_urlsafe(24)


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
