"""The site's duplicate clusters: published pages that ask the same thing, and what to do with them.

    from qtgen.drafting import site_duplicates as duplicates
    report = duplicates.find(config, index)
    for cluster in report.rewordings:
        print(cluster.id, cluster.keeper.path, [m.path for m in cluster.extras])

Pages are joined when their questions score at least `min_score` by the site-weighted similarity (one sparse
product over the whole tree, `SiteIndex.model`), or ask the very same question. The site puts one question under
several subjects on purpose: a cluster of one question is an intended group, and nothing is done to it. A cluster
of several questions holds rewordings: one question is kept (the one most linked by other pages' related
articles, else the oldest, else the lowest id; or by `keep`), and every page asking another question that scores
at least `min_score` against it is to be marked `no_index: True` (never deleted). A page only similar through
another one is listed, not marked. `qtgen revise duplicates CLUSTER` turns the marks into revisions for review.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import InputError
from ..format.files import page_file_names
from ..site.index import CONTENT, SiteIndex

KEEP, SAME, MARK, MARKED, NEAR = "keep", "keep (same question)", "no_index", "already no_index", "none"
UNCERTAIN = "uncertain"  # scored inside similar_band with no model to judge: read both; marked only if asked
ORDER = [KEEP, SAME, MARK, UNCERTAIN, MARKED, NEAR]
KEEP_RULES = ("linked", "oldest")
DUPLICATES = "duplicates"  # the rule a duplicate's revision is made for (approve lets it change no_index)

# The site's page component reads `noIndex`; the files say `no_index`, so no file's mark reaches the robots tag.
SITE_CHANGE = ("the site's page component (pages/learn/[subject]/questions/[question].js) reads `noIndex`, but the "
               "files say `no_index: True`, so today {count} page(s) marked no_index are indexed anyway, and so would "
               "these be; the site needs one line: read the files' key, e.g. `noIndex={{page.noIndex || "
               "page.no_index}}` where the robots tag is set")

_RELATED_URL = re.compile(rb"^    url: (\S+)$", re.M)  # a related article's url (the page's own is at column 0)
_DATE = re.compile(rb"^date: (\S+)$", re.M)
_NO_INDEX = re.compile(rb"^no_index: True$", re.M)


@dataclass
class Member:
    path: str
    subject: str
    question: str
    id: int | None
    url: str
    date: str = ""
    links: int = 0  # other pages' related articles pointing here
    no_index: bool = False
    action: str = NEAR
    score: float | None = None  # against the kept question


@dataclass
class Cluster:
    id: str
    kind: str  # "same-question" (one question under several subjects: intended) or "rewording"
    members: list[Member]
    keeper: Member
    why: str = ""  # why this page is kept

    @property
    def extras(self) -> list[Member]:
        """The pages to mark no_index."""
        return [m for m in self.members if m.action == MARK]

    @property
    def uncertain(self) -> list[Member]:
        """The pages that may ask the same, scored inside similar_band with no model to judge them."""
        return [m for m in self.members if m.action == UNCERTAIN]

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "keep": self.keeper.path, "why": self.why,
                "members": [asdict(m) for m in self.members]}


@dataclass
class Report:
    pages: int
    min_score: float
    clusters: list[Cluster] = field(default_factory=list)
    no_index_pages: int = 0  # pages of the tree that say no_index: True

    @property
    def rewordings(self) -> list[Cluster]:
        return [c for c in self.clusters if c.kind == "rewording"]

    @property
    def intended(self) -> list[Cluster]:
        return [c for c in self.clusters if c.kind == "same-question"]

    @property
    def note(self) -> str:
        return SITE_CHANGE.format(count=self.no_index_pages)

    def counts(self) -> dict:
        return {"pages": self.pages, "min_score": self.min_score, "clusters": len(self.clusters),
                "same_question_groups": len(self.intended),
                "pages_in_same_question_groups": sum(len(c.members) for c in self.intended),
                "rewording_clusters": len(self.rewordings),
                "pages_in_rewording_clusters": sum(len(c.members) for c in self.rewordings),
                "to_mark_no_index": sum(len(c.extras) for c in self.rewordings),
                "uncertain": sum(len(c.uncertain) for c in self.rewordings),
                "already_no_index": sum(1 for c in self.rewordings for m in c.members if m.action == MARKED),
                "no_index_pages_in_tree": self.no_index_pages}

    def as_json(self) -> dict:
        return {**self.counts(), "note": self.note, "clusters": [c.as_json() for c in self.clusters]}


class _Sets:
    """Union-find over row numbers."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return [sorted(g) for g in out.values() if len(g) > 1]


def _within(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f + os.sep) for f in folders)


def _scan(config: Config, wanted: set[str]) -> tuple[dict[str, int], dict[str, tuple[str, bool]], int]:
    """Links to each url from the whole tree; the date and no_index of the pages `wanted`; how many say no_index."""
    links: dict[str, int] = {}
    facts: dict[str, tuple[str, bool]] = {}
    marked = 0
    for name in page_file_names(config.content):
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        end = data.find(b"\nanswer: ")  # the front matter's keys before the long answer
        head, tail = (data[:end], data[end:]) if end >= 0 else (data, b"")
        no_index = _NO_INDEX.search(head) is not None
        marked += no_index
        for url in set(_RELATED_URL.findall(tail)):
            links[url.decode("utf-8", "replace")] = links.get(url.decode("utf-8", "replace"), 0) + 1
        if name in wanted:
            date = _DATE.search(head)
            facts[name] = (date.group(1).decode() if date else "", no_index)
    return links, facts, marked


def cluster_id(config: Config, paths: list[str]) -> str:
    names = sorted(os.path.relpath(p, config.content) for p in paths)
    return "D" + hashlib.sha1("\n".join(names).encode()).hexdigest()[:7]


def find(config: Config, index: SiteIndex, paths: list[Path] | None = None, min_score: float | None = None,
         keep: str = "linked", accept=None) -> Report:
    """The duplicate clusters among the published pages below `paths` (default: the whole content tree).
    `accept(kept question, other question, score)`, if given, has the last word on each page to mark (the model's
    check of the uncertain band): a page it declines is listed, not marked."""
    if keep not in KEEP_RULES:
        raise InputError(f"--keep {keep}: use one of {', '.join(KEEP_RULES)}")
    threshold = config.similar_threshold if min_score is None else float(min_score)
    if not 50 <= threshold <= 100:
        raise InputError(f"--min-score {min_score}: use a score from 50 to 100 (below 50 most of the site is joined)")
    entries, model = index.snapshot()
    content = os.path.abspath(config.content)
    folders = [os.path.abspath(p) for p in (paths or [config.content])]
    for folder, given in zip(folders, paths or [config.content]):
        if not _within(folder, [content]):
            raise InputError(f"{given}: not inside the content tree {config.content}")
    rows = [i for i, e in enumerate(entries) if e.source == CONTENT and _within(os.path.abspath(e.path), folders)]
    sets = _Sets()
    scores: dict[tuple[int, int], float] = {}
    for a, b, score in model.pairs(threshold, within=rows):
        sets.join(a, b)
        scores[(a, b)] = score
    same: dict[str, int] = {}
    for i in rows:  # the very same question under several subjects
        key = entries[i].question.strip().casefold()
        if key in same:
            sets.join(same[key], i)
        else:
            same[key] = i
    groups = sets.groups()
    wanted = {entries[i].path for g in groups for i in g}
    links, facts, marked = _scan(config, wanted)
    report = Report(len(rows), threshold, no_index_pages=marked)
    members: dict[int, Member] = {}
    for i in (i for g in groups for i in g):
        e = entries[i]
        date, no_index = facts.get(e.path, ("", False))
        members[i] = Member(e.path, e.subject, e.question, e.id, e.url, date, links.get(e.url, 0), no_index)
    pairs_of: dict[int, list[tuple[int, int]]] = {}
    for a, b in scores:
        pairs_of.setdefault(sets.find(a), []).append((a, b))
    for group in groups:
        report.clusters += _split(config, model, {i: members[i] for i in group}, pairs_of.get(sets.find(group[0]), []),
                                  keep, threshold, accept)
    report.clusters.sort(key=lambda c: (c.kind != "rewording", -len(c.members), c.keeper.path))
    return report


def _split(config: Config, model, members: dict[int, Member], pairs: list, keep: str, threshold: float,
           accept=None) -> list[Cluster]:
    """Clusters of a connected group: a kept question and the pages asking what it asks (directly, never only
    through another page); what is left forms clusters of its own, the same way."""
    out = []
    left = dict(members)
    while len(left) > 1:
        cluster = _decide(config, model, left, keep, threshold, accept)
        taken = {i for i, m in left.items() if m.action != NEAR}
        left = {i: m for i, m in left.items() if i not in taken}
        if len(taken) > 1:
            cluster.members = [m for m in cluster.members if m.action != NEAR]
            cluster.id = cluster_id(config, [m.path for m in cluster.members])
            out.append(cluster)
        # what is left: its own connected groups (pairs among themselves)
        sets = _Sets()
        for a, b in pairs:
            if a in left and b in left:
                sets.join(a, b)
        same: dict[str, int] = {}
        for i, m in left.items():
            key = m.question.strip().casefold()
            if key in same:
                sets.join(same[key], i)
            else:
                same[key] = i
        groups = sets.groups()
        if len(groups) > 1:
            for g in groups:
                out += _split(config, model, {i: left[i] for i in g}, pairs, keep, threshold, accept)
            break
        left = {i: left[i] for i in groups[0]} if groups else {}
    return out


def _decide(config: Config, model, members: dict, keep: str, threshold: float, accept=None) -> Cluster:
    for m in members.values():
        m.action, m.score = NEAR, None
    by_question: dict[str, list[int]] = {}
    for i, m in members.items():
        by_question.setdefault(m.question.strip().casefold(), []).append(i)

    def rank(rows: list[int]) -> tuple:
        hidden = all(members[i].no_index for i in rows)  # a question whose pages are all no_index is never kept
        oldest = min((members[i].date or "9999", members[i].id or 0) for i in rows)
        linked = sum(members[i].links for i in rows)
        return (hidden, -linked, *oldest) if keep == "linked" else (hidden, *oldest)

    questions = sorted(by_question.values(), key=rank)
    kept = questions[0]
    keeper_row = min(kept, key=lambda i: (members[i].no_index, -members[i].links, members[i].date or "9999",
                                          members[i].id or 0, members[i].path))
    keeper = members[keeper_row]
    for i in kept:
        members[i].action = KEEP if i == keeper_row else SAME
        members[i].score = 100.0
    for rows in questions[1:]:
        for i in rows:
            score = _score(model, keeper_row, i)
            members[i].score = score
            if score + 1e-9 >= threshold and model.agree(model.vectors[keeper_row], model.numbers[keeper_row],
                                                          model.names[keeper_row], i) and \
                    (accept is None or accept(keeper.question, members[i].question, score)):
                certain = accept is not None or score > config.similar_band[1] + 1e-9
                members[i].action = MARKED if members[i].no_index else MARK if certain else UNCERTAIN
            else:
                members[i].action = NEAR
    kind = "same-question" if len(questions) == 1 else "rewording"
    ordered = sorted(members.values(), key=lambda m: (ORDER.index(m.action), m.path))
    if kind == "same-question":
        why = f"one question under {len(ordered)} subjects, as the site does on purpose: nothing to do"
    elif keep == "linked" and sum(members[i].links for i in kept):
        why = f"most linked ({sum(members[i].links for i in kept)} related-article link(s) to its question)"
    else:
        why = "oldest" + (f" ({keeper.date})" if keeper.date else "") + ", then lowest id"
    return Cluster(cluster_id(config, [m.path for m in ordered]), kind, ordered, keeper, why)


def _score(model, a: int, b: int) -> float:
    va, vb = model.vectors[a], model.vectors[b]
    if len(vb) < len(va):
        va, vb = vb, va
    return min(100.0, round(100.0 * sum(w * vb.get(t, 0.0) for t, w in va.items()), 1))


def chosen(report: Report, wanted: str) -> Cluster:
    """The cluster named `wanted` (its id, as `qtgen duplicates` prints it); InputError if there is none."""
    for c in report.clusters:
        if c.id.casefold() == wanted.strip().casefold():
            return c
    raise InputError(f"cluster {wanted}: no such duplicate cluster now (run qtgen duplicates to list them; an "
                     "id changes when its pages change)")


def marks_only_no_index(published: Path, data: bytes | None) -> bool:
    """Whether `data` is the published page's bytes with `no_index: True`, and nothing else changed."""
    from ..errors import ParseError
    from ..format.reader import read
    from ..format.writer import render

    try:
        page = read(published)
    except (ParseError, OSError):
        return False
    return data == render(page.model_copy(update={"no_index": True})).encode("utf-8")


@dataclass
class Marked:
    made: list[Path] = field(default_factory=list)  # revisions put in the queue
    skipped: list[str] = field(default_factory=list)  # pages not marked, and why


def mark(config: Config, cluster: Cluster, uncertain: bool = False) -> Marked:
    """A revision for each page the cluster marks: the published bytes with `no_index: True` (nothing else
    changed), waiting for review like any revision. Never deletes or moves a page."""
    from ..errors import ParseError, QtgenError
    from ..format.reader import read
    from ..format.writer import render
    from ..drafts.folder import DraftStore
    from .revision import Candidate, start

    DraftStore(config)
    out = Marked()
    keeper = os.path.relpath(cluster.keeper.path, config.content)
    chosen = cluster.extras + (cluster.uncertain if uncertain else [])
    if cluster.uncertain and not uncertain:
        out.skipped.append(f"{len(cluster.uncertain)} uncertain page(s) left as they are (read them; --uncertain marks "
                           "them too, or similar_check = true lets the model judge)")
    if not chosen:
        out.skipped.append(f"{cluster.id}: nothing to mark ({cluster.why})")
    from .revision import published_pages

    for member in chosen:
        path = Path(member.path)
        try:
            published_pages(config, [path])  # a page of the content tree, not a link out of it
            page = read(path)
        except (ParseError, QtgenError) as exc:
            out.skipped.append(f"skipped {exc}")
            continue
        if page.no_index:
            out.skipped.append(f"skipped {path}: already no_index")
            continue
        marked = page.model_copy(update={"no_index": True})
        try:
            draft = start(config, Candidate(path, page), render(marked),
                          made_by=f"duplicates {cluster.id}: no_index (asks what {keeper} asks, {member.score:.0f}/100)",
                          reason=f"duplicate of {keeper} ({member.score:.0f}/100, cluster {cluster.id})",
                          rules=[DUPLICATES])
        except QtgenError as exc:
            out.skipped.append(f"skipped {path}: {exc}")
            continue
        out.made.append(draft)
    from ..drafts.queue import remember

    remember(config, out.made)  # the queue's first listing reads what was found
    return out
