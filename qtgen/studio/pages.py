"""What every route of the studio shares: the config, the studio's state, its templates, and the ways a route reads a
form and answers (a page, or back to one with a message)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..config import Config
from ..publishing.provenance import describe as made_with
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
        context.update(csrf=self.studio.csrf, drafts_dir=str(self.config.drafts), made_with=made_with)
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

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
