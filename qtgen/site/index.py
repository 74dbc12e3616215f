"""The site index: every page's id, subject, file_name, url, question and keywords, cached in SQLite.

Built by scanning the content tree and drafts; refreshed by file mtime and size, so a second run over
an unchanged tree re-reads nothing. It answers ids (reserved atomically across processes),
collisions, near-duplicate questions and related articles.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..config import Config
from ..database import Database, Migrations
from ..errors import ParseError, QtgenError
from ..format.files import page_file_names
from ..format.reader import load_meta
from ..format.slug import slug
from . import similarity

SESSION_SPAN = 30
CONTENT = "content"
DRAFT = "draft"

migrations = Migrations()


@migrations
def m001_pages_and_reservations(db) -> None:
    """The first schema (files made before schema versions have it already: IF NOT EXISTS)."""
    db.execute("CREATE TABLE IF NOT EXISTS pages (path TEXT PRIMARY KEY, source TEXT NOT NULL, "
               "mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, id INTEGER, subject TEXT, subject_slug TEXT, "
               "file_name TEXT, url TEXT, question TEXT, keywords TEXT)")
    db.execute("CREATE INDEX IF NOT EXISTS pages_file ON pages(file_name)")
    db.execute("CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE, "
               "created REAL NOT NULL)")


@migrations
def m002_pages_by_id(db) -> None:
    """Ids are looked up on every claim and approval."""
    db.execute("CREATE INDEX IF NOT EXISTS pages_id ON pages(id)")


@migrations
def m003_reservations_name_their_question(db) -> None:
    """Ids are shared by the same question under several subjects, not by pages whose file names
    merely agree ("What is C?" and "What is C++?" are both what-is-c.md)."""
    db.execute("ALTER TABLE reservations ADD COLUMN question TEXT")


@migrations
def m004_question_terms(db) -> None:
    """What each question is about, as similarity terms (stems, numbers) and names, computed once per file."""
    db.execute("ALTER TABLE pages ADD COLUMN terms TEXT")
    db.execute("ALTER TABLE pages ADD COLUMN names TEXT")


PAGE_COLUMNS = ("path", "source", "mtime_ns", "size", "id", "subject", "subject_slug", "file_name", "url", "question",
                "keywords", "terms", "names")
ENTRY_COLUMNS = ("path", "source", "id", "subject", "subject_slug", "file_name", "url", "question", "keywords")


# Words that frame a question rather than say what it is about.
_FRAMING = set(
    "a an the of in on to for and or is are was were be been do does did can could would should will "
    "what whats which who whom whose when where why how explain describe define discuss tell me you your "
    "give some about its it this that these those with by as at from into please briefly main key role "
    "meaning concept significance terms provide brief different have any compare each they there list name "
    "some kind kinds type types way ways example examples".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def topic(question: str) -> str:
    """A question reduced to what it is about: lowercase content words, framing words dropped."""
    words = [w for w in _WORD.findall(question.lower()) if w not in _FRAMING]
    return " ".join(words)


@dataclass
class Entry:
    path: str
    source: str
    id: int | None
    subject: str
    subject_slug: str
    file_name: str
    url: str
    question: str
    keywords: str


@dataclass
class Match:
    entry: Entry
    score: float  # 0..100


@dataclass
class RefreshCounts:
    read: int = 0
    unchanged: int = 0
    removed: int = 0
    unreadable: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.read + self.unchanged


def default_path(config: Config) -> Path:
    return config.state("index.sqlite")


class SiteIndex(Database):
    migrations = migrations

    def __init__(self, config: Config, path: Path | None = None):
        super().__init__(path or default_path(config))
        self.config = config
        self._lock = threading.RLock()  # batch workers share one index
        self._entries: list[Entry] | None = None
        self._version = None  # PRAGMA data_version when the entries were read
        self._matches: tuple = (None, None, {})  # matches_of, kept for one model
        self._row_of: tuple = (None, {})
        self._terms: list[list[str]] = []
        self._names: list[frozenset] = []
        self._model: similarity.Model | None = None
        self._about_cache: list[str] | None = None

    # -- building ------------------------------------------------------------------------------
    def _sources(self) -> Iterable[tuple[str, str]]:
        for source, folder in ((CONTENT, self.config.content), (DRAFT, self.config.drafts)):
            folder_name = str(folder)
            for path in page_file_names(folder_name):
                if source == DRAFT and "rejected" in Path(os.path.relpath(path, folder_name)).parts[:-1]:
                    continue
                yield source, path

    def refresh(self) -> RefreshCounts:
        """Re-read only files whose mtime or size changed; drop rows of files that are gone."""
        started = time.perf_counter()
        counts = RefreshCounts()
        known = {row["path"]: (row["mtime_ns"], row["size"])
                 for row in self.db.execute("SELECT path, mtime_ns, size FROM pages")}
        seen = set()
        rows = []
        for source, key in self._sources():
            seen.add(key)
            try:
                st = os.stat(key)
            except OSError:
                continue
            if known.get(key) == (st.st_mtime_ns, st.st_size):
                counts.unchanged += 1
                continue
            row = self._read(Path(key), source, st)
            if row is None:
                counts.unreadable += 1
                continue
            rows.append(row)
            counts.read += 1
        gone = [p for p in known if p not in seen]
        changed = self.db.execute("PRAGMA data_version").fetchone()[0] != self._version  # another process wrote
        if rows or gone:
            with self._lock, self.db:  # one transaction at a time on this connection (the studio reads meanwhile)
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(f"INSERT OR REPLACE INTO pages ({', '.join(PAGE_COLUMNS)}) "
                                    f"VALUES ({', '.join('?' * len(PAGE_COLUMNS))})", rows)
                self.db.executemany("DELETE FROM pages WHERE path = ?", [(p,) for p in gone])
        if rows or gone or changed:
            with self._lock:
                self._entries = None  # what was read from it is out of date; unchanged, it is kept (the studio)
        counts.removed = len(gone)
        counts.seconds = time.perf_counter() - started
        return counts

    def _read(self, path: Path, source: str, st: os.stat_result) -> tuple | None:
        try:
            meta = load_meta(path.read_bytes().decode("utf-8"))
        except (ParseError, UnicodeDecodeError, OSError):
            return None
        seo = meta.get("seo") if isinstance(meta.get("seo"), dict) else {}
        subject = str(meta.get("subject", ""))
        page_id = meta.get("id") if isinstance(meta.get("id"), int) else None
        question = str(meta.get("question", ""))
        return (str(path), source, st.st_mtime_ns, st.st_size, page_id, subject,
                slug(subject, self.config.slug_style), str(meta.get("file_name", path.name)),
                str(meta.get("url", "")), question, str(seo.get("page_keywords", "")),
                " ".join(similarity.terms(question)), " ".join(sorted(similarity.names(question))))

    # -- reading -------------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        with self._lock:
            if self._entries is None:
                self._version = self.db.execute("PRAGMA data_version").fetchone()[0]
                rows = self.db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)}, terms, names FROM pages ORDER BY path").fetchall()
                self._entries = [Entry(**{k: row[k] for k in ENTRY_COLUMNS}) for row in rows]
                missing = [(row["question"], row["path"]) for row in rows if row["terms"] is None]
                if missing:  # rows of an index made before terms were kept: computed once, then stored
                    filled = {path: (" ".join(similarity.terms(q)), " ".join(sorted(similarity.names(q))))
                              for q, path in missing}
                    with self.db:
                        self.db.execute("BEGIN IMMEDIATE")
                        self.db.executemany("UPDATE pages SET terms = ?, names = ? WHERE path = ?",
                                            [(t, n, p) for p, (t, n) in filled.items()])
                else:
                    filled = {}
                self._terms = [(filled[r["path"]][0] if r["terms"] is None else r["terms"]).split() for r in rows]
                self._names = [frozenset((filled[r["path"]][1] if r["names"] is None else r["names"]).split())
                               for r in rows]
                self._model = None
                self._about_cache = None
            return self._entries

    def model(self) -> similarity.Model:
        """The similarity model of every published and drafted question (built once per refresh)."""
        entries = self.entries()
        with self._lock:
            if self._model is None or self._model.n != len(entries):
                self._model = similarity.Model(self._terms, self._names)
            return self._model

    def snapshot(self) -> tuple[list[Entry], similarity.Model]:
        """The entries and their similarity model, taken together (a refresh in another thread may replace both)."""
        with self._lock:
            return self.entries(), self.model()

    @property
    def _about(self) -> list[str]:
        with self._lock:
            if self._about_cache is None:
                self._about_cache = [topic(e.question + " " + e.keywords.replace(",", " ")) for e in self.entries()]
            return self._about_cache

    def count(self) -> dict[str, int]:
        return {row["source"]: row["n"] for row in self.db.execute("SELECT source, COUNT(*) AS n FROM pages GROUP BY source")}

    def id_of_question(self, question: str, file_name: str) -> int | None:
        """The id a page asking exactly this question already has, under any subject."""
        with self._lock:
            row = self.db.execute("SELECT id FROM pages WHERE file_name = ? AND question = ? AND id IS NOT NULL "
                                  "ORDER BY source LIMIT 1", (file_name, question)).fetchone()
        return row["id"] if row else None

    def pages_at(self, path: str) -> list[Entry]:
        rows = self.db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM pages WHERE path = ?", (path,))
        return [Entry(**{k: row[k] for k in ENTRY_COLUMNS}) for row in rows]

    def pages_with_id(self, page_id: int) -> list[Entry]:
        rows = self.db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM pages WHERE id = ? ORDER BY path", (page_id,))
        return [Entry(**{k: row[k] for k in ENTRY_COLUMNS}) for row in rows]

    # -- ids -----------------------------------------------------------------------------------
    # Every id a draft holds is reserved under the draft's key (subject slug/file_name) with its
    # question. The same question under another subject may share its id, as the site does; no
    # other page may. New ids are above every id in use, and at least 1.
    def _next_id(self, start: int | None) -> int:
        top = self.db.execute(
            "SELECT MAX(m) AS top FROM (SELECT MAX(id) AS m FROM pages UNION ALL SELECT MAX(id) FROM reservations)"
        ).fetchone()["top"]
        return max(1, (top + 1) if top is not None else 1, start or 1)

    def peek_id(self, start: int | None = None) -> int:
        """The id the next new page would get, reserving nothing (for --dry-run)."""
        with self._lock:
            return self._next_id(start)

    def reserve_id(self, key: str, start: int | None = None, question: str | None = None) -> int:
        """The id for `key` (subject slug/file_name): reserved once, atomically, across processes."""
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT id FROM reservations WHERE key = ?", (key,)).fetchone()
            if row:
                return row["id"]
            if question is not None:  # the same question under another subject shares its id, as the site does
                file_name = key.rsplit("/", 1)[-1]
                row = self.db.execute(
                    "SELECT id FROM pages WHERE file_name = ? AND question = ? AND id IS NOT NULL UNION ALL "
                    "SELECT id FROM reservations WHERE question = ? AND substr(key, -length(?)) = ? LIMIT 1",
                    (file_name, question, question, "/" + file_name, "/" + file_name)).fetchone()
                if row:
                    return row["id"]  # held by that question's page or reservation (ids are unique there)
            new = self._next_id(start)
            self.db.execute("INSERT INTO reservations (key, id, created, question) VALUES (?, ?, ?, ?)",
                            (key, new, time.time(), question))
            return new

    def claim_id(self, key: str, page_id: int, question: str | None = None) -> int:
        """Reserve an id given by hand (`--id`, a list's id column) for `key`; QtgenError if another
        question holds it, in the content tree, in the drafts or among the reservations."""
        file_name = key.rsplit("/", 1)[-1]

        def other(row_question: str | None, row_file: str) -> bool:
            if question is not None and row_question is not None:
                return row_question != question
            return row_file != file_name

        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for row in self.db.execute("SELECT path, file_name, question FROM pages WHERE id = ?", (page_id,)):
                if other(row["question"], row["file_name"]):
                    raise QtgenError(f"id {page_id} is already used by {row['path']}")
            if question is not None:  # one question, one id: under another subject it has one already
                subject_slug = key.rsplit("/", 1)[0]
                row = self.db.execute(
                    "SELECT id, path AS at FROM pages WHERE file_name = ? AND question = ? AND id IS NOT NULL "
                    "AND id != ? AND subject_slug != ? UNION ALL SELECT id, key AS at FROM reservations WHERE "
                    "question = ? AND id != ? AND substr(key, -length(?)) = ? AND key != ? LIMIT 1",
                    (file_name, question, page_id, subject_slug, question, page_id, "/" + file_name, "/" + file_name,
                     key)).fetchone()
                if row is not None:
                    raise QtgenError(f"id {page_id}: the same question already has id {row['id']} ({row['at']}); "
                                     "one question keeps one id under every subject")
            row = self.db.execute("SELECT key, question FROM reservations WHERE id = ?", (page_id,)).fetchone()
            if row is not None and row["key"] == key:
                return page_id
            if row is not None:
                if other(row["question"], row["key"].rsplit("/", 1)[-1]):
                    raise QtgenError(f"id {page_id} is already reserved for {row['key']}")
                return page_id  # the same question under another subject: the site shares its id
            self.db.execute("DELETE FROM reservations WHERE key = ?", (key,))
            self.db.execute("INSERT INTO reservations (key, id, created, question) VALUES (?, ?, ?, ?)",
                            (key, page_id, time.time(), question))
            return page_id

    # -- similarity ----------------------------------------------------------------------------
    def similar(self, question: str, limit: int = 5, threshold: float = 0.0,
                exclude_file: str | None = None) -> list[Match]:
        """Published and drafted questions that ask the same thing, best first (score 0..100): `similarity`."""
        entries, model = self.snapshot()
        skip = [i for i, e in enumerate(entries) if e.file_name == exclude_file] if exclude_file else []
        out, seen = [], set()
        for hit in model.search(question, limit=limit * 4 + 4, threshold=threshold, exclude=skip):
            e = entries[hit.index]
            if (e.subject_slug, e.file_name) in seen:
                continue
            seen.add((e.subject_slug, e.file_name))
            out.append(Match(e, hit.score))
        return out[:limit]

    def similar_many(self, questions: list[str], threshold: float, exclude_files: list[str | None],
                     accept=None) -> list[Match | None]:
        """For each question, the best published or drafted question asking the same (as `similar` finds it), or
        None: all of them in one sparse matrix product, not one search each. `accept(question, other, score)`,
        if given, has the last word on each candidate, best first (the model's check of the uncertain band)."""
        entries, model = self.snapshot()
        out: list[Match | None] = [None] * len(questions)
        term_lists = [similarity.terms(q) for q in questions]
        vectors = [model.vector(ts) for ts in term_lists]
        found: dict[int, list[tuple[float, int]]] = {}
        for r, i, score in model.cross(vectors, model.vectors, threshold):
            if entries[i].file_name == exclude_files[r]:
                continue
            if not model.agree(vectors[r], similarity.numbers(term_lists[r]), similarity.names(questions[r]), i):
                continue
            found.setdefault(r, []).append((score, i))
        for r, hits in found.items():
            for score, i in sorted(hits, key=lambda h: (-h[0], h[1])):
                if accept is None or accept(questions[r], entries[i].question, score):
                    out[r] = Match(entries[i], score)
                    break
        return out

    def matches_of(self, paths: list[str], threshold: float, limit: int = 3) -> dict[str, list[Match]]:
        """For the pages at these paths that the index holds, the other questions asking the same, best first (as
        `similar` finds them for each): all at once, in one sparse matrix product. Kept until the index changes
        (the studio lists its queue again and again)."""
        entries, model = self.snapshot()
        with self._lock:
            memo = self._matches if self._matches[0] is model and self._matches[1] == (threshold, limit) else None
            if memo is None:
                memo = self._matches = (model, (threshold, limit), {})
        known = memo[2]
        row_of = self._rows_of(entries)
        rows = [row_of[p] for p in paths if p in row_of and p not in known]
        if rows:
            found: dict[int, list[tuple[float, int]]] = {r: [] for r in rows}
            for a, i, score in model.cross([model.vectors[r] for r in rows], model.vectors, threshold):
                r = rows[a]
                if i != r and model.agree(model.vectors[r], model.numbers[r], model.names[r], i):
                    found[r].append((score, i))
            for r, hits in found.items():
                seen, matches = set(), []
                for score, i in sorted(hits, key=lambda h: (-h[0], h[1])):
                    e = entries[i]
                    if (e.subject_slug, e.file_name) not in seen:
                        seen.add((e.subject_slug, e.file_name))
                        matches.append(Match(e, score))
                known[entries[r].path] = matches[:limit]
        return {p: known[p] for p in paths if p in known}

    def question_at(self, path: str) -> str | None:
        """The question of the page the index holds at `path`."""
        entries, _ = self.snapshot()
        row = self._rows_of(entries).get(path)
        return None if row is None else entries[row].question

    def _rows_of(self, entries: list[Entry]) -> dict[str, int]:
        with self._lock:
            if self._row_of[0] is not entries:
                self._row_of = (entries, {e.path: i for i, e in enumerate(entries)})
            return self._row_of[1]

    def near_duplicates_within(self, questions: list[str], threshold: float, accept=None) -> dict[int, tuple[int, float]]:
        """For each question that asks what an earlier one of the list asks in other words: i -> (j, score), j < i
        (scored as `similar` scores, with the site's weights; the same question under another subject is not one).
        `accept(question, other, score)`, if given, has the last word on each candidate."""
        model = self.model()
        term_lists = [similarity.terms(q) for q in questions]
        vectors = [model.vector(ts) for ts in term_lists]
        same = [q.casefold() for q in questions]
        first = {}
        for i, q in enumerate(same):
            first.setdefault(q, i)
        out: dict[int, tuple[int, float]] = {}
        blocks: dict[frozenset, list[int]] = {}  # numbers must agree: only questions with the same ones are compared
        for k, ts in enumerate(term_lists):
            blocks.setdefault(similarity.numbers(ts), []).append(k)
        pairs = []
        for members in blocks.values():
            if len(members) > 1:
                sub = [vectors[k] for k in members]
                pairs += [(members[a], members[b], score) for a, b, score in model.cross(sub, sub, threshold, upper=True)]
        for j, i, score in sorted(pairs, key=lambda x: (x[1], -x[2], x[0])):
            if i in out or first[same[i]] != i:
                continue  # the same question under another subject (as the site allows) is not a rewording
            if similarity.numbers(term_lists[i]) != similarity.numbers(term_lists[j]):
                continue
            names_i, names_j = model.rare(similarity.names(questions[i])), model.rare(similarity.names(questions[j]))
            if not (all(t in vectors[j] for t in names_i) and all(t in vectors[i] for t in names_j)):
                continue
            if accept is not None and not accept(questions[i], questions[j], score):
                continue
            out[i] = (j, score)
        return out

    def related(self, question: str, subject: str, keywords: str = "", file_name: str | None = None,
                page_id: int | None = None, limit: int = 5) -> list[Entry]:
        """Up to `limit` published pages on the same topic: never itself, never a repeat.

        The site links pages of one generation session (95% of its related articles lie within
        30 ids), so for a page with an id its session neighbours are ranked first; then the most
        similar pages, same subject before others.
        """
        from rapidfuzz import fuzz, process

        entries = self.entries()
        target = topic(question + " " + keywords.replace(",", " "))
        s_slug = slug(subject, self.config.slug_style)
        eligible = [i for i, e in enumerate(entries)
                    if e.source == CONTENT and e.file_name != file_name and e.id is not None and e.url]
        pools = []
        if page_id is not None:
            near = [i for i in eligible if abs(entries[i].id - page_id) <= SESSION_SPAN]
            pools.append(sorted(near, key=lambda i: (-fuzz.token_set_ratio(target, self._about[i]),
                                                     abs(entries[i].id - page_id))))
        found = process.extract(target, {i: self._about[i] for i in eligible}, scorer=fuzz.token_set_ratio,
                                limit=limit * 10, score_cutoff=30)
        pools.append(sorted((k for _, _, k in found), key=lambda i: entries[i].subject_slug != s_slug))
        out, urls, files = [], set(), set()
        for pool in pools:
            for i in pool:
                e = entries[i]
                if e.url in urls or e.file_name in files:
                    continue
                urls.add(e.url)
                files.add(e.file_name)
                out.append(e)
                if len(out) == limit:
                    return out
        return out


def open_index(config: Config, refresh: bool = True, *, create: bool = True) -> SiteIndex:
    """The site index, brought up to date. With create=False (read-only commands) and no drafts folder, an index in
    memory: nothing is created where there is no site or drafts folder."""
    if not create and not config.drafts.is_dir():
        index = SiteIndex(config, Path(":memory:"))
    else:
        index = SiteIndex(config)
    if refresh:
        index.refresh()
    return index


