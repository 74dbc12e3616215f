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
