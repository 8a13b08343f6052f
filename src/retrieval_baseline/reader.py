"""Open-book T5 reader: inputs are the question plus its top retrieved passages; training reuses cbqa's
Lightning module (`cbqa finetune` on a prepared QA file with an empty prefix), prediction writes the common
predictions format so `cbqa evaluate` scores it exactly like a closed-book model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.data import Prediction, write_predictions
from cbqa.data.jsonl import read_jsonl, write_jsonl
from cbqa.errors import DataError
from retrieval_baseline.hits import Hit
from retrieval_baseline.reader_input import format_reader_input


@dataclass(frozen=True)
class ReaderInput:
    max_passages: int = 2
    max_input_len: int = 256  # tokens; the tokenizer truncates the tail passages


def _retrieved_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, row in read_jsonl(path):
        for key in ("id", "question", "passages"):
            if key not in row:
                raise DataError(path, line, f"missing '{key}' (is this a `cbqa retrieve` output?)")
        yield line, row


def _hits(row: dict[str, Any]) -> list[Hit]:
    return [Hit(id=p["id"], title=p.get("title", ""), text=p["text"], score=float(p.get("score", 0.0))) for p in row["passages"]]


def prepare(retrieved: str | Path, out: str | Path, cfg: ReaderInput = ReaderInput()) -> int:
    """Write a QA file whose `question` is the reader input; train on it with `--data.tasks` prefix ''."""
    rows = []
    for line, r in _retrieved_rows(retrieved):
        if not r.get("answers"):
            raise DataError(retrieved, line, "no 'answers': a reader training file needs gold answers")
        rows.append({"id": r["id"], "question": format_reader_input(r["question"], _hits(r), cfg.max_passages), "answers": r["answers"]})
    return write_jsonl(out, rows)


def predict(model: str, retrieved: str | Path, out: str | Path, cfg: ReaderInput = ReaderInput(), num_beams: int = 4,
            device: str = "auto", keep_passages: int = 5) -> int:  # fmt: skip
    """Answer each retrieved question from its passages; rows carry the passages shown to the reader."""
    from cbqa.inference import Answerer

    rows = [r for _, r in _retrieved_rows(retrieved)]
    answerer = Answerer(model, device=device, prefix="", max_input_len=cfg.max_input_len)
    inputs = [format_reader_input(r["question"], _hits(r), cfg.max_passages) for r in rows]
    answers = answerer.answer(inputs, num_beams=num_beams)
    preds = [
        Prediction(str(r["id"]), r["question"], a[0].text, r.get("answers") or None, {"passages": r["passages"][:keep_passages]})
        for r, a in zip(rows, answers)
    ]
    return write_predictions(out, preds)
