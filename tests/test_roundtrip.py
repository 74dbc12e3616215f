"""The writer reproduces every real file byte for byte, and new pages in the site's layout."""

import datetime as dt

import pytest

from qtgen.format.page import PLAIN, Layout, Page, RelatedArticle, Seo
from qtgen.format.reader import parse, read
from qtgen.format.writer import render


def test_all_fixtures_round_trip_byte_identical(fixtures):
    assert len(fixtures) == 152
    for path in fixtures:
        data = path.read_bytes()
        assert render(parse(data.decode("utf-8"))).encode("utf-8") == data, path


def test_older_versions_round_trip(older):
    assert len(older) == 5
    for path in older:
        data = path.read_bytes()
        assert render(read(path)).encode("utf-8") == data, path


def test_seed_rebuilt_from_its_field_values(seed):
    original = parse(seed.read_text(encoding="utf-8"))
    values = original.model_dump(by_alias=True, exclude_none=True)
    rebuilt = Page(**values, layout=Layout(title_style=original.layout.title_style))
    assert render(rebuilt).encode("utf-8") == seed.read_bytes()


def _page(**kw) -> Page:
    base = dict(
        id=7, date=dt.date(2026, 1, 2), title="What is X?", article_title="What is X?",
        seo=Seo(title="QuickTakes | Physics", page_description="d" * 80, page_keywords="a, b, c, d, e"),
        question="What is X?", answer="Line one.\\n\\nLine two.", subject="Physics",
        file_name="what-is-x.md", url="/learn/physics/questions/what-is-x", score=-1.0,
    )
    base.update(kw)
    return Page(**base)


def test_new_page_layout_is_folded_with_blank_line_and_exact_ending():
    text = render(_page())
    assert text.startswith("---\n_schema: default\nid: 7\ndate: 2026-01-02\ntitle: >-\n    What is X?\n")
    assert text.endswith("url: /learn/physics/questions/what-is-x\nscore: -1.0\n\n---\n\n&nbsp;")
    assert "\r" not in text and not text.endswith("\n")


def test_related_articles_remove_the_blank_line_and_indent_eight():
    art = RelatedArticle(id=3, title="What is Y?", subject="Physics", url="/learn/physics/questions/what-is-y")
    text = render(_page().with_related([art]))
    assert "related_article1:\n    id: 3\n    title: >-\n        What is Y?\n    subject: Physics\n" in text
    assert text.endswith("url: /learn/physics/questions/what-is-y\n---\n\n&nbsp;")


@pytest.mark.parametrize("title", ["Ratio 1: 2 explained", "Why # matters", 'The "best" one', "- dash first", "True", "2024", "null"])
def test_plain_style_switches_to_folded_when_the_text_needs_it(title):
    page = _page(title=title, article_title=title, question=title, layout=Layout(title_style=PLAIN))
    text = render(page)
    assert f"title: >-\n    {title}\n" in text
    assert parse(text).title == title


def test_plain_title_stays_plain_when_safe():
    page = _page(layout=Layout(title_style=PLAIN), score=None)
    text = render(page)
    assert "\ntitle: What is X?\narticle_title: What is X?\n" in text
    assert text.endswith("what-is-x\n---\n\n&nbsp;")  # no score: no blank line
    assert parse(text).layout.title_style == PLAIN


@pytest.mark.parametrize("answer", ['He said: "yes" # not a comment', "- starts like a list", "--- looks like a fence",
                                    "Trailing space ", "Ünïcödé ✓ 中文 $\\frac{a}{b}$", "{ not: json }"])
def test_yaml_special_text_round_trips_through_the_folded_scalar(answer):
    page = _page(answer=answer, question="Q: what # is \"this\"?", title="Q: what # is \"this\"?",
                 article_title="Q: what # is \"this\"?")
    back = parse(render(page))
    assert back.answer == answer
    assert back.question == page.question
