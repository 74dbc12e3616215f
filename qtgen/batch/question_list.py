"""Question lists for `qtgen batch`: CSV/TSV with a header, JSONL, or plain text, one question a line.

UTF-8 with or without BOM; blank lines and lines starting with # are skipped. Every problem names
the file, the line and what is wrong, and is reported for that line alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..format.text import normalise_question, normalise_subject

COLUMNS = ("question", "subject", "id", "date")
MAX_ID = 2**63 - 1  # what SQLite and the site's YAML reader hold


@dataclass
class Row:
    line: int
    question: str
    subject: str
    page_id: int | None = None
    date: dt.date | None = None


@dataclass
class BadLine:
    file: str
    line: int
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "text")


def _decode(path: Path) -> str:
    from ..format.files import read_bounded

    data = read_bounded(path, what="question list")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8") from None


def _skip(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _row(file: str, line: int, values: dict, default_subject: str | None, bad: list[BadLine]) -> Row | None:
    try:
        question = normalise_question(str(values.get("question") or ""))
        subject = normalise_subject(str(values.get("subject") or default_subject or ""))
        raw_id = values.get("id")
        page_id = None
        if raw_id not in (None, ""):
            try:
                page_id = int(str(raw_id).strip())
            except ValueError:
                raise InputError(f"id: {raw_id!r} is not a whole number") from None
            if not 1 <= page_id <= MAX_ID:
                raise InputError(f"id: {page_id} is outside 1..{MAX_ID}")
        raw_date = values.get("date")
        date = None
        if raw_date not in (None, ""):
            try:
                date = dt.date.fromisoformat(str(raw_date).strip())
            except ValueError:
                raise InputError(f"date: {raw_date!r} is not YYYY-MM-DD") from None
    except InputError as exc:
        bad.append(BadLine(file, line, str(exc)))
        return None
    return Row(line, question, subject, page_id, date)


def read_questions(path: Path, default_subject: str | None = None) -> tuple[list[Row], list[BadLine]]:
    """The usable rows and the bad lines of a question file; InputError if the file cannot be read at all."""
    path = Path(path)
    text = _decode(path)
    kind = kind_of(path)
    name = str(path)
    rows: list[Row] = []
    bad: list[BadLine] = []
    lines = text.splitlines()
    if kind in ("csv", "tsv"):
        numbered = [(n, line) for n, line in enumerate(lines, 1) if not _skip(line)]
        if not numbered:
            raise InputError(f"{name}: no header line and no questions")
        # no field is longer than the file: a long one is a bad line (question too long), never the end of the list
        csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
        reader = csv.reader(io.StringIO("\n".join(line for _, line in numbered)), delimiter="\t" if kind == "tsv" else ",",
                            strict=True)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except csv.Error as exc:
            raise InputError(f"{name}:{numbered[0][0]}: broken header ({exc})") from None
        if "question" not in header:
            raise InputError(f"{name}:{numbered[0][0]}: the header has no 'question' column (has: {', '.join(header)})")
        if "subject" not in header and not default_subject:
            raise InputError(f"{name}:{numbered[0][0]}: the header has no 'subject' column; add one or pass --subject")
        while True:
            begin = reader.line_num  # the next record starts on the line after those read so far
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                at = numbered[min(begin, len(numbered) - 1)][0]
                bad.append(BadLine(name, at, f"broken CSV in the record starting here ({exc}); "
                                             "lines after it were not read"))
                break  # the csv module cannot resynchronise after a broken quote
            at = numbered[min(reader.line_num, len(numbered)) - 1][0]
            if len(record) != len(header):
                bad.append(BadLine(name, at, f"{len(record)} fields, the header has {len(header)}"))
                continue
            row = _row(name, at, dict(zip(header, record)), default_subject, bad)
            if row:
                rows.append(row)
    elif kind == "jsonl":
        for n, line in enumerate(lines, 1):
            if _skip(line):
                continue
            try:
                values = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append(BadLine(name, n, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            if not isinstance(values, dict):
                bad.append(BadLine(name, n, "not a JSON object with a 'question' key"))
                continue
            row = _row(name, n, {k.lower(): v for k, v in values.items()}, default_subject, bad)
            if row:
                rows.append(row)
    else:
        if not default_subject:
            raise InputError(f"{name}: a plain-text list needs --subject for its questions")
        for n, line in enumerate(lines, 1):
            if _skip(line):
                continue
            row = _row(name, n, {"question": line}, default_subject, bad)
            if row:
                rows.append(row)
    return rows, bad
