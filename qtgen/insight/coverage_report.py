"""`qtgen coverage --html OUT`: the coverage as a page a person would rather look at than read.

Charts are drawn by matplotlib (Agg, no display) as PNG images inside the page (data: URIs): nothing is loaded
from anywhere, and no text of the site becomes markup (a chart is pixels; the tables are escaped by Jinja2's
autoescape). The page runs no script (its Content-Security-Policy says so).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
PUBLISHED, DRAFTED, REJECTED, UNCOVERED = "#4f46e5", "#f59e0b", "#9ca3af", "#dc2626"


def _png(figure) -> str:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(rows: int):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, max(2.0, 0.28 * rows + 1)))
    ax = fig.add_subplot()
    ax.margins(y=0.5 / max(rows, 1))
    return fig, ax


def _rows(ax, labels: list[str]) -> list[int]:
    """Bars at positions 0..n-1 with these labels: two labels alike never merge into one row."""
    positions = list(range(len(labels)))
    ax.set_yticks(positions, labels)
    return positions


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def subjects_chart(report) -> str:
    rows = list(reversed(report.subjects))
    fig, ax = _figure(len(rows))
    names = _rows(ax, [_short(r.subject, 36) for r in rows])
    published = [r.published for r in rows]
    drafted = [r.drafted for r in rows]
    rejected = [r.rejected for r in rows]
    ax.barh(names, published, color=PUBLISHED, label="published")
    ax.barh(names, drafted, left=published, color=DRAFTED, label="drafted")
    ax.barh(names, rejected, left=[p + d for p, d in zip(published, drafted)], color=REJECTED, label="rejected")
    for y, r in enumerate(rows):
        ax.text(r.published + r.drafted + r.rejected, y, f" {r.published:,}" + (f" +{r.drafted:,} drafted" if r.drafted
                else "") + (f" +{r.rejected:,} rejected" if r.rejected else ""), va="center", fontsize=8)
    _integer_ticks(ax)
    ax.set_xlabel("pages")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    ax.set_title("Pages per subject", pad=24)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def topics_chart(report) -> str:
    topics = list(reversed(report.topics or []))
    fig, ax = _figure(len(topics))
    names = _rows(ax, [_short(t.topic) for t in topics])
    counts = [len(t.pages) for t in topics]
    stub = max(counts + [1]) * 0.01  # a sliver, so a topic with no page still shows where its bar would be
    ax.barh(names, [c or stub for c in counts], color=[UNCOVERED if c == 0 else PUBLISHED for c in counts])
    for y, c in enumerate(counts):
        ax.text(c or stub, y, " none" if c == 0 else f" {c}", va="center", fontsize=8,
                color=UNCOVERED if c == 0 else "#111827")
    _integer_ticks(ax)
    for label, c in zip(ax.get_yticklabels(), counts):
        if c == 0:
            label.set_color(UNCOVERED)
    ax.set_xlabel("pages covering the topic")
    ax.set_title("Topics" + (f" of {report.subject}" if report.subject else "") + " (red: no page)")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("coverage_report.html.j2")


def report_html(report) -> str:
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):  # a "$" in a topic or subject is a dollar, not math
        return _template().render(report=report, subjects_png=subjects_chart(report),
                                  topics_png=topics_chart(report) if report.topics is not None else None)
