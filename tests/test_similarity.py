"""Similarity that weighs what a question is about (qtgen.site.similarity), judged on labelled pairs: pairs we
wrote (rewordings, the same template over other topics, sibling concepts, other numbers and names) and pairs of
the site's own questions we labelled, with the site's own term weights (its 35,915 questions)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qtgen.config import Config
from qtgen.site import similarity as S

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import similar_pairs as P  # noqa: E402

THRESHOLD = Config().similar_threshold


@pytest.fixture(scope="module")
def model(site_questions):
    questions = list(site_questions.values())
    return S.Model([S.terms(q) for q in questions], [S.names(q) for q in questions])


def score(model: S.Model, a: str, b: str) -> float:
    """As the index scores a pair: the cosine of the weighted terms, 0 where numbers or names disagree."""
    ta, tb = S.terms(a), S.terms(b)
    va, vb = model.vector(ta), model.vector(tb)
    if S.numbers(ta) != S.numbers(tb):
        return 0.0
    if not (all(t in vb for t in model.rare(S.names(a))) and all(t in va for t in model.rare(S.names(b)))):
        return 0.0
    return 100.0 * sum(w * vb.get(t, 0.0) for t, w in va.items())


def test_terms_say_what_a_question_is_about():
    assert S.terms("Why would you use a try/except statement in Python?") == \
        S.terms("Why would you use a try...except statement in Python?")
    assert S.terms("How does CRISPR/Cas9 work?") == S.terms("How does CRISPR-Cas9 work?")
    assert S.terms("What are functions?") == S.terms("What is a function?")
    assert "1914" in S.terms("What happened in 1914?") and "what" not in S.terms("What happened?")
    assert S.names("What is the try statement in Python?") == frozenset({S._stem("python")})


def test_rewordings_are_found(model):
    found = [(a, b) for a, b in P.SAME if score(model, a, b) >= THRESHOLD]
    assert len(found) >= 23, [(a, b, round(score(model, a, b))) for a, b in P.SAME if (a, b) not in found]


def test_template_lists_and_sibling_questions_are_not_duplicates(model):
    false = [(a, b, round(score(model, a, b))) for a, b in P.template_pairs() + P.DIFFERENT
             if score(model, a, b) >= THRESHOLD]
    assert false == []


def test_the_site_labelled_pairs(model, site_questions):
    rows = [line.split("\t") for line in (Path(__file__).parent / "data" / "site_pairs.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    assert len(rows) == 45
    tp = fp = fn = 0
    for label, a, b in rows:
        hit = score(model, site_questions[a], site_questions[b]) >= THRESHOLD
        tp += hit and label == "same"
        fp += hit and label != "same"
        fn += not hit and label == "same"
    precision = tp / max(tp + fp, 1)
    print(f"site pairs: precision {precision:.2f}, recall {tp / (tp + fn):.2f} ({tp} of {tp + fn} rewordings)")
    assert precision >= 0.8 and tp >= 5


def test_a_search_of_the_whole_site_visits_few_questions(model, site_questions):
    """`similar` looks only at questions that share a rarer term: a small share of the site."""
    query = S.terms("Why would you use a try/except statement in Python?")
    rare = [t for t in set(query) if 0 < model.df.get(t, 0) <= model._common]
    visited = {i for t in rare for i in model.postings.get(t, ())}
    assert rare and len(visited) < 0.05 * model.n
    [hit] = model.search("Why would you use a try/except statement in Python?", limit=1)
    assert hit.score >= THRESHOLD


def test_all_pairs_are_the_pairs_each_cosine_gives():
    """`cross` drops a candidate pair before scoring it when its rare terms' part plus the most its common terms
    could add (Cauchy-Schwarz) stays under the threshold: what it finds is exactly what scoring every candidate
    pair finds. Questions here share common terms heavily (five words in two of every five questions), so the
    bound is often close to the score; a few have no rare term at all."""
    import random

    rng = random.Random(7)
    common = ["energi", "system", "process", "cell", "market"]
    rare = [f"rare{i}" for i in range(40)]
    lists = []
    for n in range(300):
        words = rng.sample(common, rng.choice([1, 2, 3])) * rng.choice([1, 2])
        if n % 25:  # every 25th question has only common terms
            words += rng.sample(rare, rng.choice([1, 2]))
        lists.append(words)
    model = S.Model(lists)
    assert all(model.df[t] > model._common for t in common) and all(model.df[t] <= model._common for t in rare)

    def rare_of(v):
        return {t for t in v if model.df.get(t, 0) <= model._common}

    def expected(left, right, threshold, upper):
        out = {}
        for a, va in enumerate(left):
            for b, vb in enumerate(right):
                if upper and a >= b:
                    continue
                shares_rare = bool(rare_of(va) & rare_of(vb))
                bare = (not rare_of(va) or upper and not rare_of(vb)) and set(va) & set(vb)
                score = 100.0 * sum(w * vb.get(t, 0.0) for t, w in va.items())
                if (shares_rare or bare) and score + 1e-9 >= threshold:
                    out[(a, b)] = score
        return out

    outside = [model.vector(rng.sample(common, 2) + rng.sample(rare, 1)) for _ in range(40)]
    for threshold in (30.0, 55.0, 80.0):
        for left, right, upper in ((model.vectors, model.vectors, True), (outside, model.vectors, False),
                                   (outside, outside, True)):
            found = {(a, b): score for a, b, score in model.cross(left, right, threshold, upper=upper)}
            want = expected(left, right, threshold, upper)
            assert found.keys() == want.keys(), (threshold, upper, len(found), len(want))
            assert all(abs(found[k] - min(100.0, want[k])) <= 0.051 for k in want)
            assert want  # each case has pairs to find
