"""The review queue: drafts are read, judged and then approved into the site's git repository,
rejected with a reason, regenerated with feedback or edited, each without losing a version."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import lint
from .config import Config
from .draft import content, published_path
from .errors import InputError, ParseError, QtgenError
from .page import Page, Seo
from .reader import read
from .slug import slug
from .text import clean_line, encode_answer
from .validate import Checker
from .writer import render, write_atomic

OK, WARNINGS, ERRORS = "ok", "warnings", "errors"
REJECTED = "rejected"


def history_dir(config: Config) -> Path:
    return config.drafts / ".qtgen" / "history"


def rejected_dir(config: Config) -> Path:
    return config.drafts / REJECTED


@dataclass
class Item:
    """One draft in the queue, with what a reviewer needs to decide."""

    path: Path
    page: Page | None
    status: str
    words: int = 0
    validation: list = field(default_factory=list)
    findings: list = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "error"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "error"])

    @property
    def warnings(self) -> list[str]:
        return ([f"{v.field}: {v.message}" for v in self.validation if v.level == "warning"]
                + [f"{f.rule} {f.name}: {f.message}" for f in self.findings if f.level == "warning"])

    def as_json(self) -> dict:
        p = self.page
        return {"path": str(self.path), "subject": p.subject if p else None, "question": p.question if p else None,
                "id": p.id if p else None, "words": self.words, "status": self.status,
                "errors": self.errors, "warnings": self.warnings}


def resolve(config: Config, name: str) -> Path:
    """A draft given as a path, a file name in the drafts folder, or a file name without `.md`."""
    for candidate in (Path(name), config.drafts / name, config.drafts / f"{name}.md"):
        if candidate.is_file():
            return candidate
    raise InputError(f"{name}: no such draft in {config.drafts}")


def assess(config: Config, path: Path, index=None) -> Item:
    """Validate and lint one draft."""
    checker = Checker(config)
    page = checker.check_file(path)
    validation = checker.report.findings
    findings = lint.lint_page(page, config, str(path), index) if page is not None else []
    item = Item(path, page, OK, lint.words(page) if page else 0, validation, findings)
    item.status = ERRORS if item.errors else WARNINGS if item.warnings else OK
    return item


def queue(config: Config, index=None, subject: str | None = None, status: str | None = None) -> list[Item]:
    """The drafts waiting for a decision (rejected ones and qtgen's own files excluded)."""
    items = []
    if not config.drafts.is_dir():
        return items
    for path in sorted(config.drafts.glob("*.md")):
        if path.name.startswith("."):
            continue
        item = assess(config, path, index)
        if subject and (item.page is None or slug(item.page.subject) != slug(subject)):
            continue
        if status and item.status != status:
            continue
        items.append(item)
    return items


# -- approve ------------------------------------------------------------------------------------
@dataclass
class Approval:
    placed: list[Path]
    commit: str | None
    message: str


def commit_message(pages: list[Page]) -> str:
    if len(pages) == 1:
        p = pages[0]
        return f"Publish: {p.question} ({p.subject})\n\nApproved with qtgen; id {p.id}, {p.url}\n"
    lines = [f"- {p.question} ({p.subject}, id {p.id})" for p in pages]
    return f"Publish {len(pages)} QuickTakes pages\n\nApproved with qtgen:\n" + "\n".join(lines) + "\n"


def approve(config: Config, paths: list[Path], *, index=None, allow_warnings: bool = False,
            commit: bool = True) -> Approval:
    """Validate, lint, place in the content tree and commit exactly these files, all or nothing.

    The drafts are removed only once the commit succeeded (or, with commit=False, the files are placed).
    """
    items = [assess(config, p, index) for p in paths]
    problems = []
    for item in items:
        if item.page is None or item.errors:
            problems.append(f"{item.path.name}: {item.errors[0] if item.errors else 'unreadable'}")
        elif item.warnings and not allow_warnings:
            problems.append(f"{item.path.name}: {len(item.warnings)} warning(s), first: {item.warnings[0]} "
                            "(use --allow-warnings)")
    if problems:
        raise QtgenError("not approved: " + "; ".join(problems))
    targets = []
    for item in items:
        page = item.page
        target = published_path(config, slug(page.subject, config.slug_style), page.file_name)
        if target.exists() or target in targets:
            raise QtgenError(f"not approved: {target} already exists")
        if index is not None:
            for e in index.entries():
                if e.source == "content" and e.id == page.id and e.file_name != page.file_name:
                    raise QtgenError(f"not approved: {item.path.name}: id {page.id} is already used by {e.path}")
        targets.append(target)
    repo = None
    if commit:
        from . import gitrepo

        repo = gitrepo.toplevel(config.content)
    placed: list[Path] = []
    try:
        for item, target in zip(items, targets):
            write_atomic(target, item.path.read_text(encoding="utf-8"))
            placed.append(target)
        sha = None
        message = commit_message([i.page for i in items])
        if commit:
            sha = gitrepo.commit_only(repo, placed, message)
    except BaseException:
        for target in placed:  # all or nothing: the drafts stay, the content tree is as it was
            if repo is not None:
                gitrepo.unstage(repo, [target])
            target.unlink(missing_ok=True)
        raise
    for item in items:
        item.path.unlink()
        (history_dir(config) / item.path.name).unlink(missing_ok=True)
    return Approval(placed, sha, message)


# -- reject -------------------------------------------------------------------------------------
def reject(config: Config, path: Path, reason: str) -> Path:
    """Move a draft to drafts/rejected/ and keep the reason beside it (never in the page itself)."""
    reason = clean_line(reason or "")
    if not reason:
        raise InputError("--reason: give the reason for rejecting")
    try:
        page = read(path)
        about = {"question": page.question, "subject": page.subject, "id": page.id}
    except ParseError:
        about = {}
    folder = rejected_dir(config)
    target = folder / path.name
    write_atomic(target, path.read_text(encoding="utf-8"), overwrite=True)
    note = {"reason": reason, "rejected": dt.datetime.now().isoformat(timespec="seconds"), **about}
    write_atomic(folder / f"{path.name}.reason.json", json.dumps(note, indent=1, ensure_ascii=False) + "\n",
                 overwrite=True)
    path.unlink()
    return target


def rejection(config: Config, file_name: str, subject_slug: str) -> str | None:
    """The reason a question was rejected for this subject, if it was."""
    note = rejected_dir(config) / f"{file_name}.reason.json"
    try:
        data = json.loads(note.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if slug(str(data.get("subject", ""))) not in ("", subject_slug):
        return None
    return str(data.get("reason") or "no reason given")


# -- regenerate, diff ---------------------------------------------------------------------------
def keep_previous(config: Config, path: Path) -> Path:
    """Save the current version of a draft so that `qtgen diff` can show what changed."""
    target = history_dir(config) / path.name
    write_atomic(target, path.read_text(encoding="utf-8"), overwrite=True)
    return target


def readable(page: Page) -> list[str]:
    """A page as lines a reviewer can compare: the SEO fields, then the decoded answer."""
    return [f"description: {page.seo.page_description}", f"keywords: {page.seo.page_keywords}", "",
            *page.decoded_answer().split("\n")]


def diff(config: Config, path: Path) -> str:
    previous = history_dir(config) / path.name
    if not previous.is_file():
        raise QtgenError(f"{path.name}: no previous version (made by regenerate or edit)")
    old, new = read(previous), read(path)
    lines = difflib.unified_diff(readable(old), readable(new), f"{path.name} (previous)", f"{path.name}", lineterm="")
    return "\n".join(lines)


def regenerated(config: Config, page: Page, completion) -> tuple[Page, list[str]]:
    """The page with the model's new answer and SEO fields; id, slug, date and related articles kept."""
    answer, page_seo, notes = content(config, completion, page.question, page.subject)
    return page.model_copy(update={"answer": answer, "seo": page_seo.model_copy(update={"title": page.seo.title})}), notes


# -- edit ---------------------------------------------------------------------------------------
EDIT_HEADER = ("# Edit the description, keywords and answer; lines starting with # are ignored.\n"
               "# The answer is Markdown below the --- line. Save and close to apply; empty the file to cancel.\n")


def to_editable(page: Page) -> str:
    return (EDIT_HEADER + f"description: {page.seo.page_description}\nkeywords: {page.seo.page_keywords}\n---\n"
            + page.decoded_answer() + "\n")


_FIELD = re.compile(r"^(description|keywords):\s*(.*)$")


def from_editable(page: Page, text: str) -> Page | None:
    """The page with the edited fields; None if the file was emptied (cancel)."""
    if not text.strip():
        return None
    head, sep, body = text.partition("\n---\n")
    if not sep:
        raise InputError("edit: the '---' line between the fields and the answer is missing; nothing saved")
    values = {}
    for line in head.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = _FIELD.match(line)
        if not m:
            raise InputError(f"edit: unexpected line {line[:60]!r}; nothing saved")
        values[m.group(1)] = clean_line(m.group(2))
    answer = encode_answer(body)
    if not answer:
        raise InputError("edit: the answer is empty; nothing saved")
    seo_fields = Seo(title=page.seo.title, page_description=values.get("description", page.seo.page_description),
                     page_keywords=values.get("keywords", page.seo.page_keywords))
    return page.model_copy(update={"answer": answer, "seo": seo_fields})


def save_checked(config: Config, path: Path, page: Page) -> list:
    """Write a changed draft only if it validates; the previous version is kept for diff."""
    text = render(page)
    checker = Checker(config)
    checker.check_text(text, str(path), path=path)
    errors = [f for f in checker.report.findings if f.level == "error"]
    if errors:
        raise QtgenError(f"not saved: {errors[0].field}: {errors[0].message}")
    keep_previous(config, path)
    write_atomic(path, text, overwrite=True)
    return checker.report.findings




def env_editor() -> list[str]:
    import shlex

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)
