"""What every route of the studio shares: the config, the studio's state, its templates, and the ways a route reads a
form and answers (a page, or back to one with a message)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..config import Config
from ..publishing.provenance import describe as made_with
from ..team.accounts import Account
from .middleware import SESSION_TOKEN, SESSION_USER, cookie_name
from .state import Studio

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 100  # drafts on one page of the queue
WARM_WAIT = 120.0  # seconds a page waits for the studio's warm-up before doing the work itself


class Pages:
    """The studio's config, state and templates, given to every route."""

    def __init__(self, config: Config, studio: Studio):
        self.config = config
        self.studio = studio
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

    def page(self, request: Request, template: str, status_code: int = 200, **context) -> Response:
        context.update(csrf=self.csrf(request), drafts_dir=str(self.config.drafts), made_with=made_with,
                       user=user_of(request))
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def csrf(self, request: Request) -> str:
        session = request.scope.get(SESSION_TOKEN)
        if session:
            return self.studio.csrf_of(session)
        pre = request.cookies.get(cookie_name(request.scope, "pre")) or ""
        return self.studio.csrf_of(pre, before_login=True) if pre else ""

    @staticmethod
    async def form(request: Request) -> dict[str, list[str]]:
        body = (await request.body()).decode("utf-8", "replace")
        return urllib.parse.parse_qs(body, keep_blank_values=True)


def first(values: dict, key: str, default: str = "") -> str:
    """A form's first value of `key`."""
    return (values.get(key) or [default])[0]


def back(url: str, message: str = "", error: str = "") -> RedirectResponse:
    """Back to a page (303), with a message or an error it shows."""
    query = urllib.parse.urlencode({k: v for k, v in (("msg", message), ("err", error)) if v})
    return RedirectResponse(url + (("?" + query) if query else ""), status_code=303)


def user_of(request: Request) -> Account | None:
    """Who is logged in (the login guard put them there); None on the login and invitation pages."""
    return request.scope.get(SESSION_USER)


def route(path: str, endpoint, role: str | None, methods: list[str] | None = None) -> Route:
    """A route that checks the role of whoever asks before anything else (None: the login and invitation pages,
    which need no session). Sync endpoints run in the thread pool, as Starlette runs them."""
    import inspect

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse

    is_async = inspect.iscoroutinefunction(getattr(endpoint, "func", endpoint))

    async def checked(request: Request) -> Response:
        if role is not None:
            user = user_of(request)
            if user is None:
                return PlainTextResponse("401: log in at /login", status_code=401)
            if not user.may(role):
                return PlainTextResponse(f"403: {user.name} is a {user.role}; this needs a {role}", status_code=403)
        return await endpoint(request) if is_async else await run_in_threadpool(endpoint, request)

    checked.role = role  # what the route needs, for the test that calls every route with every role
    return Route(path, checked, methods=methods)
