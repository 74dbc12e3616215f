"""Check page files against the site's format: every violation with file, field and reason."""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from ..config import Config
from ..errors import ParseError
from .files import expand
from .page import KEY_ORDER, REQUIRED_KEYS, Page
from .reader import layout_of, load_meta
from .slug import file_name_for, names_something, slug, url_for
from .writer import ENDING, render

ERROR = "error"
_GOOD_SHAPES: set = set()
WARNING = "warning"
KEPT = "kept"  # a problem of a value a revision keeps as published: shown, never blocking (the fix names it)


@dataclass
class Violation:
    path: str
    field: str
    level: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.level}: {self.field}: {self.message}"


@dataclass
class Report:
    files: int = 0
    findings: list[Violation] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [f for f in self.findings if f.level == WARNING]

    def as_json(self) -> dict:
        return {
            "files": self.files,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [asdict(f) for f in self.findings],
        }


class Checker:
    """Validates pages one at a time and keeps what cross-file checks (ids) need."""

    def __init__(self, config: Config, roundtrip: bool = False, published: Page | None = None):
        self.config = config
        self.roundtrip = roundtrip
        self.published = published  # a revision's published page: bounds apply to what the revision changes
        self.report = Report()
        self._ids: dict[int, tuple[str, str, str]] = {}
        self._drafts = _resolved(config.drafts)
        self._content = _resolved(config.content)

    # -- per file --------------------------------------------------------------------------------
    def check_file(self, path: Path) -> Page | None:
        name = str(path)
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            self.report.files += 1
            self._add(name, "file", ERROR, exc.strerror or str(exc))
            return None
        return self.check_bytes(data, name)

    def check_bytes(self, data: bytes, name: str) -> Page | None:
        """A page file's exact bytes (as read once: what is checked is what gets placed)."""
        self.report.files += 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._add(name, "file", ERROR, f"not UTF-8 ({exc.reason} at byte {exc.start})")
            return None
        return self.check_text(text, name, path=name)

    def check_text(self, text: str, name: str, path: Path | str | None = None) -> Page | None:
        add = lambda fld, level, msg: self._add(name, fld, level, msg)  # noqa: E731
        if text.startswith("\ufeff"):
            add("file", ERROR, "starts with a byte-order mark")
        if "\r" in text:
            add("file", ERROR, "contains a carriage return (CR); the site's files use \\n only")
        if not text.endswith(ENDING):
            add("file", ERROR, "does not end with '\\n---\\n\\n&nbsp;'")
        try:
            meta = load_meta(text)
        except ParseError as exc:
            add("front matter", ERROR, str(exc).removeprefix("front matter: "))
            return None
        self._check_keys(meta, add)
        try:
            page = Page.model_validate(meta, strict=True)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                if err["type"] == "missing" or err["type"] == "extra_forbidden":
                    continue  # reported by the key check
                add(loc or "page", ERROR, f"{err['msg']} (got {_show(err.get('input'))})")
            return None
        page.layout = layout_of(text)
        self._check_page(page, add, path)
        if self.roundtrip:
            self._check_roundtrip(page, text, add)
        return page

    def _check_keys(self, meta: dict, add) -> None:
        keys = tuple(meta)
        seo = meta.get("seo")
        shape = (keys, tuple(seo) if isinstance(seo, dict) else None)
        if shape in _GOOD_SHAPES:
            return  # the same key layout passed before: most files share one of a few
        before = len(self.report.findings)
        self._check_key_layout(meta, list(keys), add)
        if len(self.report.findings) == before and len(_GOOD_SHAPES) < 1024:
            _GOOD_SHAPES.add(shape)

    def _check_key_layout(self, meta: dict, keys: list, add) -> None:
        for key in REQUIRED_KEYS:
            if key not in meta:
                add(key, ERROR, "required key is missing")
        unknown = [k for k in keys if k not in KEY_ORDER]
        for key in unknown:
            add(str(key), ERROR, "unknown key")
        known = [k for k in keys if k in KEY_ORDER]
        if known != sorted(known, key=KEY_ORDER.index):
            add("keys", ERROR, f"keys out of order: expected {', '.join(sorted(known, key=KEY_ORDER.index))}")
        related = [k for k in keys if str(k).startswith("related_article")]
        expected = [f"related_article{n}" for n in range(1, len(related) + 1)]
        if sorted(related) != expected:
            add("related_article", ERROR, f"related articles must run 1..N with no gap, found {', '.join(map(str, related))}")
        if related and "score" not in meta:
            add("score", ERROR, "pages with related articles carry 'score: -1.0'")
        seo = meta.get("seo")
        if isinstance(seo, dict) and list(seo) != ["title", "page_description", "page_keywords"]:
            add("seo", ERROR, f"keys must be title, page_description, page_keywords in order, got {', '.join(map(str, seo))}")

    def _check_page(self, page: Page, add, path: str | None) -> None:
        cfg = self.config
        style = cfg.slug_style
        if path is not None:
            path = str(path)  # plain strings: this runs 35,915 times over the site tree
            folder = os.path.dirname(path)
            is_draft = _dir_inside(folder, self._drafts)
        else:
            is_draft = False
        seo_level = ERROR if is_draft else WARNING
        if page.author != cfg.author:
            add("author", ERROR, f"must be {cfg.author!r}, got {page.author!r}")
        if page.score is not None and page.score != -1.0:
            add("score", ERROR, f"must be -1.0, got {page.score}")
        if page.no_index is False:
            add("no_index", WARNING, "is False; the site only ever writes 'no_index: True'")
        for key in ("title", "article_title"):
            if getattr(page, key) != page.question:
                add(key, ERROR, "differs from question")
        if page.seo.title != f"{cfg.site_name} | {page.subject}":
            add("seo.title", ERROR, f"must be {cfg.site_name + ' | ' + page.subject!r}, got {page.seo.title!r}")
        if not names_something(slug(page.subject, style)):
            add("subject", ERROR, f"{page.subject!r} has no letter or digit that the slug keeps, so the page has no folder")
        if not names_something(page.file_name.removesuffix(".md")) or "/" in page.file_name or page.file_name.startswith("."):
            add("file_name", ERROR, f"{page.file_name!r} is not a page file name")
        want_file = file_name_for(page.question, style)
        if page.file_name != want_file:
            add("file_name", ERROR, f"does not match the question: expected {want_file!r}")
        want_url = url_for(page.question, page.subject, style, cfg.url_pattern)
        if page.url != want_url:
            add("url", ERROR, f"does not match question and subject: expected {want_url!r}")
        if path is not None:
            base = os.path.basename(path)
            if base != page.file_name:
                add("file_name", ERROR, f"file is named {base!r}, its file_name says {page.file_name!r}")
            parent = os.path.basename(folder)
            if _dir_inside(folder, self._content) and parent != slug(page.subject, style):
                add("subject", ERROR, f"file is in folder {parent!r}, its subject's folder is {slug(page.subject, style)!r}")
        if "\n" in page.answer:
            add("answer", ERROR, "contains a raw newline; newlines are stored as the two characters \\n")
        if not page.answer.strip():
            add("answer", ERROR, "is empty")
        for key in ("question", "seo.page_description", "seo.page_keywords"):
            value = page.question if key == "question" else getattr(page.seo, key.split(".")[1])
            if "\n" in value:
                add(key, ERROR, "must be one line")
        desc = page.seo.page_description
        kept = self.published.seo if self.published is not None else None
        desc_level = KEPT if kept is not None and kept.page_description == desc else seo_level
        kept_desc = " (kept from the published page: qtgen fix --rule QT009 repairs it)" if desc_level == KEPT else ""
        if not cfg.desc_min <= len(desc) <= cfg.desc_max:
            add("seo.page_description", desc_level,
                f"{len(desc)} characters, outside {cfg.desc_min}..{cfg.desc_max}{kept_desc}")
        terms = [t for t in (x.strip() for x in page.seo.page_keywords.split(",")) if t]
        kw_level = KEPT if kept is not None and kept.page_keywords == page.seo.page_keywords else seo_level
        kept_kw = " (kept from the published page; a revision need not fix it)" if kw_level == KEPT else ""
        if not cfg.kw_min <= len(terms) <= cfg.kw_max:
            add("seo.page_keywords", kw_level, f"{len(terms)} terms, outside {cfg.kw_min}..{cfg.kw_max}{kept_kw}")
        if len({t.casefold() for t in terms}) != len(terms):
            add("seo.page_keywords", kw_level, "repeats a keyword" + (
                " (kept from the published page; qtgen fix repairs it)" if kw_level == KEPT else ""))
        for n, art in enumerate(page.related, 1):
            want = url_for(art.title, art.subject, style, cfg.url_pattern)
            if art.url != want:
                add(f"related_article{n}.url", WARNING, f"does not match its title and subject: expected {want!r}")
        self._check_id(page, add)

    def _check_id(self, page: Page, add) -> None:
        """One id, one question: the same question under several subjects shares it, as on the site."""
        key = (slug(page.subject, self.config.slug_style), page.file_name)
        seen = self._ids.get(page.id)
        if seen is None:
            self._ids[page.id] = (*key, page.question)
        elif seen[2] != page.question:
            add("id", ERROR, f"id {page.id} is also used by {seen[0]}/{seen[1]}, which asks another question")
        elif seen[:2] == key:
            add("id", ERROR, f"{key[0]}/{key[1]} appears twice")

    def _check_roundtrip(self, page: Page, text: str, add) -> None:
        out = render(page)
        if out == text:
            return
        at = next((i for i, (a, b) in enumerate(zip(out, text)) if a != b), min(len(out), len(text)))
        line = text.count("\n", 0, at) + 1
        add("roundtrip", ERROR, f"re-emitted file differs at character {at} (line {line}): "
            f"file has {text[at:at + 20]!r}, writer gives {out[at:at + 20]!r}")

    def _add(self, path: str, fld: str, level: str, message: str) -> None:
        self.report.findings.append(Violation(path, fld, level, message))


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


@functools.lru_cache(maxsize=4096)
def _dir_inside(parent: str, folder: Path) -> bool:
    """Whether the folder `parent` lies below `folder` (answered once per folder, not per file)."""
    return _resolved(Path(parent)).is_relative_to(folder)



def validate_paths(paths: Iterable[Path], config: Config, roundtrip: bool = False) -> Report:
    checker = Checker(config, roundtrip=roundtrip)
    for path in expand(paths):
        checker.check_file(path)
    return checker.report
