"""A draft's page: as the site renders it, its search preview, findings, similar pages, versions, diff and grade."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...team.accounts import WRITER
from ...team.board import Claimed

from ...drafts.folder import DraftStore
from ...errors import QtgenError
from ...judging.verdicts import verdicts_of
from ...publishing import review
from ...publishing.provenance import of_versions
from ...site.pagehtml import meta_description, page_title, search_preview
from ...site.render import render_answer
from ..pages import Pages, route, user_of
from .actions import _gone, review_sha


def draft_page(p: Pages, request: Request) -> Response:
    drafts = p.studio.drafts()
    path = drafts.get(request.path_params["draft_id"])
    if path is None:
        return p.page(request, "gone.html", status_code=404,
                      why=_gone(p, p.studio.name_by_id(request.path_params["draft_id"])))
    user = user_of(request)
    name = p.studio.name_of(path)
    editing = request.query_params.get("edit") == "1"
    with p.studio.board() as board:
        claim = None
        if editing:  # opening the edit form claims the draft for a while; another's claim is shown instead
            try:
                board.claim(name, user.person, "editing")
            except Claimed as exc:
                claim, editing = exc.claim, False
        claim = claim or board.others(name, user.person)
    data = path.read_bytes()
    ids = list(drafts)
    here = ids.index(request.path_params["draft_id"])
    index = p.studio.index()
    item = review.assess(p.config, path, index, data=data)
    similar = index.similar(item.page.question, limit=5) if item.page else []
    history = DraftStore(p.config, migrate=False).history(path).versions()
    against = request.query_params.get("against")
    diff = ""
    if len(history) > 1 or against or item.revises:
        try:
            diff = review.diff(p.config, p.studio.name_of(path), int(against) if against else None)
        except (QtgenError, ValueError) as exc:
            diff = str(exc)
    rendered = render_answer(item.page.answer) if item.page else None
    judgment = verdicts_of(p.config, [item]).get(str(path))
    return p.page(request, "draft.html", id=request.path_params["draft_id"], item=item, path=path,
                name=p.studio.name_of(path), rendered=rendered,
                preview=search_preview(item.page) if item.page else None,
                title=page_title(item.page) if item.page else "", meta=meta_description(item.page) if item.page else "",
                similar=[m for m in similar if Path(m.entry.path).resolve() not in
                         {path.resolve(), item.revises.resolve() if item.revises else None}],
                history=list(zip(history, of_versions(p.config, history))), diff=diff, against=against or "",
                judge_gate=bool(p.config.judge.get("required") or "min_score" in p.config.judge), judgment=judgment,
                judge_issues=[{"quote": i.quote, "problem": f"{i.severity}: {i.problem} (correct: {i.correction})"}
                              for i in judgment.issues] if judgment else [],
                prev_id=ids[here - 1] if here > 0 else None, next_id=ids[here + 1] if here + 1 < len(ids) else None,
                msg=request.query_params.get("msg", ""), err=request.query_params.get("err", ""),
                editing=editing, claim=claim, base=review_sha(data),
                jobs=p.studio.jobs_to_show(request.path_params["draft_id"]))


def routes(p: Pages) -> list[Route]:
    return [route("/draft/{draft_id}", partial(draft_page, p), WRITER)]
