"""Lewis et al.'s released QA-Overlap annotations, converted to our overlap rows.

The annotation file (`nq-annotations.jsonl`: `{"id": int, "labels": [...]}`) refers to questions by row
index in the DPR test file it was released with (`nq-test.qa.csv`), so the two are joined by row order,
and each annotation's `id` must equal its row number (checked, not assumed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_jsonl
from cbqa.core.formats.qa import QAExample
from cbqa.overlap.categories import decisions_from_labels, overlap_row


def read_label_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a labels file; every row needs a `labels` list of known labels."""
    rows = []
    for line, obj in read_jsonl(path):
        labels = obj.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise DataError(path, line, "'labels' must be a list of strings")
        try:
            decisions_from_labels(labels)
        except ValueError as e:
            raise DataError(path, line, str(e)) from None
        rows.append((line, obj))
    return rows


def released_overlap_rows(annotations: str | Path, test: Sequence[QAExample], test_path: str | Path) -> list[dict]:
    """Join released annotations to the DPR test file by row order; rows in our overlap schema."""
    rows = read_label_rows(annotations)
    if len(rows) != len(test):
        raise DataError(
            annotations,
            None,
            f"{len(rows)} annotations but {len(test)} questions in {test_path}; "
            "the annotations must be joined with the test file they were released with (e.g. nq-test.qa.csv)",
        )
    out = []
    for row_no, ((line, obj), ex) in enumerate(zip(rows, test)):
        if "id" in obj and str(obj["id"]) != str(row_no):
            raise DataError(annotations, line, f"id {obj['id']!r} is not the row number {row_no}: file out of order?")
        answer_overlap, question_overlap = decisions_from_labels(obj["labels"])
        # Labels are re-derived rather than copied, so `no_overlap` is added consistently; the six released
        # labels come back unchanged (checked in tests against the published counts).
        out.append(
            {**overlap_row(ex.id, ex.question, ex.answers, answer_overlap, question_overlap), "source": "released"}
        )
    return out


def question_key(question: str) -> str:
    """A question with everything but letters and digits dropped, lowercased: the same question in NQ-open's and in
    DPR's tokenisation ("what 's" / "what's") has one key."""
    return "".join(ch for ch in question.lower() if ch.isalnum())


def join_by_question(rows: Sequence[dict], test: Sequence[QAExample], labels_path: str | Path) -> list[dict]:
    """`rows` (overlap rows of another copy of the test set, e.g. released labels joined to `nq-test.qa.csv`) given the
    ids of `test`, matched by `question_key`; questions that occur several times match in order. Every question of
    `test` must find a row (a `test` that is a part of the labelled set is fine)."""
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(question_key(row["question"]), []).append(row)
    out = []
    for ex in test:
        candidates = by_key.get(question_key(ex.question))
        if not candidates:
            raise DataError(
                labels_path,
                None,
                f"no label for test question {ex.id!r} ({ex.question[:60]!r}); are the labels for this test set?",
            )
        row = candidates.pop(0)
        out.append({**row, "id": ex.id, "question": ex.question, "answers": ex.answers, "labelled_as": row["id"]})
    return out
