"""Drafting: one question in, one validated site-exact page file out (the library API of `qtgen draft`).

    from qtgen import draft
    result = draft.draft_question(config, "What is entropy?", "Physics")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import InputError, ParseError, QtgenError
from ..format import seo, slug
from ..format.files import inside, write_atomic
from ..format.page import FOLDED, Layout, Page, Seo
from ..format.reader import read
from ..format.text import encode_answer, fix_latex_n, normalise_question, normalise_subject
from ..format.validate import Checker, Violation
from ..format.writer import render
from ..llm.client import ChatClient
from ..llm.reply.reader import Completion
from ..llm.reply.usage import Usage
from ..llm.prompts import Prompt, Prompts
from ..site.index import SiteIndex
from ..site.related import related_articles
from ..site.sitemath import escape_currency
from ..drafts.folder import DraftStore

MAX_FILE_NAME = 255  # bytes: what Linux, macOS and Windows filesystems allow for one name
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

    @property
    def key(self) -> str:
        """`subject-slug/file_name`: the draft's place below the drafts folder, and its id reservation."""
        return f"{self.subject_slug}/{self.file_name}"


@dataclass
class DraftResult:
    path: Path | None
    page: Page
    text: str
    completion: Completion
    notes: list[str] = field(default_factory=list)
    findings: list[Violation] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # warnings for the user (a subject new to the site)

    @property
    def warnings(self) -> list[Violation]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def errors(self) -> list[Violation]:
        """What still fails validation: the draft is written all the same, for a reviewer to fix or reject."""
        return [f for f in self.findings if f.level == "error"]


def published_path(config: Config, subject_slug: str, file_name: str) -> Path:
    """Where a page is published; QtgenError if that lies outside the content tree."""
    if not slug.names_something(subject_slug) or not slug.names_something(file_name.removesuffix(".md")):
        raise QtgenError(f"{subject_slug!r}/{file_name!r}: a page needs a subject folder and a file name", 2)
    target = config.content / config.content_pattern.format(subject_slug=subject_slug, file_name=file_name)
    if not inside(target, config.content):
        raise QtgenError(f"{target}: outside the content tree {config.content}; nothing written", 2)
    return target


def plan(config: Config, question: str, subject: str, *, force: bool = False) -> Plan:
    """Normalise the input, derive names and check for collisions; raises before any request."""
    q = normalise_question(question)
    s = normalise_subject(subject)
    style = config.slug_style
    q_slug, s_slug = slug.slug(q, style), slug.slug(s, style)
    if not slug.names_something(q_slug):
        raise QtgenError(f"question {q!r}: has no letters or digits to build a file name from"
                         + ("; slug_style = \"slugify\" transliterates other scripts" if style == "site" else ""), 2)
    if not slug.names_something(s_slug):
        raise QtgenError(f"subject {s!r}: has no letters or digits to build a folder name from"
                         + ("; slug_style = \"slugify\" transliterates other scripts" if style == "site" else ""), 2)
    file_name = q_slug + ".md"
    if len(file_name.encode()) > MAX_FILE_NAME:
        raise QtgenError(f"question {q[:60]!r}...: its file name would be {len(file_name.encode())} bytes, over the "
                         f"{MAX_FILE_NAME} a filesystem allows; shorten the question", 2)
    store = DraftStore(config, migrate=False)
    p = Plan(
        question=q, subject=s, subject_slug=s_slug, file_name=file_name,
        url=config.url_pattern.format(subject_slug=s_slug, slug=q_slug),
        draft_path=store.path_for(s_slug, file_name),
        published_path=published_path(config, s_slug, file_name),
    )
    if p.draft_path.exists():
        if not force:
            raise QtgenError(f"{p.draft_path}: a draft of this question already exists; not overwritten "
                             "(use --force to replace it)")
        existing = _read_or_none(p.draft_path)
        p.replaces_draft = True
        p.keep_id = existing.id if existing is not None else None
    if p.published_path.exists() and not force:
        raise QtgenError(f"{p.published_path}: already published under {s!r} (use --force to draft a replacement)")
    if not force:
        reason = store.rejection(s_slug, file_name)
        if reason is not None:
            raise QtgenError(f"question {q!r} was rejected for {s!r}: {reason} (use --force to draft it again)")
    return p


def _read_or_none(path: Path) -> Page | None:
    try:
        return read(path)
    except ParseError:
        return None


def prompt_settings(config: Config) -> dict:
    return {
        "site_name": config.site_name,
        "desc_min": config.desc_min,
        "desc_max": config.desc_max,
        "kw_min": config.kw_min,
        "kw_max": config.kw_max,
    }


def build_prompt(config: Config, p: Plan, prompts: Prompts | None = None, *, user_template: str | None = None,
                 **extra) -> Prompt:
    prompts = prompts or Prompts(config.prompts)
    kwargs = {"user_template": user_template} if user_template else {}
    return prompts.build(question=p.question, subject=p.subject, subject_slug=p.subject_slug,
                         settings=prompt_settings(config), extra=extra, **kwargs)


def strategy(client: ChatClient) -> dict:
    """Prompt variables for how this server drafts: one JSON reply, or plain Markdown (small models)."""
    out: dict = {"structured": client.settings.structured, "parts": False}
    if client.settings.words:
        out["words_min"], out["words_max"] = client.settings.words
    return out


PARTS = ("part_paragraph.j2", "part_points.j2", "part_summary.j2")


def ask(config: Config, client: ChatClient, p: Plan, prompts: Prompts | None = None, meter=None) -> Completion:
    """The model's answer for a planned question: one request, or, for a small model, three short ones
    (a paragraph, three key points, a summary) joined in the house style. Every attempt counts on `meter`
    (a qtgen.llm.pricing.Meter, which refuses an attempt that could pass its cap)."""
    from . import records

    if not client.settings.parts:
        prompt = build_prompt(config, p, prompts, **strategy(client))
        completion = client.complete(prompt.messages(), meter=meter)
        completion.provenance = records.of_completion(config, client.settings, completion,
                                                         records.of_prompts(config, [prompt]), "online")
        return completion
    prompts = prompts or Prompts(config.prompts)
    built = [build_prompt(config, p, prompts, user_template=name, structured=False, parts=True) for name in PARTS]
    pieces = [client.complete(prompt.messages(), meter=meter) for prompt in built]
    first = pieces[0]
    usage = sum((c.usage for c in pieces), Usage())
    notes = [n for c in pieces for n in c.notes]
    answer = "\n\n".join(c.answer.strip() for c in pieces if c.answer.strip())
    completion = Completion(answer, None, None, first.model, "parts", usage, attempts=sum(c.attempts for c in pieces),
                            latency=sum(c.latency for c in pieces), notes=notes)
    completion.provenance = records.of_completion(config, client.settings, completion,
                                                     records.of_prompts(config, built), "online")
    return completion


def refusal(answer: str) -> bool:
    """A short answer that opens like a refusal is one, whatever the server said."""
    head = answer.strip().lower()
    return len(head) < 400 and head.startswith(_REFUSALS)


def page_content(config: Config, completion: Completion, question: str, subject: str) -> tuple[str, Seo, list[str]]:
    """The stored answer and the SEO fields from a model's reply, with a note for every change made."""
    if refusal(completion.answer):
        raise QtgenError(f"the model refused: {completion.answer.strip()[:120]}")
    markdown, replaced = fix_latex_n(completion.answer)
    markdown, dollars = escape_currency(markdown)
    answer = encode_answer(markdown)
    if not answer:
        raise QtgenError("the model's answer is empty")
    bounds = seo.Bounds(config.desc_min, config.desc_max, config.kw_min, config.kw_max)
    fields = seo.normalise(completion.page_description, completion.page_keywords, completion.answer,
                           subject, question, bounds)
    notes = list(completion.notes)
    if replaced:
        notes.append(f"answer: replaced {', '.join(sorted(set(replaced)))} (LaTeX starting with \\n breaks on the site)")
    if dollars:
        notes.append(f"answer: escaped {dollars} dollar sign(s) as \\$ (the site would typeset the amounts as math)")
    page_seo = Seo(title=f"{config.site_name} | {subject}", page_description=fields.description,
                   page_keywords=fields.keywords)
    return answer, page_seo, notes + fields.notes


def compose(config: Config, p: Plan, completion: Completion, *, page_id: int, date: dt.date) -> tuple[Page, list[str]]:
    """The page from the plan and the model's reply."""
    answer, page_seo, notes = page_content(config, completion, p.question, p.subject)
    page = Page(
        id=page_id, date=date, title=p.question, article_title=p.question, seo=page_seo,
        author=config.author, question=p.question, answer=answer, subject=p.subject,
        file_name=p.file_name, url=p.url, score=-1.0, layout=Layout(title_style=FOLDED),
    )
    return page, notes


def check(config: Config, text: str, path: Path) -> list[Violation]:
    checker = Checker(config)
    checker.check_text(text, str(path), path=path)
    return checker.report.findings


def allocate_id(config: Config, p: Plan, index: SiteIndex, page_id: int | None = None, *, dry_run: bool = False) -> int:
    """The page's id, reserved for its key so no other page can get it.

    An id given by hand is claimed (refused if another question holds it); else the replaced
    draft's, or the one the site gives this question under every subject, or a new one above every
    id in use. A dry run reserves nothing.
    """
    if page_id is not None:
        return page_id if dry_run else index.claim_id(p.key, page_id, p.question)
    if p.keep_id is not None:
        return p.keep_id if dry_run else index.claim_id(p.key, p.keep_id, p.question)
    known = index.id_of_question(p.question, p.file_name)
    if known is not None:
        return known
    return index.peek_id(config.id_start) if dry_run else index.reserve_id(p.key, config.id_start, p.question)


def check_similar(index: SiteIndex, p: Plan, threshold: float, check=None) -> None:
    """Refuse a question that a published or drafted page already asks in other words (`check`: a
    DuplicateCheck, whose model has the last word on scores in its uncertain band)."""
    floor = check.floor if check is not None else threshold
    for match in index.similar(p.question, limit=5, threshold=floor, exclude_file=p.file_name):
        e = match.entry
        same = check.same(p.question, e.question, match.score) if check is not None else True
        if not same:
            continue
        judged = " (the model: the same question)" if match.score < threshold else ""
        raise QtgenError(f"question {p.question!r} is a near-duplicate ({match.score:.0f}/100{judged}) of "
                         f"{e.question!r} ({e.subject}, {e.source} {e.path}); use --allow-similar to draft it anyway")


def write_draft(config: Config, p: Plan, completion: Completion, index: SiteIndex, *, date: dt.date | None = None,
                page_id: int | None = None, force: bool = False, dry_run: bool = False,
                related: bool = True) -> DraftResult:
    """Turn a completion into a written draft. One that does not validate is written all the same, with its
    errors (`DraftResult.errors`), for a reviewer to fix or reject: a paid answer is never thrown away
    because a field qtgen derives from it is out of bounds (derived fields are repaired first)."""
    page_id = allocate_id(config, p, index, page_id, dry_run=dry_run)
    page, notes = compose(config, p, completion, page_id=page_id, date=date or dt.date.today())
    if related:
        arts = related_articles(index, page)
        page = page.with_related(arts)
        if not arts:
            notes.append("related: no published page on a close enough topic")
    text = render(page)
    findings = check(config, text, p.draft_path)
    path = None
    if not dry_run:
        if force and p.replaces_draft:
            DraftStore(config, migrate=False).history(p.draft_path).save(text, "draft --force",
                                                                         provenance=completion.provenance)
            path = p.draft_path
        else:
            path = write_atomic(p.draft_path, text)
            DraftStore(config, migrate=False).history(path).record(  # version 1, as the model wrote it
                text, "draft", provenance=completion.provenance)
    return DraftResult(path, page, text, completion, notes, findings)


def draft(config: Config, client: ChatClient, p: Plan, index: SiteIndex, *, date: dt.date | None = None,
          page_id: int | None = None, force: bool = False, dry_run: bool = False,
          prompts: Prompts | None = None, related: bool = True) -> DraftResult:
    """Ask the model for a planned question, build and validate the page, write it atomically (unless dry_run).

    Callers run `plan` (and `check_similar`) first, so bad input and near-duplicates are refused
    before any server is started or any request is sent.
    """
    completion = ask(config, client, p, prompts)
    return write_draft(config, p, completion, index, date=date, page_id=page_id, force=force, dry_run=dry_run,
                       related=related)


def site_subject(index: SiteIndex, subject: str, new_subject: bool = False) -> tuple[str, list[str]]:
    """The subject as the site spells it, and warnings: a case-only variant takes the site's spelling
    ("Computer science" -> "Computer Science"); a subject the site does not have is refused (InputError naming
    the closest ones) unless `new_subject`. A site with no pages yet takes any subject."""
    from rapidfuzz import fuzz, process

    s = normalise_subject(subject)
    known = sorted({e.subject for e in index.entries() if e.source == "content" and e.subject})
    if not known or s in known or new_subject:
        return s, []
    folder = s.casefold()  # typed as the site's folder: "accounting-and-finance"
    same = [k for k in known if k.casefold() == s.casefold() or slug.site_slug(k) == slug.site_slug(s)
            or slug.site_slug(k) == folder or k.casefold().replace(" ", "-") == folder]
    if same:
        return same[0], [f"subject {s!r} is written {same[0]!r}, as the site spells it (--new-subject keeps yours)"]
    closest = [k for k, score, _ in process.extract(s, known, scorer=fuzz.WRatio, limit=3, score_cutoff=50)]
    hint = f"; the closest: {', '.join(closest)}" if closest else ""
    raise InputError(f"subject {s!r}: the site has no such subject{hint} (--new-subject starts a new one)")


def draft_question(config: Config, question: str, subject: str, *, date: dt.date | None = None,
                   page_id: int | None = None, force: bool = False, dry_run: bool = False, related: bool = True,
                   allow_similar: bool = False, new_subject: bool = False, notify: Callable[[str], None] = lambda m: None,
                   on_wait: Callable[[float, Exception], None] | None = None) -> DraftResult:
    """The whole of `qtgen draft`: plan, refuse near-duplicates, start the model, draft, write."""
    from ..llm.backend import open_client
    from ..site.index import open_index

    DraftStore(config)  # an older flat drafts folder is migrated before anything looks at it
    plan(config, question, subject, force=force)  # bad input fails before any server starts
    with open_index(config, create=not dry_run) as index:  # a dry run writes nothing, not even the index
        subject, alerts = site_subject(index, subject, new_subject)
        p = plan(config, question, subject, force=force)
        if not allow_similar:
            from .near_duplicates import DuplicateCheck

            check = DuplicateCheck.open(config)
            try:
                check_similar(index, p, config.similar_threshold, check)
            finally:
                if check.summary():
                    notify(check.summary())
                check.close()
        if page_id is not None and not dry_run:
            index.claim_id(p.key, page_id, p.question)  # an id another question holds is refused before any request
        with open_client(config, notify=notify, on_wait=on_wait) as client:
            result = draft(config, client, p, index, date=date, page_id=page_id, force=force, dry_run=dry_run,
                           related=related)
    result.alerts = alerts
    return result
