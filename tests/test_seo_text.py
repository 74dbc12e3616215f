import re

import pytest

from qtgen.format import seo
from qtgen.errors import InputError
from qtgen.format.text import encode_answer, normalise_question, normalise_subject, plain_safe

B = seo.Bounds()


def test_question_is_trimmed_and_whitespace_collapsed():
    assert normalise_question("  What   is\tX?\n ") == "What is X?"


@pytest.mark.parametrize("bad, why", [("", "empty"), ("x" * 301, "over the limit"), ("a\x1bb", "U+001B"),
                                      ("a\u202eb", "U+202E"), ("a\x00b", "U+0000")])
def test_bad_questions(bad, why):
    with pytest.raises(InputError, match=re.escape(why)):
        normalise_question(bad)


def test_question_of_exactly_300_characters_is_accepted():
    assert len(normalise_question("q" * 300)) == 300


@pytest.mark.parametrize("bad", ["../../etc", "a/b", "a\\b", ".hidden", "Why: this", "#tag", ""])
def test_bad_subjects(bad):
    with pytest.raises(InputError):
        normalise_subject(bad)


def test_subject_kept_as_given():
    assert normalise_subject(" Art History  and Literature ") == "Art History and Literature"


def test_plain_safe_refuses_what_yaml_would_read_otherwise():
    assert plain_safe("What is X?")
    for text in ("yes", "No", "null", "123", "1e3", "2024-01-01", "a: b", "a #b", '"q"', "'q'", "x:", "-x", " x"):
        assert not plain_safe(text), text


def test_encode_answer_stores_newlines_as_backslash_n_and_strips_what_yaml_cannot_carry():
    out = encode_answer("\n\n  First line\r\nSecond\u2028Third\x07\tTab  \n\n")
    assert out == "First line\\nSecond\\nThird    Tab"
    assert "\n" not in out


def test_description_within_bounds_is_kept():
    d = "A clear description of the answer that is comfortably longer than seventy characters."
    out = seo.normalise(d, ["force", "mass", "motion", "energy", "work"], "answer", "Physics", "Q?", B)
    assert out.description == d and out.notes == []


def test_overlong_description_is_cut_at_a_word_boundary_without_dangling_punctuation():
    d = ("The World Trade Organization engages non-governmental organizations through briefings, symposia, "
         "online consultations, dispute settlement amicus briefs and a public forum held every year in Geneva")
    out = seo.normalise(d, ["a", "b", "c", "d", "e"], "x", "Economics", "Q?", B)
    assert len(out.description) <= 117
    # a clause with an ellipsis, never a fragment given a full stop
    assert out.description == "The World Trade Organization engages non-governmental organizations through briefings, symposia…"
    assert any("cut from" in n for n in out.notes)


@pytest.mark.parametrize("text, expected", [
    ("Tariffs are taxes on imports that raise prices for households. They also protect local producers from "
     "foreign competition in many markets.", "Tariffs are taxes on imports that raise prices for households."),
    ("WTO engagement with NGOs covers briefings and symposia and online consultations and amicus briefs and public "
     "forums in Geneva and more", "WTO engagement with NGOs covers briefings and symposia and online consultations "
     "and amicus briefs…"),  # the last clause that fits (before "and"), never a dangling "and"
])
def test_a_long_description_ends_on_a_sentence_or_an_ellipsis(text, expected):
    assert seo.cut(text, 117) == expected and len(expected) <= 117


def test_short_or_missing_description_is_derived_from_the_answer():
    answer = "**Tariffs** are taxes on imports. They raise prices for consumers and protect local producers from competition."
    out = seo.normalise(None, ["a", "b", "c", "d", "e"], answer, "Economics", "What is a tariff?", B)
    assert 70 <= len(out.description) <= 160
    assert out.description.startswith("Tariffs are taxes on imports.")
    assert any("gave none" in n for n in out.notes)


def test_keywords_deduplicated_case_insensitively_and_capped():
    raw = ["WTO", "wto", " NGOs ", "trade", "Trade", "outreach", "policy", ""] + [f"k{i}" for i in range(20)]
    out = seo.normalise("d" * 80, raw, "x", "Economics", "Q?", B)
    terms = out.keywords.split(", ")
    assert terms[:5] == ["WTO", "NGOs", "trade", "outreach", "policy"]
    assert len(terms) == 15
    assert len({t.lower() for t in terms}) == 15


def test_keywords_from_a_string_with_mixed_separators():
    out = seo.normalise("d" * 80, "alpha; beta,gamma\n delta , epsilon", "x", "S", "Q?", B)
    assert out.keywords == "alpha, beta, gamma, delta, epsilon"


def test_missing_keywords_derived_from_bold_terms_and_subject():
    answer = "Intro.\n\n1. **Comparative advantage**: x\n2. **Tariffs**: y\n\nIn summary, z."
    out = seo.normalise("d" * 80, [], answer, "Economics", "Why do countries trade?", B)
    terms = out.keywords.split(", ")
    assert terms[:3] == ["Comparative advantage", "Tariffs", "Economics"]
    assert len(terms) >= 5
    assert any("derived" in n for n in out.notes)


def test_latex_commands_starting_with_backslash_n_are_replaced():
    from qtgen.format.text import fix_latex_n

    text, fixed = fix_latex_n(r"$\nu \neq 0$, $\nabla f$, $a \not= b$, $x \not\in S$, $\neg p$ and $\frac{n}{2}$, \nuclear")
    assert text == r"$ν ≠ 0$, $∇ f$, $a ≠ b$, $x ∉ S$, $\lnot p$ and $\frac{n}{2}$, \nuclear"
    assert sorted(fixed) == sorted([r"\nu", r"\neq", r"\nabla", r"\not=", r"\not\in", r"\neg"])


def test_a_cut_description_never_falls_under_the_minimum():
    text = ("A linked list is a data structure of nodes. Each node holds a value and a pointer to the next node "
            "in the sequence of nodes that follow.")
    out = seo.cut(text, 117, 70)
    assert 70 <= len(out) <= 117 and out.endswith("…")


def test_a_description_with_no_sentence_that_fits_ends_its_main_clause_with_a_full_stop():
    answer = ("UNESCO played a pivotal role in managing cultural heritage during the relocation of the Nubian Temples, "
              "particularly in response to the threat posed by the construction of the Aswan High Dam, which flooded "
              "the region.\n\n### Key Aspects\n\n1. **Campaign**: it raised funds.")
    question = "What role did UNESCO play in managing cultural heritage during the relocation of Nubian Temples?"
    notes: list[str] = []
    out = seo.description(None, answer, B, notes, question)
    assert out == "UNESCO played a pivotal role in managing cultural heritage during the relocation of the Nubian Temples."
    assert 70 <= len(out) <= 117 and any("end of a clause" in n for n in notes)
