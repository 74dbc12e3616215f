"""`qtgen coverage`: where the site is thin. Pages per subject (published, drafted, rejected) and, given a topic list
(one topic a line, a syllabus say), the pages that cover each topic and the topics no page covers.

A page covers a topic when its question holds what the topic is about, weighed as the site's similarity weighs it
(`site.similarity`: stemmed content words, each as rare as it is on the site, numbers that must agree): the share of
the topic's weight found among the question's terms, at least `COVERS` (0.75). A topic of several parts ("Bacteria
and viruses", "Osmosis, diffusion") is covered by a page on any of its parts. A syllabus's numbering ("1.2", "Unit
3:"), bullets and markdown are not part of a topic. "Krebs cycle" is covered by "What
happens in the Krebs cycle?" (both rare terms), not by "What is a bicycle?".

    report = coverage(config, index, subject="Biology", topics=read_topics(Path("syllabus.txt")))
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import InputError

COVERS = 0.75
_PARTS = re.compile(r"\s+and\s+|\s*[,;/&]\s*", re.I)  # "Bacteria and viruses": a page on either covers part of it
MAX_TOPICS = 2000


@dataclass
class SubjectCount:
    subject: str
    slug: str
    published: int = 0
    drafted: int = 0
    rejected: int = 0

    def as_json(self) -> dict:
        return {"subject": self.subject, "slug": self.slug, "published": self.published, "drafted": self.drafted,
                "rejected": self.rejected}


@dataclass
class Covering:
    path: str
    question: str
    source: str  # "content" (published) or "drafts"
    share: float  # 0..1: how much of the topic the question holds


@dataclass
class TopicCoverage:
    topic: str
    pages: list[Covering] = field(default_factory=list)

    @property
    def published(self) -> int:
        return sum(1 for p in self.pages if p.source == "content")

    def as_json(self) -> dict:
        return {"topic": self.topic, "published": self.published, "drafted": len(self.pages) - self.published,
                "pages": [{"path": p.path, "question": p.question, "source": p.source, "share": round(p.share, 3)}
                          for p in self.pages]}


@dataclass
class Coverage:
    subjects: list[SubjectCount]
    subject: str | None = None
    topics: list[TopicCoverage] | None = None

    @property
    def uncovered(self) -> list[str]:
        return [t.topic for t in self.topics or [] if not t.pages]

    def as_json(self) -> dict:
        out: dict = {"subject": self.subject, "subjects": [s.as_json() for s in self.subjects]}
        if self.topics is not None:
            out["topics"] = [t.as_json() for t in self.topics]
            out["uncovered"] = self.uncovered
        return out


_NUMBERED = re.compile(r"^\s*(?:(?:unit|week|chapter|topic|section|module|part|lesson)\s*[\w.]*\s*[:.)-]|"
                       r"\d+(?:\.\d+)*\s*[.):-]?(?=\s)|[a-z]\)|[ivx]+\.(?=\s))\s*", re.I)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
MAX_TOPIC = 150
MAX_TOPICS_FILE = 1_000_000  # bytes


def clean_topic(line: str) -> str:
    """A syllabus line as the topic it names: no bullet, numbering ("1.2", "Unit 3:"), link or emphasis marks."""
    text = _LINK.sub(r"\1", " ".join(line.split()))
    text = text.lstrip("-*•+> ").strip()
    text = _NUMBERED.sub("", text).strip()
    return text.replace("**", "").replace("__", "").replace("`", "").strip(" *_#")


def read_topics(path: Path) -> list[str]:
    """One topic a line; blank lines and `#` comments skipped, numbering and markdown dropped, each topic once."""
    from ..format.files import read_bounded

    try:
        text = read_bounded(path, MAX_TOPICS_FILE, "topic list (one short topic a line)").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot be read as a UTF-8 text of topics ({exc})") from None
    seen: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("#") and not line.strip().startswith("#" * 2 + " "):
            continue
        topic = clean_topic(line.strip().lstrip("#"))
        if len(topic) > MAX_TOPIC:
            raise InputError(f"{path}:{n}: a topic of {len(topic)} characters; a topic is a few words (at most "
                             f"{MAX_TOPIC})")
        if topic:
            seen.setdefault(topic.casefold(), topic)
    if not seen:
        raise InputError(f"{path}: no topics (one a line)")
    if len(seen) > MAX_TOPICS:
        raise InputError(f"{path}: {len(seen)} topics; at most {MAX_TOPICS}")
    return list(seen.values())


def share_of(model, topic_terms: list[str], question_terms: set[str]) -> float:
    """How much of a topic a question holds (0..1): the topic's terms it has, weighed by their rarity; a number
    of the topic must be in the question."""
    from ..site.similarity import numbers

    if not topic_terms or not numbers(topic_terms) <= question_terms:
        return 0.0
    weights = {t: model.idf.get(t, model.max_idf) for t in set(topic_terms)}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in question_terms) / total if total else 0.0


def coverage(config: Config, index, subject: str | None = None, topics: list[str] | None = None) -> Coverage:
    from ..format.slug import slug
    from ..site.similarity import terms
    from ..drafts.folder import DraftStore

    entries, model = index.snapshot()
    names: dict[str, Counter] = defaultdict(Counter)
    counts: dict[str, SubjectCount] = {}
    for e in entries:
        names[e.subject_slug][e.subject] += 1
    for folder, seen in names.items():
        counts[folder] = SubjectCount(seen.most_common(1)[0][0], folder)
    for e in entries:
        row = counts[e.subject_slug]
        if e.source == "content":
            row.published += 1
        else:
            row.drafted += 1
    rejected_root = DraftStore(config, migrate=False).rejected_root
    if rejected_root.is_dir():
        for folder in sorted(p for p in rejected_root.iterdir() if p.is_dir()):
            n = sum(1 for _ in folder.glob("*.md"))
            if n:
                counts.setdefault(folder.name, SubjectCount(folder.name, folder.name)).rejected += n
    wanted = None
    if subject is not None:
        wanted = slug(subject, config.slug_style)
        if wanted not in counts:
            known = ", ".join(sorted(c.subject for c in counts.values())[:8])
            raise InputError(f"-s {subject!r}: the site has no such subject" + (f" (some it has: {known})" if known
                                                                                 else ""))
    rows = sorted((c for c in counts.values() if wanted is None or c.slug == wanted),
                  key=lambda c: (-c.published, c.subject))
    report = Coverage(rows, counts[wanted].subject if wanted else None)
    if topics is not None:
        inside = [wanted is None or e.subject_slug == wanted for e in entries]
        report.topics = []
        for topic in topics:
            parts = [terms(p) for p in _PARTS.split(topic) if terms(p)] or [terms(topic)]
            wholes = [terms(topic)] + (parts if len(parts) > 1 else [])
            found = TopicCoverage(topic)
            candidates = sorted({i for ts in wholes for t in set(ts) for i in model.postings.get(t, ()) if inside[i]})
            for i in candidates:  # only questions holding one of the topic's terms can hold most of it
                held = set(model.vectors[i])
                share = max(share_of(model, ts, held) for ts in wholes)  # the topic, or one of its parts
                if share + 1e-9 >= COVERS:
                    e = entries[i]
                    found.pages.append(Covering(e.path, e.question, e.source, share))
            found.pages.sort(key=lambda p: (-p.share, p.source != "content", p.question))
            report.topics.append(found)
    return report
