"""`qtgen eval --html OUT`: the comparison as a page, each question's answers side by side as the site renders them.

Built from content, so every value is escaped (Jinja2 autoescape) and every answer's HTML is the site renderer's,
which passes the allow-list sanitiser; the page runs no script at all (its Content-Security-Policy says so).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("eval_report.html.j2")


def report_html(outcomes: list, variants: list, questions: list, rows: list) -> str:
    from ..site.katex import VENDOR
    from ..site.pagehtml import SITE_CSS, katex_css
    from ..site.render import render_answer

    by_key = {(o.variant, o.question, o.subject): o for o in outcomes}
    html = {k: render_answer(o.page.answer).html for k, o in by_key.items() if o.page is not None and not o.failed}
    return _template().render(variants=variants, questions=questions, rows=rows, by_key=by_key, html=html,
                              site_css=SITE_CSS, katex_css=katex_css((VENDOR / "fonts").as_uri()))
