"""Slugs and the paths derived from them.

The site's rule (FORMAT.md section 5) reproduces every file_name and url of the live site:
lowercase, drop every character that is not a-z, 0-9 or a space, then turn each space into "-".
python-slugify's transliterating style is offered for sites that want readable ASCII slugs
(it disagrees with 4,971 existing urls, so it is never the default).
"""

from __future__ import annotations

import functools
import re

SITE = "site"
TRANSLIT = "slugify"
STYLES = (SITE, TRANSLIT)

_NOT_SLUG = re.compile(r"[^a-z0-9 ]")


@functools.lru_cache(maxsize=1 << 16)
def site_slug(text: str) -> str:
    """The live site's slug: no collapsing, stripping, transliteration or length cut."""
    return _NOT_SLUG.sub("", text.lower()).replace(" ", "-")


def slugify_slug(text: str) -> str:
    """python-slugify's style: transliterate, collapse and strip hyphens."""
    from slugify import slugify

    return slugify(text)


def slug(text: str, style: str = SITE) -> str:
    """Slug `text` in the configured style."""
    if style == SITE:
        return site_slug(text)
    if style == TRANSLIT:
        return slugify_slug(text)
    raise ValueError(f"unknown slug_style {style!r}: use one of {', '.join(STYLES)}")


def names_something(slug_text: str) -> bool:
    """Whether a slug holds a letter or digit (the site's rule turns "Что это?" into "--", which names nothing)."""
    return any(c.isalnum() for c in slug_text)


def file_name_for(question: str, style: str = SITE) -> str:
    return slug(question, style) + ".md"


def url_for(question: str, subject: str, style: str = SITE, pattern: str = "/learn/{subject_slug}/questions/{slug}") -> str:
    return pattern.format(subject_slug=slug(subject, style), slug=slug(question, style))
