"""What git says made each published page: the trailers of the approve commit, written and read back.

A version's record (`records`) is carried into the approve commit as git trailers, so that it survives publishing (the
page format is the site's and stays byte-exact). In the commit, one block per page (`Qtgen-Page:` first):

    Qtgen-Page: economics/what-is-a-tariff.md
    Qtgen-Model: gpt-4o-mini-2024-07-18 (api.openai.com, online)
    Qtgen-Prompt: 3f9c0a1b2c4d (system.j2, user.j2)
    Qtgen-Judge: pass 94 (gpt-4o)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import QtgenError
from ..drafting.records import HEX as _HEX, describe, safe_model  # noqa: F401 - describe: shown beside what git says

PAGE, MODEL, PROMPT, JUDGE = "Qtgen-Page", "Qtgen-Model", "Qtgen-Prompt", "Qtgen-Judge"
BYTES = "Qtgen-Bytes"  # the sha256 of the bytes approved: a page edited by hand since no longer has them
_TRAILER = re.compile(r"^(Qtgen-[A-Za-z]+): (.*)$")


def of_versions(config: Config, versions: list) -> list[dict | None]:
    """Each version's record, with the judge's grade of that exact version where there is one."""
    from ..judging.judge import JudgmentStore

    shas = [hashlib.sha256(v.path.read_bytes()).hexdigest() if v.path.is_file() else "" for v in versions]
    grades: dict[str, dict] = {}
    if JudgmentStore.exists(config):
        store = JudgmentStore(config)
        try:
            grades = store.by_bytes([s for s in shas if s])
        finally:
            store.close()
    out = []
    for version, sha in zip(versions, shas):
        record = dict(version.provenance) if version.provenance else None
        grade = grades.get(sha)
        if grade is not None:
            record = record or {}
            record["judge"] = {"verdict": grade["verdict"], "score": grade["score"], "model": grade["model"]}
        out.append(record)
    return out


# -- in commits ---------------------------------------------------------------------------------------
def trailers(page_name: str, record: dict | None, judgment=None, data: bytes | None = None) -> list[str]:
    """A page's block of trailers for the approve commit: every value on one line (no line break of any kind, no
    control character), so no value can forge another trailer."""
    lines = [f"{PAGE}: {_clean(page_name)}"]
    if record and record.get("model"):
        edited = ", edited" if record.get("edited") else ""  # a reviewer changed what the model wrote
        lines.append(f"{MODEL}: {safe_model(record['model'], '?')} ({_clean(record.get('server') or '?')}, "
                     f"{_clean(record.get('lane') or '?')}{edited})")
    if record and record.get("prompt") and _HEX.fullmatch(str(record["prompt"])):
        lines.append(f"{PROMPT}: {record['prompt']} ({_clean(', '.join(map(str, record.get('templates') or [])))})")
    if judgment is not None:
        lines.append(f"{JUDGE}: {judgment.verdict} {judgment.score} ({_clean(judgment.model)})")
    if data is not None:
        lines.append(f"{BYTES}: {hashlib.sha256(data).hexdigest()}")
    return lines


def _clean(text: str) -> str:
    from ..format.plaintext import one_line

    return one_line(text)[:200]


@dataclass
class Made:
    """What git says made a published page: the last approve commit with a block for it."""

    page: str  # relative to the content tree
    commit: str | None = None
    date: str | None = None
    model: str | None = None
    server: str | None = None
    lane: str | None = None
    prompt: str | None = None
    templates: str | None = None
    judge: str | None = None
    bytes_sha: str | None = None  # of the bytes approved (commits before Qtgen-Bytes: found from git's tree)
    edited: bool | None = None  # the page's bytes are no longer those approved (None: not checked)
    reviewed_by: str | None = None  # who approved it (the commit's Reviewed-by: trailer)

    @property
    def known(self) -> bool:
        return self.commit is not None

    def as_json(self) -> dict:
        return {"page": self.page, "known": self.known, "commit": self.commit, "date": self.date, "model": self.model,
                "server": self.server, "lane": self.lane, "prompt": self.prompt, "templates": self.templates,
                "judge": self.judge, "edited_since": self.edited, "reviewed_by": self.reviewed_by}


_MODEL = re.compile(r"^([\w.:/@+-]{1,100}) \(([^,()]{1,200}), ([^()]{1,200})\)$")
_PROMPT = re.compile(r"^([0-9a-f]{4,64})(?: \(([^()]{0,200})\))?$")
_JUDGE_VALUE = re.compile(r"^(pass|revise|reject) \d{1,3} \([^()]{1,200}\)$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_REVIEWED = re.compile(r"^Reviewed-by: ([^<>\n]{1,100}(?: <[^<>\s]{1,120}>)?)$", re.M)


def reviewer_of(message: str) -> str | None:
    """Who approved, from a commit's `Reviewed-by:` trailer in its last paragraph (qtgen's own, one line)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    found = _REVIEWED.findall(paragraphs[-1]) if paragraphs else []
    return found[-1] if found and found[-1] == _clean(found[-1]) else None


def blocks_of(message: str) -> dict[str, dict[str, str]]:
    """Each page's trailers in a commit message (its last paragraph: a squash of several approvals keeps the newest
    one's there): page -> {key: value}; a page named twice keeps its last block."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    last = paragraphs[-1] if paragraphs else ""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in last.split("\n"):  # git's own line ends only: a \v or \u2028 inside a value is not a new trailer
        m = _TRAILER.match(line)
        if not m or m.group(2) != _clean(m.group(2)):  # qtgen writes every value clean: anything else is not its own
            continue
        key, value = m.groups()
        if key == PAGE:
            current = out[value.strip()] = {}
        elif current is not None and key in (MODEL, PROMPT, JUDGE, BYTES) and key not in current:
            current[key] = value.strip()
    return out


def read_made(config: Config, pages: list[Path] | None = None, check_edits: bool = False) -> dict[str, Made]:
    """What made each published page that qtgen approved (page relative to the content tree -> Made), from one
    walk of the site's git history; pages qtgen did not make are absent."""
    from ..site import gitrepo

    repo = gitrepo.toplevel(config.content)
    if repo is None:
        return {}
    args = ["git", "-C", str(repo), "log", "--format=%x1e%H%x1f%aI%x1f%B", "--grep=Qtgen-Page: ", "-F"]
    if pages:
        args += ["--", *[str(p) for p in pages]]
    try:
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    found: dict[str, Made] = {}
    for entry in out.split("\x1e"):
        if "\x1f" not in entry:
            continue
        sha, date, message = entry.strip("\n").split("\x1f", 2)
        for page, values in blocks_of(message).items():
            if page in found:
                continue  # newest first: the last approval wins
            made = Made(page, sha, date)
            model = _MODEL.match(values.get(MODEL, ""))
            if model:
                made.model, made.server, made.lane = model.groups()
            prompt = _PROMPT.match(values.get(PROMPT, ""))
            if prompt:
                made.prompt, made.templates = prompt.groups()
            made.judge = values.get(JUDGE) if _JUDGE_VALUE.match(values.get(JUDGE, "")) else None
            made.bytes_sha = values.get(BYTES) if _SHA.match(values.get(BYTES, "")) else None
            made.reviewed_by = reviewer_of(message)
            found[page] = made
    if check_edits:
        _mark_edited(config, repo, found)
    return found


def _mark_edited(config: Config, repo: Path, found: dict[str, "Made"]) -> None:
    """Whether each page's bytes are still those its commit approved: by the Qtgen-Bytes trailer, else by git's tree
    at that commit (one `git ls-tree` per commit)."""
    import collections

    by_commit = collections.defaultdict(list)
    for page, made in found.items():
        path = config.content / page
        try:
            data = path.read_bytes()
        except OSError:
            made.edited = True  # gone (moved or deleted) since it was approved
            continue
        if made.bytes_sha is not None:
            made.edited = hashlib.sha256(data).hexdigest() != made.bytes_sha
        else:
            by_commit[made.commit].append((made, path, data))
    for commit, rows in by_commit.items():
        rel = {str(path.resolve().relative_to(repo.resolve())): (made, data) for made, path, data in rows}
        try:
            out = subprocess.run(["git", "-C", str(repo), "ls-tree", "-z", str(commit), "--", *rel],
                                 capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError, ValueError):
            continue
        blobs = {}
        for entry in out.split("\0"):
            if "\t" in entry:
                meta, name = entry.split("\t", 1)
                blobs[name] = meta.split()[2]
        for name, (made, data) in rel.items():
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            made.edited = blobs.get(name) != blob


def matches(made: Made | None, wanted: dict[str, str]) -> bool:
    """Whether a page's provenance is what `--made-with` asks: model=NAME (or a dated NAME-...), prompt=HASH (a
    prefix), before=DATE (approved before that day, in UTC)."""
    if made is None or not made.known:
        return False
    model = made.model or ""
    if "model" in wanted and not (model == wanted["model"] or model.startswith(wanted["model"] + "-")):
        return False
    if "prompt" in wanted and not (made.prompt or "").startswith(wanted["prompt"]):
        return False
    if "before" in wanted:
        try:
            when = dt.datetime.fromisoformat(made.date or "").astimezone(dt.timezone.utc).date()
        except ValueError:
            return False
        if not when < dt.date.fromisoformat(wanted["before"]):
            return False
    return True


def parse_made_with(values: list[str]) -> dict[str, str]:
    """`--made-with model=NAME --made-with prompt=HASH --made-with before=YYYY-MM-DD` as a dict; InputError else."""
    from ..errors import InputError

    out: dict[str, str] = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        key, wanted = key.strip(), wanted.strip()
        if not sep or key not in ("model", "prompt", "before") or not wanted:
            raise InputError(f"--made-with {value!r}: use model=NAME, prompt=HASH or before=YYYY-MM-DD")
        if key in out:
            raise InputError(f"--made-with {key}= given twice: each key once (all must hold)")
        if key == "before" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", wanted):
            raise InputError(f"--made-with {value!r}: before takes a date, YYYY-MM-DD")
        if key == "before":
            try:
                dt.date.fromisoformat(wanted)
            except ValueError:
                raise InputError(f"--made-with {value!r}: before takes a date, YYYY-MM-DD") from None
        if key == "prompt" and not re.fullmatch(r"[0-9a-f]{4,64}", wanted):
            raise InputError(f"--made-with {value!r}: prompt takes a hash as qtgen provenance prints it (hex)")
        out[key] = wanted
    return out


def made_with_paths(config: Config, paths: list[Path], wanted: dict[str, str]) -> list[Path]:
    """The published pages below `paths` whose provenance is what `wanted` asks (in the order of the tree)."""
    from ..format.files import expand

    made = read_made(config)
    root = config.content.resolve()
    out = []
    for path in expand(paths):
        try:
            page = str(path.resolve().relative_to(root))
        except ValueError:
            continue
        if matches(made.get(page), wanted):
            out.append(path)
    return out


# -- at approve ------------------------------------------------------------------------------------------
def made_records(config: Config, store, items: list) -> list[dict]:
    """What made each draft as it stands (its version's provenance) and the judge's grade of those bytes."""
    from ..judging.judge import Judge

    out = []
    for item in items:
        versions = [v for v in store.history(item.path).versions() if v.path.is_file() and v.path.read_bytes() == item.data]
        out.append(dict(versions[-1].provenance) if versions and versions[-1].provenance else {})
    judge = Judge.open(config, for_reading=True)
    try:
        grades = judge.kept([(str(i.path), i.data, i.subject) for i in items if i.readable and i.data is not None])
    finally:
        judge.close()
    for item, record in zip(items, out):
        grade = grades.get(str(item.path))
        if grade is not None:
            record["judgment"] = grade
    return out


def keep_published(config: Config, pages: list[str], made: list[dict], sha: str | None) -> None:
    """Each published page's provenance, kept in the batch ledger too (never failing the approval)."""
    import json
    import sqlite3

    from ..batch.ledger import ledger_path
    from ..batch.ledger import Ledger

    rows = []
    for page, record in zip(pages, made):
        grade = record.get("judgment")
        kept = {k: v for k, v in record.items() if k != "judgment"}
        if grade is not None:
            kept["judge"] = {"verdict": grade.verdict, "score": grade.score, "model": grade.model}
        rows.append((page, sha, json.dumps(kept, ensure_ascii=False)))
    try:
        ledger = Ledger(ledger_path(config))
        try:
            ledger.record_published(rows)
        finally:
            ledger.close()
    except (sqlite3.Error, OSError, QtgenError):
        pass
