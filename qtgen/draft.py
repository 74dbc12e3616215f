"""Drafting: one question in, one validated site-exact page file out (the library API of `qtgen draft`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import ids, seo, slug
from .config import Config
from .errors import ParseError, QtgenError
from .llm import ChatClient, Completion
from .page import FOLDED, Layout, Page, RelatedArticle, Seo
from .prompts import Prompt, Prompts
from .reader import read
from .text import encode_answer, fix_latex_n, normalise_question, normalise_subject
from .validate import Checker, Finding
from .writer import render, write_atomic

if TYPE_CHECKING:
    from .index import SiteIndex

_REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i'm unable", "i am unable")


@dataclass
class Plan:
    """Everything derived from a question before any model is asked."""

    question: str
    subject: str
    subject_slug: str
    file_name: str
    url: str
    draft_path: Path
    published_path: Path
    keep_id: int | None = None  # id of the draft this one replaces
    replaces_draft: bool = False


@dataclass
class DraftResult:
    path: Path | None
    page: Page
    text: str
    completion: Completion
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def published_path(config: Config, subject_slug: str, file_name: str) -> Path:
    return config.content / config.content_pattern.format(subject_slug=subject_slug, file_name=file_name)


def plan(config: Config, question: str, subject: str, *, force: bool = False) -> Plan:
    """Normalise the input, derive names and check for collisions; raises before any request."""
    q = normalise_question(question)
    s = normalise_subject(subject)
    style = config.slug_style
    q_slug, s_slug = slug.slug(q, style), slug.slug(s, style)
    if not q_slug:
        raise QtgenError(f"question {q!r}: has no letters or digits to build a file name from"
                         + ("; slug_style = \"slugify\" transliterates other scripts" if style == "site" else ""), 2)
    if not s_slug:
        raise QtgenError(f"subject {s!r}: has no letters or digits to build a folder name from", 2)
    file_name = q_slug + ".md"
    p = Plan(
        question=q, subject=s, subject_slug=s_slug, file_name=file_name,
        url=config.url_pattern.format(subject_slug=s_slug, slug=q_slug),
        draft_path=config.drafts / file_name,
        published_path=published_path(config, s_slug, file_name),
    )
    if p.draft_path.exists():
        existing = _read_or_none(p.draft_path)
        other = existing.subject if existing is not None else None
        if existing is not None and slug.slug(other, style) != s_slug:
            raise QtgenError(f"{p.draft_path}: already holds this question for subject {other!r}; "
                             "approve or reject that draft first")
        if not force:
            raise QtgenError(f"{p.draft_path}: a draft of this question already exists; not overwritten "
                             "(use --force to replace it)")
        p.replaces_draft = True
        p.keep_id = existing.id if existing is not None else None
    if p.published_path.exists() and not force:
        raise QtgenError(f"{p.published_path}: already published under {s!r} (use --force to draft a replacement)")
    if not force:
        from .review import rejection

        reason = rejection(config, file_name, s_slug)
        if reason is not None:
            raise QtgenError(f"question {q!r} was rejected for {s!r}: {reason} (use --force to draft it again)")
    return p


def _read_or_none(path: Path) -> Page | None:
    try:
        return read(path)
    except ParseError:
        return None


def _id_of_same_question(config: Config, file_name: str) -> int | None:
    """Without an index: the id this question has under any subject of the content tree."""
    content = config.content
    if not content.is_dir():
        return None
    for folder in sorted(content.iterdir()):
        candidate = folder / file_name
        if candidate.is_file():
            value = ids.read_id(candidate)
            if value is not None:
                return value
    return None


def prompt_settings(config: Config) -> dict:
    return {
        "site_name": config.site_name,
        "desc_min": config.desc_min,
        "desc_max": config.desc_max,
        "kw_min": config.kw_min,
        "kw_max": config.kw_max,
    }


def build_prompt(config: Config, p: Plan, prompts: Prompts | None = None, **extra) -> Prompt:
    prompts = prompts or Prompts(config.prompts)
    return prompts.build(question=p.question, subject=p.subject, subject_slug=p.subject_slug,
                         settings=prompt_settings(config), extra=extra)


def refusal(answer: str) -> bool:
    """A short answer that opens like a refusal is one, whatever the server said."""
    head = answer.strip().lower()
    return len(head) < 400 and head.startswith(_REFUSALS)


def content(config: Config, completion: Completion, question: str, subject: str) -> tuple[str, Seo, list[str]]:
    """The stored answer and the SEO fields from a model's reply, with a note for every change made."""
    if refusal(completion.answer):
        raise QtgenError(f"the model refused: {completion.answer.strip()[:120]}")
    markdown, replaced = fix_latex_n(completion.answer)
    answer = encode_answer(markdown)
    if not answer:
        raise QtgenError("the model's answer is empty")
    bounds = seo.Bounds(config.desc_min, config.desc_max, config.kw_min, config.kw_max)
    fields = seo.normalise(completion.page_description, completion.page_keywords, completion.answer,
                           subject, question, bounds)
    notes = list(completion.notes)
    if replaced:
        notes.append(f"answer: replaced {', '.join(sorted(set(replaced)))} (LaTeX starting with \\n breaks on the site)")
    page_seo = Seo(title=f"{config.site_name} | {subject}", page_description=fields.description,
                   page_keywords=fields.keywords)
    return answer, page_seo, notes + fields.notes


def compose(config: Config, p: Plan, completion: Completion, *, page_id: int, date: dt.date) -> tuple[Page, list[str]]:
    """The page from the plan and the model's reply."""
    answer, page_seo, notes = content(config, completion, p.question, p.subject)
    page = Page(
        id=page_id, date=date, title=p.question, article_title=p.question, seo=page_seo,
        author=config.author, question=p.question, answer=answer, subject=p.subject,
        file_name=p.file_name, url=p.url, score=-1.0, layout=Layout(title_style=FOLDED),
    )
    return page, notes


def check(config: Config, text: str, path: Path) -> list[Finding]:
    checker = Checker(config)
    checker.check_text(text, str(path), path=path)
    return checker.report.findings


def draft(config: Config, client: ChatClient, p: Plan, *, date: dt.date | None = None,
          page_id: int | None = None, force: bool = False, dry_run: bool = False,
          prompts: Prompts | None = None, index: "SiteIndex | None" = None, related: bool = True) -> DraftResult:
    """Ask the model for a planned question, build and validate the page, write it atomically (unless dry_run).

    Callers run `plan` (and `check_similar`, with an index) first, so bad input and near-duplicates
    are refused before any server is started or any request is sent.
    """
    prompt = build_prompt(config, p, prompts)
    completion = client.complete(prompt.messages())
    return finish(config, p, completion, date=date, page_id=page_id, force=force, dry_run=dry_run,
                  index=index, related=related)


def allocate_id(config: Config, p: Plan, index: "SiteIndex | None") -> int:
    """The page's id: the replaced draft's, or the one the site gives this question under every subject,
    else a new one above every id in use (reserved atomically when there is an index)."""
    if p.keep_id is not None:
        return p.keep_id
    if index is not None:
        known = index.id_of_question(p.file_name)
        return known if known is not None else index.reserve_id(f"{p.subject_slug}/{p.file_name}", config.id_start)
    known = _id_of_same_question(config, p.file_name)
    return known if known is not None else ids.next_id([config.content, config.drafts], config.id_start)


def related_articles(index: "SiteIndex", page: Page) -> list[RelatedArticle]:
    return [RelatedArticle(id=e.id, title=e.question, subject=e.subject, url=e.url)
            for e in index.related(page.question, page.subject, page.seo.page_keywords, page.file_name)]


def check_similar(index: "SiteIndex", p: Plan, threshold: float) -> None:
    """Refuse a question that a published or drafted page already asks in other words."""
    for match in index.similar(p.question, limit=1, threshold=threshold, exclude_file=p.file_name):
        e = match.entry
        raise QtgenError(f"question {p.question!r} is a near-duplicate ({match.score:.0f}/100) of {e.question!r} "
                         f"({e.subject}, {e.source}); use --allow-similar to draft it anyway")


def finish(config: Config, p: Plan, completion: Completion, *, date: dt.date | None = None,
           page_id: int | None = None, force: bool = False, dry_run: bool = False,
           index: "SiteIndex | None" = None, related: bool = True) -> DraftResult:
    """Turn a completion into a written draft; nothing is written unless it validates."""
    if page_id is None:
        page_id = allocate_id(config, p, index)
    page, notes = compose(config, p, completion, page_id=page_id, date=date or dt.date.today())
    if related and index is not None:
        arts = related_articles(index, page)
        page = page.with_related(arts)
        if not arts:
            notes.append("related: no published page on a close enough topic")
    text = render(page)
    findings = check(config, text, p.draft_path)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        first = errors[0]
        raise QtgenError(f"draft not written: {first.field}: {first.message}"
                         + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
    path = None
    if not dry_run:
        path = write_atomic(p.draft_path, text, overwrite=force and p.replaces_draft)
    return DraftResult(path, page, text, completion, notes, findings)
