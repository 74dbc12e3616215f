"""The quality gate's rules on prompt text: an answer that repeats its prompt's instructions (QT024), or addresses
the grader that will read it (QT025). `lint` runs them with the other rules of the gate (`rules`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..config import Config
from ..format.page import Page
from .rules import MATH, WORDS, _without_code, words_of

_STOPWORDS = set("a an the of to in on for and or is are be it its as at by with from this that these those "
                 "each which what how one your you".split())
_TEMPLATE_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_SENTENCES = re.compile(r"(?<=[.!?:])\s+|\n+")


def _stretches(words: list[str], vocabulary: frozenset) -> list[list[str]]:
    """The runs of three or more words in a row that are all in `vocabulary`."""
    mask = bytes([w in vocabulary for w in words])
    return [words[m.start():m.end()] for m in _RUN_OF_THREE.finditer(mask)]


_RUN_OF_THREE = re.compile(rb"\x01{3,}")


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return set(zip(*(words[i:] for i in range(n))))


def _lower_words(words: list[str]) -> list[str]:
    """Each word lower-cased (as one string: no word holds a space, and lower() sees each word apart)."""
    return " ".join(words).lower().split(" ") if words else []


@lru_cache(maxsize=16)
def _prompt_grams(folders: tuple[str, ...]) -> tuple[frozenset, frozenset, frozenset]:
    """The 3-word and 6-word runs of the prompt templates' own text (what they say whatever the question), and
    the words of those runs."""
    three: set = set()
    six: set = set()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.j2")):
            if path.name in NOT_DRAFTING:
                continue
            try:
                literal = _TEMPLATE_SYNTAX.sub("\n", path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            for line in literal.splitlines():
                words = [w.lower() for w in WORDS.findall(line)]
                three |= {g for g in _grams(words, 3) if sum(w not in _STOPWORDS for w in g) >= 2}
                six |= _grams(words, 6)
    return frozenset(three), frozenset(six), frozenset(w for g in three | six for w in g)


NOT_DRAFTING = frozenset({"same_question.j2", "judge.j2", "suggest.j2"})  # templates that never write an answer: not a prompt an answer repeats


@lru_cache(maxsize=16)
def _prompt_folders(site_prompts: str) -> tuple[str, ...]:
    from ..llm.prompts import packaged_prompts

    return tuple(str(f) for f in (Path(site_prompts), packaged_prompts()) if f.is_dir())


def _prompt_leak(page: Page, cfg: Config) -> str | None:
    """The model repeating the instructions it was given ("2. Explanation in a numbered list with bold text...
    followed by three key points"): a sentence holding a 6-word run of a prompt template, or two of its
    3-word phrases. Words of the question and subject are not the prompt's."""
    three, six, vocabulary = _prompt_grams(_prompt_folders(str(cfg.prompts)))
    asked = {w.lower() for w in WORDS.findall(f"{page.question} {page.subject}")}
    text = MATH.sub(" ", _without_code(page.decoded_answer()))
    # every sentence's runs are runs of the whole text: where the whole text has too few, no sentence has more;
    # and a run of the prompt's is a run of its words: only stretches of the text made of them are looked at
    stretches = _stretches(_lower_words(list(words_of(text))), vocabulary)
    grams3 = set().union(*(_grams(words, 3) for words in stretches))
    anywhere = [g for g in grams3 & three if not set(g) <= asked | _STOPWORDS]
    six_found = any(_grams(words, 6) & six for words in stretches if len(words) >= 6)
    if not six_found and (len(anywhere) < 2 or len({w for g in anywhere for w in g} - _STOPWORDS) < 4):
        return None
    for sentence in _SENTENCES.split(text):
        words = _lower_words(WORDS.findall(sentence))
        if len(words) < 3:
            continue
        found = sorted(g for g in _grams(words, 3) & three if not set(g) <= asked | _STOPWORDS)
        long = _grams(words, 6) & six
        if long or len({w for g in found for w in g} - _STOPWORDS) >= 4 and len(found) >= 2:
            shown = " ".join(sorted(long)[0]) if long else "; ".join(" ".join(g) for g in found[:2])
            return f"the answer repeats the prompt's instructions ({shown!r}) in {sentence.strip()[:70]!r}"
    return None


# words an answer would only say to whoever grades it: an attempt to steer the judge (or a reviewer) from inside
_GRADER = re.compile(
    r"\b(?:(?:ignore|disregard|forget) (?:all |any |the )?(?:previous|prior|above|earlier|preceding|other) "
    r"(?:instructions|rules|rubric|prompts?)|(?:note|message|instructions?) (?:to|for) (?:the )?(?:grader|judge|"
    r"evaluator|marker|reviewer|ai|model|llm|assistant)|(?:dear|hello|hi),? (?:grader|judge|evaluator|"
    r"marker|ai|model)|you are (?:now )?(?:grading|evaluating|judging|marking|the (?:grader|judge|evaluator))|"
    r"(?:grade|score|rate|mark) this (?:answer|response|page) (?:as|with|a|an|at|5|100)|(?:give|award|assign) "
    r"(?:this|the) (?:answer|response) (?:a |an |full |top |the )?(?:score|grade|marks|pass|5|100)|"
    r"(?:grader|judge|evaluator)s?\s*:|end of (?:the )?answer\b|={5} answer\b|"
    r"this answer (?:is|should be (?:graded|scored|rated)) (?:perfect|flawless|fully correct|a 5|5/5|100/100))",
    re.I)
_GRADER_HINTS = ("grad", "judg", "evaluat", "instruction", "score", "rate this", "mark", "answer", "rubric")


def _addresses_grader(page: Page, cfg: Config) -> str | None:
    """An answer that speaks to whoever grades it ("ignore the rubric", "judge: this is correct"): it may be trying
    to steer the judge; a person reads it."""
    text = page.decoded_answer()
    lower = text.lower()
    if not any(h in lower for h in _GRADER_HINTS):
        return None
    m = _GRADER.search(text)
    if m:
        return f"the answer addresses its grader ({m.group(0)[:60]!r}): an attempt to steer the judge"
    return None
