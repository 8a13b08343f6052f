"""Prediction files: `{"id", "question", "prediction", "answers", ...extra}`, one file per system."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_rows, record_id, write_jsonl


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


class PredictionRow(BaseModel):
    """A predictions JSONL line; other keys are kept as `Prediction.extra`."""

    model_config = ConfigDict(extra="allow")
    id: Any = None
    question: StrictStr = ""
    prediction: StrictStr
    answers: list[StrictStr] | None = None
    answer: list[StrictStr] | None = None


def read_predictions(path: str | Path) -> list[Prediction]:
    out: list[Prediction] = []
    seen: set[str] = set()
    for line, _, row in read_rows(path, PredictionRow):
        pid, answers = record_id(row.id, path, line), row.answers if "answers" in row.model_fields_set else row.answer
        if answers == []:
            raise DataError(path, line, "'answers' must be a non-empty list of strings")
        if pid in seen:
            raise DataError(path, line, f"duplicate id {row.id!r}")
        seen.add(pid)
        out.append(Prediction(pid, row.question, row.prediction, answers, dict(row.model_extra or {})))
    return out


def write_predictions(path: str | Path, preds: Iterable[Prediction]) -> int:
    return write_jsonl(path, (p.to_json() for p in preds))
