"""QA files: our JSONL, NQ-open JSONL (EfficientQA's too), DPR-style TSV, and the original JSON of TriviaQA,
WebQuestions (Berant et al.'s `utterance`/`targetValue`, or brmson's `qId`/`qText`/`answers`) and EntityQuestions
(a per-relation list of `question`/`answers`).

Every reader returns `QAExample`s; training uses the first answer, evaluation uses all of them. Ids are the file's
(`QuestionId`, `qId`, `id`) where it has them, else the row number.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import (
    BOM,
    expect_file,
    parse_json,
    parse_row,
    read_rows,
    read_text_lines,
    record_id,
    write_jsonl,
)


@dataclass
class QAExample:
    id: str
    question: str
    answers: list[str]
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "question": self.question, "answers": self.answers}
        if self.split is not None:
            row["split"] = self.split
        row.update(self.extra)
        return row


class QARow(BaseModel):
    """A QA JSONL line, ours or NQ-open's (`answer` for `answers`); other keys are kept as `QAExample.extra`."""

    model_config = ConfigDict(extra="allow")
    id: Any = None  # a string or an integer; absent: the row number
    question: StrictStr
    answers: list[StrictStr] = None  # type: ignore[assignment]  # absent is None, null is refused
    answer: list[StrictStr] = None  # type: ignore[assignment]
    split: StrictStr | None = None


def qa_example(row: QARow, path: Path, line: int, index: int, require_answers: bool = True) -> QAExample:
    """The example of a checked row. With `require_answers=False` (questions to predict), it may have no answers."""
    if not row.question.strip():
        raise DataError(path, line, "'question' is empty")
    key = "answers" if row.answers is not None else "answer" if row.answer is not None else None
    if key is None and require_answers:
        raise DataError(path, line, "missing 'answers' (or NQ-open 'answer')")
    answers = getattr(row, key) if key else []
    if key and not answers:
        raise DataError(path, line, f"'{key}' is an empty list")
    if not all(a.strip() for a in answers):
        raise DataError(path, line, f"'{key}' holds an empty answer")
    qid = record_id(row.id, path, line) if "id" in row.model_fields_set else str(index)
    return QAExample(id=qid, question=row.question, answers=answers, split=row.split, extra=dict(row.model_extra or {}))


def _read_our_jsonl(path: Path, require_answers: bool = True) -> Iterator[QAExample]:
    seen: dict[str, int] = {}
    for index, (line, _, row) in enumerate(read_rows(path, QARow)):
        ex = qa_example(row, path, line, index, require_answers)
        if ex.id in seen:
            raise DataError(path, line, f"duplicate id {ex.id!r} (first on line {seen[ex.id]})")
        seen[ex.id] = line
        yield ex


def _read_dpr_tsv(path: Path) -> Iterator[QAExample]:
    """DPR's `question<TAB>python-list-of-answers` files (e.g. nq-test.qa.csv); ids are row numbers."""
    for row, (line, text) in enumerate(read_text_lines(path)):
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        parts = text.split("\t")
        if len(parts) != 2:
            raise DataError(path, line, f"expected 2 tab-separated columns, got {len(parts)}")
        q, raw = parts
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"'):  # pandas-quoted cell
            raw = raw[1:-1].replace('""', '"')
        try:
            answers = ast.literal_eval(raw)  # literals only: safe, unlike eval
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            # TypeError: an unhashable set/dict key; MemoryError/RecursionError: nesting too deep for the parser
            raise DataError(path, line, "answers column is not a list literal") from None
        yield qa_example(parse_row(QARow, {"question": q, "answers": answers}, path, line), path, line, row)


_WEBQ_DESC = re.compile(r'\(description (?:"((?:[^"\\]|\\.)*)"|([^()\s]+))\)')


def _webquestions_answers(target: str) -> list[str]:
    """'(list (description "Jazmine Grayson") (description Mexico))' -> ['Jazmine Grayson', 'Mexico']"""
    return [(a or b).replace('\\"', '"') for a, b in _WEBQ_DESC.findall(target)]


def _read_json_document(path: Path, require_answers: bool = True) -> Iterator[QAExample]:
    """TriviaQA (`{"Data": [...]}`), WebQuestions (`[{"utterance", "targetValue"}]`, brmson's `[{"qId", "qText",
    "answers"}]`) and EntityQuestions (`[{"question", "answers"}]`) originals. `require_answers=False` reads a file
    without answers (TriviaQA's test-without-answers); its examples have `answers` []."""
    expect_file(path)
    raw = path.read_bytes()
    body = raw[len(BOM) :] if raw.startswith(BOM) else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, body[: e.start].count(b"\n") + 1, f"not valid UTF-8 ({e.reason})") from None
    doc = parse_json(text, path, None)
    if isinstance(doc, dict) and isinstance(doc.get("Data"), list):
        yield from _triviaqa(path, doc["Data"], require_answers)
        return
    first = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else {}
    if isinstance(doc, list) and (not doc or "utterance" in first):
        yield from _webquestions(path, doc)
        return
    if isinstance(doc, list) and "qText" in first:
        yield from _listed(path, doc, "qText", "answers", "qId")
        return
    if isinstance(doc, list) and "question" in first:
        yield from _listed(path, doc, "question", "answers", "id")
        return
    raise DataError(
        path,
        None,
        "unrecognised JSON: expected TriviaQA {'Data': [...]}, a WebQuestions list ('utterance' or 'qText') or an "
        "EntityQuestions list ('question', 'answers')",
    )


def _text_field(path: Path, where: str, item: dict[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str):
        raise DataError(path, None, f"{where}: '{key}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(path, None, f"{where}: '{key}' is empty")
    return value


def _triviaqa(path: Path, data: list[Any], require_answers: bool = True) -> Iterator[QAExample]:
    seen: set[str] = set()
    for row, item in enumerate(data):
        where = f"Data[{row}]"
        needed = ("Question", "Answer") if require_answers else ("Question",)
        if not isinstance(item, dict) or any(k not in item for k in needed):
            raise DataError(path, None, f"{where}: expected an object with {' and '.join(map(repr, needed))}")
        question = _text_field(path, where, item, "Question")
        qid = item.get("QuestionId", row)
        if not isinstance(qid, (str, int)) or isinstance(qid, bool):
            raise DataError(path, None, f"{where}: 'QuestionId' must be a string, got {type(qid).__name__}")
        if str(qid) in seen:
            raise DataError(path, None, f"{where}: duplicate QuestionId {str(qid)!r}")
        seen.add(str(qid))
        if "Answer" not in item:  # a test file without answers
            yield QAExample(str(qid), question, [])
            continue
        ans = item["Answer"]
        if not isinstance(ans, dict):
            raise DataError(path, None, f"{where}: 'Answer' must be an object, got {type(ans).__name__}")
        value, aliases = ans.get("Value", ""), ans.get("Aliases", [])
        if not isinstance(value, str) or not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise DataError(path, None, f"{where}: 'Answer' needs a string 'Value' and a list of string 'Aliases'")
        answers = list(dict.fromkeys(a for a in [value, *aliases] if a.strip()))
        if not answers:
            raise DataError(path, None, f"{where}: answer has no value or aliases")
        yield QAExample(str(qid), question, answers)


def _webquestions(path: Path, data: list[Any]) -> Iterator[QAExample]:
    for row, item in enumerate(data):
        where = f"[{row}]"
        if not isinstance(item, dict) or "utterance" not in item or "targetValue" not in item:
            raise DataError(path, None, f"{where}: expected an object with 'utterance' and 'targetValue'")
        question = _text_field(path, where, item, "utterance")
        target = _text_field(path, where, item, "targetValue")
        answers = [a for a in _webquestions_answers(target) if a.strip()]
        if not answers:
            raise DataError(path, None, f"{where}: no answers in targetValue {target[:80]!r}")
        yield QAExample(str(row), question, answers)


def _listed(path: Path, data: list[Any], question_key: str, answers_key: str, id_key: str) -> Iterator[QAExample]:
    """A JSON list of `{question_key, answers_key: [str, ...], id_key (optional)}` objects (brmson's WebQuestions,
    EntityQuestions)."""
    seen: set[str] = set()
    for row, item in enumerate(data):
        where = f"[{row}]"
        if not isinstance(item, dict) or question_key not in item or answers_key not in item:
            raise DataError(path, None, f"{where}: expected an object with {question_key!r} and {answers_key!r}")
        question = _text_field(path, where, item, question_key)
        answers = item[answers_key]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DataError(path, None, f"{where}: {answers_key!r} must be a list of strings")
        answers = [a for a in answers if a.strip()]
        if not answers:
            raise DataError(path, None, f"{where}: {answers_key!r} holds no answer")
        qid = item.get(id_key, row)
        if not isinstance(qid, (str, int)) or isinstance(qid, bool):
            raise DataError(path, None, f"{where}: {id_key!r} must be a string, got {type(qid).__name__}")
        if str(qid) in seen:
            raise DataError(path, None, f"{where}: duplicate {id_key} {str(qid)!r}")
        seen.add(str(qid))
        yield QAExample(str(qid), question, answers)


def iter_qa(path: str | Path, require_answers: bool = True) -> Iterator[QAExample]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv"}:
        return _read_dpr_tsv(path)
    if suffix == ".json":
        return _read_json_document(path, require_answers)
    return _read_our_jsonl(path, require_answers)


def read_qa(path: str | Path, split: str | None = None, require_answers: bool = True) -> list[QAExample]:
    """Read a QA file of any supported format; with `split`, keep only examples whose `split` matches.
    `require_answers=False` accepts JSONL rows without answers (questions to predict); their `answers` is []."""
    examples = list(iter_qa(path, require_answers))
    if split is not None:
        kept = [e for e in examples if e.split == split]
        if not kept:
            found = sorted({e.split for e in examples if e.split is not None})
            raise DataError(path, None, f"no examples with split={split!r} (splits present: {found or 'none'})")
        return kept
    return examples


def write_qa(path: str | Path, examples: Iterable[QAExample]) -> int:
    return write_jsonl(path, (e.to_json() for e in examples))
