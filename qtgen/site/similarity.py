"""Which questions ask the same thing: similarity that weighs what a question is about.

A question is reduced to its terms: lower case; `try...except`, `CRISPR/Cas9` and `CRISPR-Cas9` split alike;
the words that only frame a question (what, how, explain, describe, define...) dropped; every
other word stemmed (Snowball, so "functions"/"function" and "used"/"use" agree); numbers kept as they are.
Each term weighs by how rare it is among the site's own questions (IDF), so "Krebs cycle" outweighs "how has
the understanding of" (words such as "understanding", "causes" or "role" still count, lightly: they say which
question about a topic is asked), and two questions score the cosine of their weighted terms, 0..100. Numbers must agree
("Article 5" is not "Article 6"), and so must the names a question is about (a capitalised or all-capitals
word that is rare on the site: "in Python" is not "in Java").

Searching one question visits only the questions that share one of its rarer terms (an inverted index), so
`similar` against the whole site stays in milliseconds; all pairs of a site (`pairs`) are one sparse matrix
product, not one search per question.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

# the words that frame a question rather than say what it is about
FRAMING = frozenset(
    "a an the of in on to for and or is are was were be been being do does did done can could would should will "
    "shall may might must what whats which who whom whose when where why how explain describe define discuss tell me "
    "you your we us our i my give provide please briefly brief some any its it this that these those with by as at "
    "from into about there they them their have has had meant".split()
)
_SPLIT = re.compile(r"\.{2,}|…|[/\\\-–—_+]")
_WORD = re.compile(r"[^\W_]+")
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b([A-Z][\w]*)")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def terms(question: str) -> list[str]:
    """What a question is about, as terms: stems of its content words, and its numbers."""
    out = []
    for word in _WORD.findall(_SPLIT.sub(" ", question.lower())):
        if word in FRAMING:
            continue
        out.append(word if word.isdigit() else _stem(word))
    return out


def names(question: str) -> frozenset[str]:
    """The terms of the names a question is about: capitalised words past its first, and acronyms."""
    text = _SPLIT.sub(" ", question)
    found = set()
    for m in _NAME.finditer(text):
        word = m.group(1)
        if word.lower() in FRAMING:
            continue
        found.add(word.lower() if word.isdigit() else _stem(word.lower()))
    return frozenset(found)


def numbers(term_list: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in term_list if t.isdigit())


@dataclass
class Hit:
    index: int  # the question's position in the model
    score: float  # 0..100


class Model:
    """TF-IDF vectors of a set of questions, with an inverted index over their terms."""

    COMMON = 0.02  # a term in more than this share of questions finds no candidates on its own
    ROWS_AT_ONCE = 4000  # left rows whose candidate pairs `cross` holds at once

    def __init__(self, term_lists: Sequence[Sequence[str]], name_sets: Sequence[frozenset] | None = None):
        self.n = len(term_lists)
        df: Counter = Counter()
        for ts in term_lists:
            df.update(set(ts))
        self.df = df
        self.idf = {t: math.log((1 + self.n) / (1 + c)) + 1.0 for t, c in df.items()}
        self.max_idf = math.log(1 + self.n) + 1.0
        self.vectors = [self.vector(ts) for ts in term_lists]
        self.numbers = [numbers(ts) for ts in term_lists]
        self.names = list(name_sets) if name_sets is not None else [frozenset()] * self.n
        self.postings: dict[str, list[int]] = {}
        for i, vector in enumerate(self.vectors):
            for t in vector:
                self.postings.setdefault(t, []).append(i)
        self._common = max(50, int(self.COMMON * self.n))
        self._own_matrix = None

    def vector(self, term_list: Sequence[str]) -> dict[str, float]:
        counts = Counter(term_list)
        weights = {t: (1 + math.log(c)) * self.idf.get(t, self.max_idf) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def rare(self, name_set: frozenset) -> frozenset:
        """The names that tell questions apart (a name most questions share tells nothing)."""
        return frozenset(t for t in name_set if self.df.get(t, 0) <= self._common)

    def agree(self, mine: dict | set, my_numbers: frozenset, my_names: frozenset, i: int) -> bool:
        """Numbers must be the same; a rare name of either must be a term of the other."""
        if my_numbers != self.numbers[i]:
            return False
        other = self.vectors[i]
        return (all(t in other for t in self.rare(my_names))
                and all(t in mine for t in self.rare(self.names[i])))

    def search(self, question: str, limit: int = 5, threshold: float = 0.0,
               exclude: Iterable[int] = ()) -> list[Hit]:
        """The questions most like `question`, best first, at or above `threshold`."""
        ts = terms(question)
        if not ts:
            return []
        return self.search_terms(ts, names(question), limit, threshold, exclude)

    def search_terms(self, ts: Sequence[str], name_set: frozenset, limit: int = 5, threshold: float = 0.0,
                     exclude: Iterable[int] = ()) -> list[Hit]:
        query = self.vector(ts)
        rare = [t for t in query if 0 < self.df.get(t, 0) <= self._common]
        keys = rare or [t for t in query if t in self.postings]
        candidates = {i for t in keys for i in self.postings.get(t, ())} - set(exclude)
        qn = numbers(ts)
        hits = []
        for i in candidates:
            vector = self.vectors[i]
            score = 100.0 * sum(w * vector.get(t, 0.0) for t, w in query.items())
            if score + 1e-9 >= threshold and self.agree(query, qn, name_set, i):
                hits.append(Hit(i, min(100.0, round(score, 1))))
        hits.sort(key=lambda h: (-h.score, h.index))
        return hits[:limit]

    def pairs(self, threshold: float, within: Sequence[int] | None = None) -> list[tuple[int, int, float]]:
        """Every pair (i < j) of the model's questions scoring at least `threshold` (`within`: among these only)."""
        rows = list(range(self.n)) if within is None else sorted(set(within))
        found = self.cross([self.vectors[i] for i in rows], [self.vectors[i] for i in rows], threshold, upper=True)
        return [(rows[a], rows[b], score) for a, b, score in found
                if self.agree(self.vectors[rows[a]], self.numbers[rows[a]], self.names[rows[a]], rows[b])]

    def cross(self, left: Sequence[dict], right: Sequence[dict], threshold: float,
              upper: bool = False) -> list[tuple[int, int, float]]:
        """Pairs (a, b) of a vector of `left` and one of `right` scoring at least `threshold`, in sparse matrix
        products: candidates share a rare term (as `search` finds them), their score is the whole cosine.
        `upper`: left and right are the same list; only a < b. `right` may be the model's own vectors, whose
        matrices are built once. Numbers and names are the caller's to check.

        The product of the rare terms' weights gives each candidate pair's score from those terms; the common
        terms (a few dozen on a whole site) can add at most the product of the two vectors' common parts' lengths
        (Cauchy-Schwarz). A pair that cannot reach `threshold` even so is dropped before it is scored: on a whole
        site, all but one candidate in several hundred."""
        import numpy as np

        if not left or not right:
            return []
        if right is self.vectors:
            vocabulary, b_matrix, b_rare, b_common = self._own()
            a_matrix = _matrix(left, vocabulary, grow=False)
            a_rare, a_common = _split(a_matrix, self._rare_columns(vocabulary))
        else:
            vocabulary = {}
            a_matrix = _matrix(left, vocabulary)
            b_matrix = a_matrix if upper else _matrix(right, vocabulary)
            a_matrix.resize(a_matrix.shape[0], len(vocabulary))
            b_matrix.resize(b_matrix.shape[0], len(vocabulary))
            rare = self._rare_columns(vocabulary)
            a_rare, a_common = _split(a_matrix, rare)
            b_rare, b_common = (a_rare, a_common) if upper else _split(b_matrix, rare)
        if not vocabulary:
            return []
        out: list[tuple[int, int, float]] = []
        band = self.ROWS_AT_ONCE  # candidates of so many left rows at a time: memory stays bounded on any list
        b_rare_t = b_rare.T.tocsc()
        # a question with no rare term finds its candidates by all its terms, as `search` does
        bare = np.nonzero((np.diff(a_rare.indptr) == 0) & (np.diff(a_matrix.indptr) > 0))[0]
        b_all_t = None
        if len(bare):
            b_all = b_matrix.copy()
            b_all.data[:] = 1.0
            b_all_t = b_all.T.tocsc()
        for first in range(0, a_rare.shape[0], band):
            shared = (a_rare[first:first + band] @ b_rare_t).tocoo()
            rows, cols = shared.row.astype(np.int64) + first, shared.col.astype(np.int64)
            reach = 100.0 * (shared.data + a_common[rows] * b_common[cols])  # at least the whole cosine
            keep = reach + 1e-6 >= threshold
            rows, cols = rows[keep], cols[keep]
            here = bare[(bare >= first) & (bare < first + band)]
            if len(here):
                a_all = a_matrix[here].copy()
                a_all.data[:] = 1.0
                extra = (a_all @ b_all_t).tocoo()
                er, ec = here[extra.row].astype(np.int64), extra.col.astype(np.int64)
                if upper:  # a pair with a bare question may come from either side: as (smaller, larger), once
                    er, ec = np.minimum(er, ec), np.maximum(er, ec)
                rows, cols = np.concatenate([rows, er]), np.concatenate([cols, ec])
            if upper:
                keep = rows < cols
                rows, cols = rows[keep], cols[keep]
                if len(here):
                    pairs = np.unique(np.stack([rows, cols]), axis=1)
                    rows, cols = pairs[0], pairs[1]
            step = 200_000
            for start in range(0, len(rows), step):
                ra, rb = rows[start:start + step], cols[start:start + step]
                scores = 100.0 * np.asarray(a_matrix[ra].multiply(b_matrix[rb]).sum(axis=1)).ravel()
                good = scores + 1e-9 >= threshold
                out += [(int(x), int(y), min(100.0, round(float(z), 1)))
                        for x, y, z in zip(ra[good], rb[good], scores[good])]
        return out

    def _rare_columns(self, vocabulary: dict[str, int]):
        import numpy as np

        rare = np.zeros(len(vocabulary), dtype=bool)
        for t, column in vocabulary.items():
            rare[column] = self.df.get(t, 0) <= self._common
        return np.nonzero(rare)[0]

    def _own(self):
        """The model's own vectors as a sparse matrix, with its rare terms' part and its common parts' lengths
        (built once)."""
        if self._own_matrix is None:
            vocabulary: dict[str, int] = {}
            matrix = _matrix(self.vectors, vocabulary)
            self._own_matrix = (vocabulary, matrix, *_split(matrix, self._rare_columns(vocabulary)))
        return self._own_matrix


def _matrix(vectors: Sequence[dict], vocabulary: dict[str, int], grow: bool = True):
    """Rows of `vectors` over `vocabulary` (grown with their terms, or, with grow=False, terms outside it
    dropped: they match nothing there)."""
    import numpy as np
    from scipy import sparse

    indptr, indices, data = [0], [], []
    for vector in vectors:
        for t, w in vector.items():
            column = vocabulary.setdefault(t, len(vocabulary)) if grow else vocabulary.get(t)
            if column is not None:
                indices.append(column)
                data.append(w)
        indptr.append(len(indices))
    return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64),
                              np.array(indptr, dtype=np.int64)), shape=(len(vectors), max(1, len(vocabulary))))


def _split(matrix, rare):
    """The rare columns of `matrix` (a sparse matrix of their weights), and the length of each row's other part."""
    import numpy as np

    common = np.ones(matrix.shape[1], dtype=bool)
    common[rare] = False
    rest = matrix[:, np.nonzero(common)[0]]
    return matrix[:, rare].tocsr(), np.sqrt(np.asarray(rest.multiply(rest).sum(axis=1)).ravel())
