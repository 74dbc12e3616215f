
import pytest

from qtgen.format.reader import read
from qtgen.format.slug import file_name_for, site_slug, slug, url_for


@pytest.mark.parametrize("text, expected", [
    ("NP-completeness", "npcompleteness"),
    ("Faraday's Law", "faradays-law"),
    ("IPO & FPO", "ipo--fpo"),
    ("La Tène", "la-tne"),
    ("y = x", "y--x"),
    ("What is C++?", "what-is-c"),
    ("Double  spaces here", "double--spaces-here"),
    (" leading and trailing ", "-leading-and-trailing-"),
    ("Jean-Paul Sartre's “Nausea”", "jeanpaul-sartres-nausea"),
    ("Computer science", "computer-science"),
    ("Computer Science", "computer-science"),
    ("√2 × 3", "2--3"),
])
def test_site_slug_rule(text, expected):
    assert site_slug(text) == expected


def test_transliterating_style_differs_where_the_site_does_not():
    assert slug("La Tène", "slugify") == "la-tene"
    assert slug("IPO & FPO", "slugify") == "ipo-fpo"
    with pytest.raises(ValueError):
        slug("x", "nope")


def test_every_fixture_file_name_and_url_derive_from_question_and_subject(fixtures, older):
    checked = 0
    for path in fixtures + older:
        page = read(path)
        assert page.file_name == file_name_for(page.question) == path.name, path
        assert page.url == url_for(page.question, page.subject), path
        for art in page.related:
            assert art.url == url_for(art.title, art.subject), (path, art.title)
        if path.parent.name != "fixtures-older":
            assert path.parent.name == site_slug(page.subject), path
        checked += 1
    assert checked == 157
