"""`qtgen studio`: the review queue in a browser, on Starlette: route modules (`routes/`) inside one middleware per
concern (`middleware`: security headers, the host, the login, CSRF with the body limit).

Every route but the login and invitation pages needs a session, which lives only in an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS): whoever starts the studio gets a one-time login URL (it sets the cookie and stops working
once used, so no lasting secret reaches browser history or the process list); the people they invite set their own
passwords. Each route checks the role of the account asking (a writer drafts, edits, regenerates and rejects; a
publisher also approves), and every decision is recorded as that account's. Only the bound host names are served
(no DNS rebinding), request bodies are cut off at a limit however they are sent, and every action is a
POST carrying the CSRF token. Drafts are addressed by an opaque id from the queue, never by a path from the
request. A draft is shown exactly as the site renders it (raw HTML as text, math by the real KaTeX), under a
Content-Security-Policy that lets no script but the studio's own run, so a draft's content can never execute
anything. The studio only parses requests, calls the library (`qtgen.publishing.review`) and presents.
"""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Config
from ..site.katex import VENDOR
from .middleware import CSP, LOOPBACK_NAMES, MAX_BODY, guarded  # noqa: F401 - the guards' limits, part of the API
from .pages import HERE, Pages
from .routes import account, actions, draft, lists, queue, team
from .state import Job, Studio  # noqa: F401 - the studio's state, part of this module's API


def create_app(config: Config, *, hosts: set[str] | frozenset | None = LOOPBACK_NAMES, names: frozenset = frozenset(),
               studio: Studio | None = None):
    """The studio's ASGI app inside its guards; `hosts`: the host names it answers to on its own port (None: any,
    for --allow-remote), `names`: the public names a proxy serves it under."""
    studio = studio or Studio(config)
    pages = Pages(config, studio)
    routes = [
        *account.routes(pages),
        *queue.routes(pages),
        *draft.routes(pages),
        *actions.routes(pages),
        *lists.routes(pages),
        *team.routes(pages),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        Mount("/katex", StaticFiles(directory=str(VENDOR)), name="katex"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        studio.warm()  # the index, its model and the queue, ready before the first page asks (once: `serve` may have)
        yield
        studio.close()

    return guarded(Starlette(routes=routes, lifespan=lifespan), studio, hosts, names)
