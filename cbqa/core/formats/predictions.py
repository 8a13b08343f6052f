"""Prediction files: `{"id", "question", "prediction", "answers", ...extra}`, one file per system."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_jsonl, write_jsonl


@dataclass
class Prediction:
    id: str
    question: str
    prediction: str
    answers: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id, "question": self.question, "prediction": self.prediction}
        if self.answers is not None:
            row["answers"] = self.answers
        row.update(self.extra)
        return row


def read_predictions(path: str | Path) -> list[Prediction]:
    out: list[Prediction] = []
    seen: set[str] = set()
    for line, obj in read_jsonl(path):
        pid, pred = obj.get("id"), obj.get("prediction")
        if pid is None:
            raise DataError(path, line, "missing 'id'")
        if not isinstance(pid, (str, int)) or isinstance(pid, bool):
            raise DataError(path, line, f"'id' must be a string or integer, got {type(pid).__name__}")
        question = obj.get("question", "")
        if not isinstance(question, str):
            raise DataError(path, line, f"'question' must be a string, got {type(question).__name__}")
        if pred is None:
            raise DataError(path, line, "missing 'prediction'")
        if not isinstance(pred, str):
            raise DataError(path, line, f"'prediction' must be a string, got {type(pred).__name__}")
        answers = obj.get("answers", obj.get("answer"))
        if answers is not None and (
            not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers)
        ):
            raise DataError(path, line, "'answers' must be a non-empty list of strings")
        if str(pid) in seen:
            raise DataError(path, line, f"duplicate id {pid!r}")
        seen.add(str(pid))
        extra = {k: v for k, v in obj.items() if k not in {"id", "question", "prediction", "answers", "answer"}}
        out.append(Prediction(str(pid), question, pred, answers, extra))
    return out


def write_predictions(path: str | Path, preds: Iterable[Prediction]) -> int:
    return write_jsonl(path, (p.to_json() for p in preds))
