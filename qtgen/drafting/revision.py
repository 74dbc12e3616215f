"""Revising published pages through the same review as new ones: a model (or an exact repair) proposes,
a person reviews, git records.

    from qtgen.drafting import revision as revise
    revise.copy(config, [Path("content/learn")], rules=["QT004"])   # revisions to edit, chosen by lint

A revision is a draft at `drafts/<subject-slug>/<file_name>` marked as revising a published file, with
the sha256 of the bytes it was taken from (`drafts/.qtgen/revisions/`). It keeps everything that
identifies the page (id, subject, question, slug, url, file_name, title, article_title, seo.title,
date, related articles, score, no_index and the layout); only the answer and the SEO description and
keywords change. `approve` replaces the published file in place, refusing if it changed meanwhile.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import InputError, ParseError, QtgenError
from ..format import seo
from ..format.files import expand, inside, write_atomic
from ..format.page import Page
from ..format.reader import parse, read
from ..format.slug import slug
from ..format.text import fix_latex_n, in_stored_math
from ..format.writer import render
from ..llm.reply.reader import Completion
from ..llm.prompts import Prompt, Prompts
from ..site.sitemath import escape_currency
from ..checks import lint
from .drafter import page_content, prompt_settings
from ..drafts.folder import DraftStore, Revision

FIXABLE = {"QT006": "latex-backslash-n", "QT012": "currency-as-math", "QT009": "description-bounds",
           "keywords": "duplicate keywords"}


IDENTITY = ("id", "subject", "question", "file_name", "url", "title", "article_title", "date", "no_index", "score",
            *(f"related_article{n}" for n in range(1, 6)), "author", "schema_")


def identity_changes(published: Path, revision: Page, data: bytes | None = None,
                     may_mark_no_index: bool = False) -> list[str]:
    """The identifying fields a revision changed from its published page (seo.title included); with the
    revision's bytes, also its layout: every byte but the answer, description and keywords must stay
    (`may_mark_no_index`: a duplicate's revision may also set no_index to True, and nothing else)."""
    try:
        original = read(published)
    except ParseError:
        return []
    if may_mark_no_index and revision.no_index is True:
        original = original.model_copy(update={"no_index": True})
    changed = [k for k in IDENTITY if getattr(original, k) != getattr(revision, k)]
    if original.seo.title != revision.seo.title:
        changed.append("seo.title")
    if data is not None and not changed:
        kept = original.model_copy(update={"answer": revision.answer, "seo": original.seo.model_copy(
            update={"page_description": revision.seo.page_description, "page_keywords": revision.seo.page_keywords})})
        if render(kept).encode("utf-8") != data:
            changed.append("layout (the YAML form of the fields it keeps)")
    return changed


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def published_pages(config: Config, paths: list[Path]) -> list[Path]:
    """The published page files named (folders expanded); InputError for anything outside the content tree."""
    config.require_site("revise and fix work on published pages, but there is")
    out = []
    for path in expand(paths):
        if not inside(path, config.content):
            raise InputError(f"{path}: not a published page (not inside {config.content})")
        if not path.is_file() or path.is_symlink():
            raise InputError(f"{path}: not a page file")
        out.append(path)
    return out


@dataclass
class Candidate:
    path: Path
    page: Page
    findings: list = field(default_factory=list)
    chosen_for: list = field(default_factory=list)  # the findings that selected it (with --rule)

    @property
    def reason(self) -> str:
        shown = self.chosen_for or [f for f in self.findings if f.level == lint.ERROR]
        return ", ".join(dict.fromkeys(f"{f.rule} {f.name}" for f in shown))


def choose(config: Config, paths: list[Path], rules: list[str] | None = None, limit: int | None = None,
           index=None, skipped: list[str] | None = None) -> list[Candidate]:
    """The published pages to revise: all named, or (with rules) those lint flags for those rules."""
    return list(candidates(config, paths, rules, limit, index, skipped))


def candidates(config: Config, paths: list[Path], rules: list[str] | None = None, limit: int | None = None,
               index=None, skipped: list[str] | None = None):
    """`choose`, one page at a time: a caller that needs fewer stops reading (and linting) the rest."""
    wanted = {r.upper() if r.upper().startswith("QT") else r for r in (rules or [])}
    known = {r.id for r in lint.RULES + [lint.DUPLICATE]} | {r.name for r in lint.RULES + [lint.DUPLICATE]}
    unknown = wanted - known
    if unknown:
        raise InputError(f"--rule {sorted(unknown)[0]}: no such lint rule (see qtgen lint --help)")
    found = 0
    for path in published_pages(config, paths):
        try:
            page = read(path)
        except ParseError as exc:
            if skipped is not None:
                skipped.append(f"skipped {exc}")
                continue
            raise InputError(str(exc)) from None
        waiting = config.drafts / slug(page.subject, config.slug_style) / page.file_name
        if skipped is not None and waiting.exists():
            skipped.append(f"skipped {path}: a draft or revision of it is already waiting ({waiting})")
            continue
        findings = lint.lint_page(page, config, str(path), index)
        hits = [f for f in findings if f.rule in wanted or f.name in wanted]
        if wanted and not hits:
            continue
        yield Candidate(path, page, findings, hits)
        found += 1
        if limit is not None and found >= limit:
            return


def place(config: Config, store: DraftStore, page: Page) -> Path:
    draft = store.path_for(slug(page.subject, config.slug_style), page.file_name)
    if draft.exists():
        raise QtgenError(f"{draft}: a draft or revision of this page is already waiting; review it first")
    return draft


def start(config: Config, candidate: Candidate, text: str, *, made_by: str, source_sha: str | None = None,
          reason: str | None = None, rules: list[str] | None = None, provenance: dict | None = None) -> Path:
    """Put a revision of a published page in the review queue (the draft, its first version, its mark)."""
    store = DraftStore(config, migrate=False)
    draft = place(config, store, candidate.page)
    write_atomic(draft, text)
    store.history(draft).record(text, made_by, provenance=provenance)
    store.mark_revision(draft, Revision(candidate.path.resolve(), source_sha or sha256_of(candidate.path),
                                        candidate.reason if reason is None else reason,
                                        [f.rule for f in candidate.chosen_for] if rules is None else rules,
                                        made_by=made_by))
    return draft


def copy(config: Config, paths: list[Path], rules: list[str] | None = None, limit: int | None = None,
         index=None, skipped: list[str] | None = None) -> list[Path]:
    """Revisions that start as the published text, byte for byte, to be edited (pages already waiting,
    or unreadable, are skipped and said in `skipped`)."""
    from ..drafts.queue import remember

    DraftStore(config)
    made = [start(config, c, c.path.read_text(encoding="utf-8"), made_by="revise (published text)")
            for c in choose(config, paths, rules, limit, index, skipped)]
    remember(config, made)  # the queue's first listing reads what was found
    return made


# -- exact repairs ----------------------------------------------------------------------------------
def _fix_stored_latex(answer: str) -> tuple[str, list[str]]:
    """LaTeX commands starting with \\n inside math of a stored answer (where the site decodes \\n)."""
    replaced: list[str] = []

    def fix(m: re.Match) -> str:
        text, found = fix_latex_n(m.group(0))
        replaced.extend(found)
        return text

    return in_stored_math(answer, fix), replaced


@dataclass
class Repair:
    page: Page
    changes: list[str]


def repaired(config: Config, page: Page, rules: list[str] | None = None) -> Repair:
    """The page with the exact repairs applied (only those of `rules`, when given: each repairs only what it
    names): currency dollars escaped (QT012), \\n-commands replaced by the symbols KaTeX renders the same (QT006),
    an over-long description cut to end a sentence or a clause, or replaced by the answer's own sentences (QT009),
    keywords deduplicated (QT010)."""
    def wanted(rule: str) -> bool:
        return not rules or rule in rules

    changes = []
    answer = page.answer
    if wanted("QT006"):
        answer, replaced = _fix_stored_latex(page.answer)
        if replaced:
            changes.append(f"QT006: replaced {', '.join(sorted(set(replaced)))} in math")
    decoded = answer.replace("\\n", "\n")
    if wanted("QT012"):
        escaped, dollars = escape_currency(decoded)
        if dollars:
            answer = escaped.replace("\n", "\\n")
            changes.append(f"QT012: escaped {dollars} dollar sign(s) as \\$")
    description = page.seo.page_description
    if wanted("QT009") and len(description) > config.desc_max:
        bounds = seo.Bounds(config.desc_min, config.desc_max)
        description = seo.shortened(description, decoded, bounds)
        if description.endswith("…"):  # never a snippet cut mid-phrase: whole sentences of the answer, or none
            description = seo.whole_sentences(decoded, bounds, page.question) or page.seo.page_description
        if description != page.seo.page_description:
            changes.append(f"QT009: description cut from {len(page.seo.page_description)} to {len(description)} "
                           "characters")
    terms = [t.strip() for t in re.split(r",\s+|,(?![^\s\d])", page.seo.page_keywords) if t.strip()]
    unique = seo.dedupe(terms)
    keywords = page.seo.page_keywords
    if (not rules or {"QT010", "keywords"} & set(rules)) and len(unique) != len(terms):
        keywords = ", ".join(unique)
        changes.append(f"keywords: removed {len(terms) - len(unique)} repeated keyword(s)")
    new = page.model_copy(update={"answer": answer, "seo": page.seo.model_copy(
        update={"page_description": description, "page_keywords": keywords})})
    return Repair(new, changes)


@dataclass
class Fix:
    published: Path
    changes: list[str]
    diff: str
    draft: Path | None = None


def readable(page: Page) -> list[str]:
    """What a reviewer compares between versions: no_index (when set), description, keywords and the answer."""
    marked = [f"no_index: {page.no_index} (search engines are asked not to index the page)"] if page.no_index else []
    return [*marked, f"description: {page.seo.page_description}", f"keywords: {page.seo.page_keywords}", "",
            *page.decoded_answer().split("\n")]


def fix(config: Config, paths: list[Path], *, rules: list[str] | None = None, limit: int | None = None,
        dry_run: bool = False, skipped: list[str] | None = None) -> list[Fix]:
    """Exact repairs of published pages, as revisions a person still approves (`dry_run`: only the diffs)."""
    if not dry_run:
        DraftStore(config)
    out = []
    for candidate in candidates(config, paths, rules, None, skipped=skipped if skipped is not None else []):
        repair = repaired(config, candidate.page, rules)
        if not repair.changes:
            continue
        name = str(candidate.path)
        diff = "\n".join(difflib.unified_diff(readable(candidate.page), readable(repair.page), f"{name} (published)",
                                              f"{name} (fixed)", lineterm=""))
        result = Fix(candidate.path, repair.changes, diff)
        if not dry_run:
            candidate.chosen_for = candidate.chosen_for or [f for f in candidate.findings if f.rule in FIXABLE]
            result.draft = start(config, candidate, render(repair.page), made_by="fix: " + "; ".join(repair.changes))
        out.append(result)
        if limit is not None and len(out) >= limit:
            break
    if not dry_run:
        from ..drafts.queue import remember

        remember(config, [f.draft for f in out if f.draft is not None])  # the queue's first listing reads them
    return out


# -- with a model -----------------------------------------------------------------------------------
def revise_prompt(config: Config, page: Page, findings: list, feedback: str | None = None,
                  strategy: dict | None = None) -> Prompt:
    return Prompts(config.prompts).build(
        question=page.question, subject=page.subject, subject_slug=slug(page.subject, config.slug_style),
        settings=prompt_settings(config), user_template="revise.j2",
        extra={"findings": [f"{f.rule} {f.name}: {f.message}" for f in findings], "feedback": feedback or "",
               "current_answer": page.decoded_answer(), **(strategy or {})})


def revised(config: Config, page: Page, completion: Completion) -> tuple[Page, list[str]]:
    """The page with the model's answer, description and keywords; every identifying byte kept."""
    answer, page_seo, notes = page_content(config, completion, page.question, page.subject)
    return page.model_copy(update={"answer": answer, "seo": page_seo.model_copy(update={"title": page.seo.title})}), notes


def published_diff(config: Config, draft: Path, revision: Revision) -> str:
    """A revision against the published page it revises."""
    try:
        published = parse(revision.published.read_text(encoding="utf-8"))
    except (OSError, ParseError) as exc:
        raise QtgenError(f"{revision.published}: cannot read the published page ({exc})") from None
    lines = difflib.unified_diff(readable(published), readable(read(draft)), f"{revision.published} (published)",
                                 f"{draft.name} (revision)", lineterm="")
    return "\n".join(lines)
