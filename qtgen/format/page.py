"""The one typed model of a QuickTakes page (FORMAT.md section 2).

Parsing, writing, validating and `qtgen schema` all read their keys, order and types from here.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

SCHEMA = "default"
DATE_FORMAT = "MMM DD, YYYY"
POST_ON_TEXT = "Posted on"
SITE_NAME = "QuickTakes"
MAX_RELATED = 5

FOLDED = "folded"
PLAIN = "plain"

# Keys in the order every file of the site has them; optional ones marked.
KEY_ORDER = (
    "_schema", "id", "date", "title", "article_title", "date_format", "post_on_text", "seo",
    "author", "question", "no_index", "answer", "subject", "file_name", "url", "score",
    *(f"related_article{n}" for n in range(1, MAX_RELATED + 1)),
)
OPTIONAL_KEYS = frozenset({"no_index", "score", *(f"related_article{n}" for n in range(1, MAX_RELATED + 1))})
REQUIRED_KEYS = tuple(k for k in KEY_ORDER if k not in OPTIONAL_KEYS)
SEO_KEYS = ("title", "page_description", "page_keywords")
RELATED_KEYS = ("id", "title", "subject", "url")


class Layout(BaseModel):
    """What the writer needs beyond the field values to reproduce a file byte for byte."""

    title_style: Literal["folded", "plain"] = FOLDED
    # None: follow the site's rule (blank line iff folded, score and no related articles).
    blank_line: Optional[bool] = None


class Seo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="Exactly '<site name> | <subject>'.")
    page_description: str = Field(description="One line of meta description.")
    page_keywords: str = Field(description="Comma-separated keywords.")


class RelatedArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    title: str
    subject: str
    url: str


class Page(BaseModel):
    """A QuickTakes Q&A page; field order is the file's key order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["default"] = Field(SCHEMA, alias="_schema")
    id: int
    date: dt.date
    title: str
    article_title: str
    date_format: Literal["MMM DD, YYYY"] = DATE_FORMAT
    post_on_text: Literal["Posted on"] = POST_ON_TEXT
    seo: Seo
    author: str = SITE_NAME
    question: str
    no_index: Optional[bool] = Field(None, description="True marks 'I cannot answer'-type pages.")
    answer: str = Field(description="Markdown with newlines stored as the two characters \\n.")
    subject: str
    file_name: str
    url: str
    score: Optional[float] = Field(None, description="Always -1.0 where present.")
    related_article1: Optional[RelatedArticle] = None
    related_article2: Optional[RelatedArticle] = None
    related_article3: Optional[RelatedArticle] = None
    related_article4: Optional[RelatedArticle] = None
    related_article5: Optional[RelatedArticle] = None
    layout: SkipJsonSchema[Layout] = Field(default_factory=Layout, exclude=True)

    @property
    def related(self) -> list[RelatedArticle]:
        """The related articles in order, stopping at the first gap."""
        out = []
        for n in range(1, MAX_RELATED + 1):
            art = getattr(self, f"related_article{n}")
            if art is None:
                break
            out.append(art)
        return out

    def with_related(self, articles: list[RelatedArticle]) -> "Page":
        """A copy carrying exactly these related articles (at most five)."""
        if len(articles) > MAX_RELATED:
            raise ValueError(f"at most {MAX_RELATED} related articles")
        update = {f"related_article{n}": None for n in range(1, MAX_RELATED + 1)}
        update.update({f"related_article{n}": a for n, a in enumerate(articles, 1)})
        if articles and self.score is None:
            update["score"] = -1.0
        return self.model_copy(update=update)

    def decoded_answer(self) -> str:
        """The answer as the site renders it: the two characters \\n become newlines."""
        return _decoded(self.answer)


def json_schema() -> dict:
    """The page model as JSON Schema, by the names used in files."""
    return Page.model_json_schema(by_alias=True)


@lru_cache(maxsize=8)
def _decoded(answer: str) -> str:
    return answer.replace("\\n", "\n")  # asked by most rules of the lint, of the same page in turn
