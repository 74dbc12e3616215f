"""A page as the site serves it: its <title>, meta tags, question, rendered answer and related articles.

The site's title is `Student Question : {title} | {subject} | QuickTakes`, its meta description
`Get the full answer from QuickTakes - {seo.page_description}`, its meta keywords `seo.page_keywords`;
it reads `noIndex` for the robots tag (a page's `no_index` key is not what it reads, so no robots tag
is written for it, exactly as the site does). A search result shows about 155 characters of the
description and about 60 of the title: `search_preview` cuts them where a search engine does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..format.page import Page
from .katex import VENDOR
from .render import Rendered, render_answer, safe_url

TITLE = "Student Question : {title} | {subject} | QuickTakes"
DESCRIPTION = "Get the full answer from QuickTakes - {description}"
TITLE_SHOWN = 60
DESCRIPTION_SHOWN = 155
TEMPLATES = Path(__file__).resolve().parent / "templates"

SITE_CSS = """
body { margin: 0; background: #f6f7fb; color: #1f2933; font: 17px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; }
.qt-page { max-width: 760px; margin: 0 auto; padding: 24px 20px 48px; background: #fff; }
.qt-subject { color: #5b21b6; font-weight: 600; margin: 0; text-transform: uppercase; font-size: 13px; letter-spacing: .06em; }
.qt-question { font-size: 28px; line-height: 1.25; margin: 6px 0 4px; }
.qt-date { color: #6b7280; font-size: 14px; margin: 0 0 18px; }
.qt-answer { position: relative; contain: paint; }
.qt-answer table { border-collapse: collapse; margin: 12px 0; }
.qt-answer th, .qt-answer td { border: 1px solid #d1d5db; padding: 4px 10px; }
.qt-answer pre { background: #f3f4f6; padding: 10px; overflow-x: auto; }
.qt-answer code { background: #f3f4f6; padding: 0 3px; }
.qt-answer .katex-display { overflow-x: auto; overflow-y: hidden; }
.qt-related { border-top: 1px solid #e5e7eb; margin-top: 28px; }
.qt-related span { color: #6b7280; font-size: 14px; }
"""


def page_title(page: Page) -> str:
    return TITLE.format(title=page.title, subject=page.subject)


def meta_description(page: Page) -> str:
    return DESCRIPTION.format(description=page.seo.page_description)


def shown(text: str, limit: int) -> str:
    """What a search result shows of `text`: cut at a word boundary with an ellipsis past `limit`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"


@dataclass
class SearchPreview:
    title: str
    url: str
    description: str
    title_cut: bool
    description_cut: bool


def search_preview(page: Page, site_url: str = "https://quicktakes.io") -> SearchPreview:
    title, desc = page_title(page), meta_description(page)
    return SearchPreview(shown(title, TITLE_SHOWN), site_url.rstrip("/") + page.url, shown(desc, DESCRIPTION_SHOWN),
                         len(title) > TITLE_SHOWN, len(desc) > DESCRIPTION_SHOWN)


@lru_cache(maxsize=4)
def katex_css(fonts_url: str | None = None) -> str:
    """KaTeX's stylesheet; fonts from `fonts_url` (the studio serves them), else system fonts."""
    css = (VENDOR / "katex.min.css").read_text(encoding="utf-8")
    if fonts_url is not None:
        css = css.replace("url(fonts/", f"url({fonts_url.rstrip('/')}/")
    return css


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("page.html.j2")


def page_document(page: Page, rendered: Rendered | None = None, *, fonts_url: str | None = None) -> str:
    """A standalone HTML page, styled like the site, with the site's title and meta tags."""
    rendered = rendered or render_answer(page.answer)
    date = page.date if isinstance(page.date, dt.date) else dt.date.fromisoformat(str(page.date))
    return _template().render(
        page=page, title=page_title(page), description=meta_description(page), keywords=page.seo.page_keywords,
        robots=None, safe_url=safe_url, date=date.strftime("%b %d, %Y"), answer_html=rendered.html, site_css=SITE_CSS,
        katex_css=katex_css(fonts_url or (VENDOR / "fonts").as_uri()))
