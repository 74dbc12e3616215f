"""The queue page: the drafts waiting, filtered, searched, sorted and paged, with who is working on which (and
"mine": those I hold); a lot's audit queue, at the lot's own address."""

from __future__ import annotations

import urllib.parse
from functools import partial

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ...errors import QtgenError
from ...judging.verdicts import risk_order, verdicts_of
from ...publishing import lots as audits
from ...publishing import review
from ...team.accounts import WRITER
from ..pages import PAGE_SIZE, WARM_WAIT, Pages, back, route, user_of


def queue_page(p: Pages, request: Request) -> Response:
    from ...publishing.recovery import recover

    recovered = recover(p.config)

    status = request.query_params.get("status") or None
    subject = request.query_params.get("subject") or None
    sort = request.query_params.get("sort") or "subject"
    try:
        number = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        number = 1
    verdict = request.query_params.get("verdict") or None
    search = " ".join((request.query_params.get("q") or "").split())[:200]
    lot_name = request.path_params.get("lot") or request.query_params.get("lot") or None
    mine = request.query_params.get("mine") == "1"
    p.studio.ready(timeout=WARM_WAIT)  # the warm-up, if still running, does this page's work: waited for
    if p.studio.stopping:
        return PlainTextResponse("503: the studio is stopping", status_code=503)
    items = review.queue(p.config, p.studio.index(), subject=subject,
                         status=status if status in (review.OK, review.WARNINGS, review.ERRORS) else None)
    judged = verdicts_of(p.config, items)
    lot = None
    if lot_name:  # the audit queue: the lot's sampled drafts still waiting for a decision
        try:
            lot = audits.status(p.config, lot_name)
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
    with p.studio.board() as board:
        claims = board.claims()
    me = user_of(request).person.line()
    rows = [{"item": i, "name": p.studio.name_of(i.path), "revision": i.revises is not None,
             "no_index": i.no_index, "judge": judged.get(str(i.path))} for i in items]
    for r in rows:
        r["claim"] = claims.get(r["name"])
    if mine:
        rows = [r for r in rows if r["claim"] is not None and r["claim"].holder == me]
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
        r["id"] = p.studio.draft_id(r["item"].path)
    counts = {k: sum(1 for r in rows if r["item"].status == k) for k in order}
    msg = "; ".join([*recovered, request.query_params.get("msg", "")]).strip("; ")

    def link(n: int) -> str:
        query = {k: v for k, v in (("status", status), ("subject", subject), ("sort", sort), ("verdict", verdict),
                                   ("q", search), ("mine", "1" if mine else "")) if v}
        home = f"/lots/{urllib.parse.quote(lot_name, safe='')}" if lot_name else "/"
        return home + "?" + urllib.parse.urlencode({**query, "page": n})

    return p.page(request, "queue.html", rows=shown, total=len(rows), counts=counts, status=status or "",
                subject=subject or "", sort=sort, subjects=subjects, search=search, msg=msg, verdict=verdict or "", lot=lot,
                err=request.query_params.get("err", ""), mine=mine, me=me, claimed=len(claims),
                number=number, pages=pages, first=(number - 1) * PAGE_SIZE + 1 if rows else 0,
                last=(number - 1) * PAGE_SIZE + len(shown),
                prev_link=link(number - 1) if number > 1 else None,
                next_link=link(number + 1) if number < pages else None)


def routes(p: Pages) -> list[Route]:
    return [route("/", partial(queue_page, p), WRITER), route("/lots/{lot}", partial(queue_page, p), WRITER)]
