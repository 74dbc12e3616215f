"""Content lint: what a reviewer should look at before a page goes live, each rule with an id and level.

Rules can be disabled or given another level in the config:
    [lint]
    disable = ["QT002"]
    levels = { QT001 = "error" }
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from ..config import Config
from ..format.page import Page
from ..format.validate import ERROR, WARNING
from .caseless import Caseless
from .rules import LIST as _LIST, MATH as _MATH, words_of
from .prompt_text import _addresses_grader, _prompt_leak
from .rules import _cut_off, _debris, _description_shape, _keyword_junk, _markup, _off_topic, _repetition



@dataclass
class Finding:
    path: str
    rule: str
    name: str
    level: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.level}: {self.rule} {self.name}: {self.message}"


@dataclass
class Rule:
    id: str
    name: str
    level: str
    check: Callable[[Page, Config], str | None]
    doc: str = ""  # what it finds, for the reference (docs/reference/lint-rules.md is generated from this table)


_CHATTER_PHRASES = ("as an ai", "as a language model", "i cannot", "i can't", "i'm sorry", "i am sorry",
                    "sure, here is", "sure! here", "here is the json", "i hope this helps", "let me know if",
                    "feel free to ask")
_CHATTER = Caseless(
    r"\b(as an ai\b|as a language model|i cannot\b|i can't\b|i'm sorry\b|i am sorry\b|sure, here is|sure! here|"
    r"here is the json|i hope this helps|let me know if|feel free to ask)", needs=_CHATTER_PHRASES)
_LATEX_N = re.compile(r"\\n(u|eq|e|abla|ot|otin|eg|ewline|i|less|gtr|leq|geq|mid|parallel|subseteq|supseteq|"
                      r"atural|earrow|warrow|ewcommand|oindent|olimits|onumber|ormalsize|exists)(?![A-Za-z])")
_HTML = Caseless(r"<\s*(script|iframe|style|object|embed|form|input|link|meta)\b|\bon[a-z]+\s*=\s*[\"']",
                 needs=("<", "="))
_TEMPLATE = re.compile(r"\{\{-?\s*[A-Za-z_][\w.]*\s*-?\}\}|\{%-?\s*[a-z]+|\{\{\s*$|^\s*\}\}")


def words(page: Page) -> int:
    return len(words_of(page.decoded_answer()))


def _length(page: Page, cfg: Config) -> str | None:
    n = words(page)
    lo, hi = cfg.lint_words
    return None if lo <= n <= hi else f"answer has {n} words, outside {lo}..{hi}"


def _no_list(page: Page, cfg: Config) -> str | None:
    return None if _LIST.search(page.decoded_answer()) else "answer has no numbered or bulleted list"


def _no_closing(page: Page, cfg: Config) -> str | None:
    blocks = [b.strip() for b in page.decoded_answer().split("\n\n") if b.strip()]
    if not blocks:
        return "answer is empty"
    last = blocks[-1]
    if _LIST.match(last) or last.startswith(("#", "```", "|", "$$")):
        return "answer ends without a closing paragraph"
    return None


def _chatter(page: Page, cfg: Config) -> str | None:
    m = _CHATTER.search(page.decoded_answer())
    return f"refusal or assistant chatter: {m.group(0)!r}" if m else None


def _fences(page: Page, cfg: Config) -> str | None:
    text = page.decoded_answer()
    fences = len(re.findall(r"^\s*```", text, re.M))
    if fences % 2:
        return f"unbalanced code fences ({fences} ```)"
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    if outside_code.count("$$") % 2:
        return f"unbalanced display math ({outside_code.count('$$')} $$)"
    return None


def _latex_n(page: Page, cfg: Config) -> str | None:
    from ..format.text import in_stored_math

    if "$" not in page.answer:
        return None  # no math span: no command in one

    spans: list[str] = []
    in_stored_math(page.answer, lambda m: spans.append(m.group(0)) or m.group(0))
    found = sorted({"\\n" + m.group(1) for span in spans for m in _LATEX_N.finditer(span)})
    return f"LaTeX command(s) {', '.join(found)} start with \\n, which the site decodes as a newline" if found else None


def _html(page: Page, cfg: Config) -> str | None:
    m = _HTML.search(page.decoded_answer())
    return f"raw HTML: {m.group(0)!r}" if m else None


def _template(page: Page, cfg: Config) -> str | None:
    text = " ".join((page.decoded_answer(), page.seo.page_description, page.seo.page_keywords))
    if "{{" not in text and "{%" not in text and "}}" not in text:
        return None  # what every template text holds (taking math out puts a space where it was: makes none)
    m = _TEMPLATE.search(_MATH.sub(" ", text))  # LaTeX braces such as \frac{a}{b}} are not template text
    return f"leftover template text: {m.group(0)!r}" if m else None


def _description(page: Page, cfg: Config) -> str | None:
    n = len(page.seo.page_description)
    return None if cfg.desc_min <= n <= cfg.desc_max else f"description has {n} characters, outside {cfg.desc_min}..{cfg.desc_max}"


def _keywords(page: Page, cfg: Config) -> str | None:
    n = len([t for t in page.seo.page_keywords.split(",") if t.strip()])
    return None if cfg.kw_min <= n <= cfg.kw_max else f"{n} keywords, outside {cfg.kw_min}..{cfg.kw_max}"


_MATH_MEMO = 256  # answers whose math problems are kept (a group of pages is prepared at once)
_math_memo: OrderedDict[str, list] = OrderedDict()
_math_lock = threading.Lock()  # the studio checks drafts in several threads


def _math_problems(markdown: str):
    with _math_lock:
        found = _math_memo.get(markdown)
    if found is None:
        found = _remember_math([markdown])[0]
    return found


def prepare_math(markdowns: list[str]) -> None:
    """Find the math problems of these answers together (their math typeset in one call into KaTeX), for the
    math rules to read: prepare a group of pages, then lint each."""
    with _math_lock:
        missing = list(dict.fromkeys(m for m in markdowns if m not in _math_memo))[:_MATH_MEMO]
    _remember_math(missing)


def _remember_math(markdowns: list[str]) -> list[list]:
    from ..site.sitemath import problems_many

    found = problems_many(markdowns) if markdowns else []
    with _math_lock:
        for markdown, problems in zip(markdowns, found):
            _math_memo[markdown] = problems
        while len(_math_memo) > _MATH_MEMO:
            _math_memo.popitem(last=False)
    return found


_MATH_CHECKS: set = set()  # the checks that read `_math_problems`: worth preparing a group's math for


def _math_rule(kind: str) -> Callable[[Page, Config], str | None]:
    def math_check(page: Page, cfg: Config) -> str | None:
        found = [p for p in _math_problems(page.decoded_answer()) if p.kind == kind]
        if not found:
            return None
        return found[0].message + (f" (+{len(found) - 1} more)" if len(found) > 1 else "")
    _MATH_CHECKS.add(math_check)
    return math_check


RULES = [
    Rule("QT001", "answer-length", WARNING, _length,
         "The answer has fewer or more words than `lint_words` (150 to 650)."),
    Rule("QT002", "no-list", WARNING, _no_list,
         "The answer has no numbered or bulleted list."),
    Rule("QT003", "no-closing", WARNING, _no_closing,
         "The answer ends without a closing paragraph (on a list, a heading, code, a table or math)."),
    Rule("QT004", "chatter", ERROR, _chatter,
         "Model chatter: \"as an AI\", \"sure, here is\", \"I hope this helps\"..."),
    Rule("QT005", "unbalanced", ERROR, _fences,
         "Unbalanced code fences or `$$` math blocks."),
    Rule("QT006", "latex-backslash-n", ERROR, _latex_n,
         "A literal `\\n` inside math: an escape the model left, which KaTeX shows as a command."),
    Rule("QT007", "raw-html", ERROR, _html,
         "Raw HTML in the answer."),
    Rule("QT008", "template-text", ERROR, _template,
         "Leftover template text (`{{ }}`, `{% %}`) in the answer or the SEO fields."),
    Rule("QT009", "description-bounds", WARNING, _description,
         "`page_description` outside `desc_min`..`desc_max` characters."),
    Rule("QT010", "keyword-count", WARNING, _keywords,
         "`page_keywords` outside `kw_min`..`kw_max` terms."),
    # how the site renders math (react-markdown + remark-math + rehype-katex): see qtgen.site.sitemath
    Rule("QT012", "currency-as-math", ERROR, _math_rule("currency"),
         "Dollar amounts the site's remark-math would read as math."),
    Rule("QT013", "katex-error", ERROR, _math_rule("katex-error"),
         "Math KaTeX cannot render: the site would show an error."),
    Rule("QT014", "percent-in-math", ERROR, _math_rule("percent"),
         "A `%` inside math, which starts a TeX comment and hides the rest."),
    Rule("QT015", "unclosed-math-block", ERROR, _math_rule("unclosed"),
         "A math block that is never closed."),
    Rule("QT016", "unicode-in-math", WARNING, _math_rule("unicode"),
         "Unicode symbols inside math that KaTeX warns about."),
    # the quality gate: what a weak model leaves behind
    Rule("QT017", "debris", ERROR, _debris,
         "Debris of JSON, templates or prompts in the answer."),
    Rule("QT018", "repetition", ERROR, _repetition,
         "Sentences or paragraphs repeated."),
    Rule("QT019", "cut-off", ERROR, _cut_off,
         "The answer, a paragraph or a list item cut off (ending on an article, a conjunction or a preposition)."),
    Rule("QT020", "keyword-junk", ERROR, _keyword_junk,
         "Keywords that are not words."),
    Rule("QT021", "description-shape", ERROR, _description_shape,
         "A description cut off: ending mid-phrase or in \"…\"."),
    Rule("QT022", "off-topic", ERROR, _off_topic,
         "An answer that never mentions what the question asks."),
    Rule("QT023", "unsafe-markup", ERROR, _markup,
         "Markup the site would not show (anything its allow-list removes)."),
    Rule("QT024", "prompt-leak", ERROR, _prompt_leak,
         "The answer repeats its prompt's instructions."),
    Rule("QT025", "addresses-grader", ERROR, _addresses_grader,
         "The answer addresses a grader or a judge."),
]
DUPLICATE = Rule("QT011", "duplicate-question", WARNING, lambda page, cfg: None,
         "Another page or draft asks the same question (checked across the whole queue at once).")


def check_settings(cfg: Config) -> None:
    """The [lint] settings name known rules (by id or name) and levels; InputError naming the first that does not."""
    from ..errors import InputError

    known = {r.id for r in RULES + [DUPLICATE]} | {r.name for r in RULES + [DUPLICATE]}
    disable = cfg.lint.get("disable", [])
    levels = cfg.lint.get("levels", {})
    if not isinstance(disable, list) or not all(isinstance(x, str) for x in disable):
        raise InputError("config: [lint] disable must be a list of rule ids, such as [\"QT002\"]")
    if not isinstance(levels, dict):
        raise InputError("config: [lint] levels maps a rule id to \"error\" or \"warning\"")
    for rule in [*disable, *levels]:
        if rule not in known:
            raise InputError(f"config: [lint] names an unknown rule {rule!r} (the rules are QT001..{RULES[-1].id}, "
                             "by id or name)")
    for rule, level in levels.items():
        if level not in (ERROR, WARNING):
            raise InputError(f"config: [lint] levels.{rule} = {level!r}: use \"error\" or \"warning\"")


def active_rules(cfg: Config) -> list[Rule]:
    check_settings(cfg)
    disabled = set(cfg.lint.get("disable", []))
    levels = cfg.lint.get("levels", {})
    out = []
    for rule in RULES + [DUPLICATE]:
        if rule.id in disabled or rule.name in disabled:
            continue
        level = levels.get(rule.id) or levels.get(rule.name) or rule.level
        out.append(Rule(rule.id, rule.name, level, rule.check))
    return out


def lint_page(page: Page, cfg: Config, path: str = "", index=None, rules: list[Rule] | None = None) -> list[Finding]:
    """Every finding for one page; with an index, also a question another published page asks (`lint_paths`
    finds those for many pages at once). `rules`: `active_rules(cfg)`, if the caller has them."""
    out = []
    for rule in active_rules(cfg) if rules is None else rules:
        if rule.id == DUPLICATE.id:
            message = _duplicate(page, cfg, index) if index is not None else None
        else:
            message = rule.check(page, cfg)
        if message:
            out.append(Finding(path, rule.id, rule.name, rule.level, message))
    return out


def _duplicate(page: Page, cfg: Config, index) -> str | None:
    return duplicate_message(page.question, index.similar(page.question, limit=3, threshold=cfg.similar_threshold))


def duplicate_message(question: str | None, similar, path: str | None = None) -> str | None:
    """QT011's message for a page asking `question` (at `path`, if indexed), given the questions found asking
    the same: another published page asking it in other words. The very same question under another subject is
    the site's own design (one intended group, as `qtgen duplicates` shows it), not a finding."""
    own = (question or "").strip().casefold()
    for match in similar:
        e = match.entry
        if e.source == "content" and e.path != path and e.question.strip().casefold() != own:
            return f"the published page {e.url} asks the same ({match.score:.0f}/100): {e.question!r}"
    return None


PARALLEL_FROM = 400  # pages to lint afresh before the work is shared among the machine's cores


def _lint_files(cfg: Config, files: list[tuple[str, bytes | None]]) -> list[tuple[str, list | None, str | None]]:
    """Every finding but QT011 for these files, judged on exactly the bytes given (those whose hash keys the
    stored result): (name, [rule, name, level, message]..., or the reason it holds no page)."""
    from ..errors import ParseError
    from ..format.reader import parse

    rules = active_rules(cfg)
    math = any(rule.check in _MATH_CHECKS for rule in rules)
    out = []
    for start in range(0, len(files), _GROUP):
        group: list[tuple[str, Page | None, str | None]] = []
        for name, data in files[start:start + _GROUP]:
            if data is None:
                group.append((name, None, "cannot be read"))
                continue
            try:
                group.append((name, parse(data.decode("utf-8")), None))
            except UnicodeDecodeError as exc:
                group.append((name, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"))
            except ParseError as exc:
                group.append((name, None, str(exc)))
        if math:  # the group's math typeset at once
            prepare_math([page.decoded_answer() for _, page, _ in group if page is not None])
        for name, page, error in group:
            if page is None:
                out.append((name, None, error))
                continue
            found = lint_page(page, cfg, name, None, rules)
            out.append((name, [[f.rule, f.name, f.level, f.message] for f in found], None))
    return out


_GROUP = 64  # pages whose math is typeset at once


def _lint_fresh(files: list[tuple[str, bytes | None]], cfg: Config,
                workers: int | None = None) -> list[tuple[str, list | None, str | None]]:
    """`_lint_files`, shared among processes when there are many (each page's checks are its own)."""
    from . import pool

    return pool.map_items(_lint_files, cfg, files, least=PARALLEL_FROM, smallest=50, processes=workers)


def lint_paths(paths: list[Path], cfg: Config, index=None, store=None) -> tuple[int, list[Finding]]:
    """Lint files and folders. Each file's findings (all but QT011, which depends on the other pages and is found
    for all at once) are kept in `store` (an `Assessments`) by the file's bytes and the settings, so linting an
    unchanged tree again reads and hashes it, and re-checks nothing; files to check afresh are shared among
    the machine's cores."""
    from ..format.files import expand, inside
    from .findings import fingerprint, key_of

    files = expand(paths)
    names = [str(p) for p in files]
    findings: list[Finding] = []
    long_descriptions: list[tuple[int, str]] = []
    stamp = fingerprint(cfg)
    keys: dict[str, str] = {}
    contents: dict[str, bytes | None] = {}
    for name in names:
        try:
            with open(name, "rb") as fh:
                contents[name] = fh.read()
            keys[name] = key_of(stamp, "lint", contents[name], None)  # no rule reads the path: kept by the bytes
        except OSError:
            contents[name] = None
    stored = store.get_many(list(keys.values())) if store is not None else {}
    # a question another page asks: for the pages the index knows, every match at once (one sparse product),
    # found here while the other rules run in the worker processes
    duplicate = next((r for r in active_rules(cfg) if r.id == DUPLICATE.id), None) if index is not None else None
    import os

    from . import pool

    indexed = {name: os.path.abspath(name) for name in names}  # as the index names its files
    known = pool.Beside(lambda: index.matches_of(list(indexed.values()), cfg.similar_threshold)) \
        if duplicate is not None else None
    fresh = _lint_fresh([(n, contents[n]) for n in names if keys.get(n) not in stored], cfg)
    contents.clear()
    found_by_name = {name: (rows, error) for name, rows, error in fresh}
    if store is not None:
        store.put_many({keys[n]: {"findings": rows, "error": error} for n, rows, error in fresh if n in keys})
        store.touch(list(stored))
    for name in names:
        if name in found_by_name:
            continue
        data = stored[keys[name]]
        found_by_name[name] = (data["findings"], data["error"])
    known = known.result() if known is not None else {}
    in_content: dict[str, bool] = {}
    for path, name in zip(files, names):
        rows, error = found_by_name[name]
        if rows is None:
            findings.append(Finding(name, "QT000", "unreadable", ERROR, error or "cannot be read"))
            continue
        found = [Finding(name, *row) for row in rows]
        if duplicate is not None:
            page = None
            if indexed[name] in known:
                message = duplicate_message(index.question_at(indexed[name]), known[indexed[name]], indexed[name])
            else:  # not in the index (a file outside the site): searched alone
                from ..format.reader import read

                page = read(path)
                message = _duplicate(page, cfg, index)
            if message:
                found.append(Finding(name, duplicate.id, duplicate.name, duplicate.level, message))
        folder = os.path.dirname(name)
        if folder not in in_content:  # asked once per folder, not per file
            in_content[folder] = inside(Path(folder or "."), cfg.content)
        if in_content[folder]:  # the site's many long descriptions: one summary, not a warning each
            long_descriptions += [(_described(f.message), name) for f in found if f.rule == "QT009"]
            found = [f for f in found if f.rule != "QT009"]
        findings.extend(found)
    if long_descriptions:
        rule = next(r for r in active_rules(cfg) if r.id == "QT009")
        longest = max(long_descriptions)
        findings.append(Finding(str(cfg.content), rule.id, rule.name, rule.level,
                                f"{len(long_descriptions)} published page(s) have a description outside "
                                f"{cfg.desc_min}..{cfg.desc_max} characters (longest {longest[0]}: {longest[1]}); "
                                "qtgen fix --rule QT009 cuts the long ones"))
    return len(files), findings


def _described(message: str) -> int:
    """The description's length a QT009 message gives."""
    m = re.search(r"description has (\d+) characters", message)
    return int(m.group(1)) if m else 0
