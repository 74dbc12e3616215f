"""A small model's Markdown made readable: echoed labels, stray brackets, empty list headings, repeated paragraphs
and sentences, and (when cut off) an unfinished last sentence removed; what was removed is said."""

from __future__ import annotations

import re

_ECHO = re.compile(r"^\s*(\*\*)?(answer|response|question|assistant)(\*\*)?\s*:\s*(\*\*)?\s*", re.I)
_DEBRIS_LINE = re.compile(r"^[\s\[\]{}()\",:;`|]*$|^\s*\d+[.)]\s*$")  # stray brackets, an empty "3."
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_EMPTY_HEADING = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\*\*[^*]+(:\*\*|\*\*:)\s*$")
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*+])\s+\S")


def tidy_plain(text: str, cut_last: bool = False) -> tuple[str, str]:
    """A small model's Markdown made readable: no echoed "Answer:" label, no lines of stray brackets, no
    paragraph or sentence said twice, and (when cut off) no sentence left unfinished; (text, what was removed)."""
    removed = []
    lines = text.strip().split("\n")
    if lines and _ECHO.match(lines[0]):
        lines[0] = _ECHO.sub("", lines[0])
    kept_lines = [line for line in lines if not (line.strip() and _DEBRIS_LINE.match(line))]
    if len(kept_lines) != len(lines):
        removed.append(f"{len(lines) - len(kept_lines)} line(s) of stray brackets")
    headed = []
    for n, line in enumerate(kept_lines):  # "3. **Key points:**" with nothing under it: an empty heading
        after = next((x for x in kept_lines[n + 1:] if x.strip()), "")
        indent = len(line) - len(line.lstrip())
        if _EMPTY_HEADING.match(line) and (not after or len(after) - len(after.lstrip()) <= indent
                                           and _LIST_ITEM.match(after)):
            continue
        headed.append(line)
    if len(headed) != len(kept_lines):
        removed.append(f"{len(kept_lines) - len(headed)} empty list heading(s)")
    kept_lines = headed
    paragraphs, seen, seen_sentences = [], set(), set()
    dropped_p = dropped_s = 0
    for block in "\n".join(kept_lines).split("\n\n"):
        key = " ".join(block.lower().split())
        if not key:
            continue
        if key in seen:
            dropped_p += 1
            continue
        seen.add(key)
        if not block.lstrip().startswith(("|", "```", "$$", "#")) and "\n" not in block.strip():
            sentences = []
            for sentence in _SENTENCE_BREAK.split(block):
                skey = " ".join(sentence.lower().split())
                if len(skey.split()) >= 4 and skey in seen_sentences:
                    dropped_s += 1
                    continue
                seen_sentences.add(skey)
                sentences.append(sentence)
            block = " ".join(sentences)
            if not block.strip():
                continue
        paragraphs.append(block)
    if dropped_p:
        removed.append(f"{dropped_p} repeated paragraph(s)")
    if dropped_s:
        removed.append(f"{dropped_s} repeated sentence(s)")
    if cut_last and paragraphs:
        last = paragraphs[-1].rstrip()
        end = max(last.rfind(". "), last.rfind(".\n"), last.rfind("? "), last.rfind("! "))
        if last and last[-1] not in ".!?":
            kept = last[: end + 1] if end > 0 else ""
            if kept and not re.fullmatch(r"\s*(\d+[.)]|[-*+])\s*", kept):
                paragraphs[-1] = kept
            else:
                paragraphs.pop()  # nothing whole is left of it (a lone "3." is no item)
    return "\n\n".join(p.rstrip() for p in paragraphs).strip(), ", ".join(removed)
