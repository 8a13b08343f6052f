"""Answering with an open-book reader: the inputs `retrieval_baseline.reader` builds, answered by a trained T5.

It sits above the core and the retrieval package (it needs a model), and writes the common predictions format, so
`cbqa evaluate` scores the reader exactly like a closed-book model.
"""

from __future__ import annotations

from pathlib import Path

from cbqa.data import Prediction, write_predictions
from cbqa.inference import Answerer
from retrieval_baseline.reader import ReaderInput, hits_of, read_reader_input, retrieved_rows
from retrieval_baseline.reader_input import format_reader_input


def reader_input_of(model: str, fallback: ReaderInput = ReaderInput()) -> ReaderInput:
    """The input format recorded by the reader run `model`, else `fallback`."""
    return read_reader_input(model) or fallback


def predict(model: str, retrieved: str | Path, out: str | Path, cfg: ReaderInput | None = None, num_beams: int = 4,
            device: str = "auto", keep_passages: int = 5) -> int:  # fmt: skip
    """Answer each retrieved question from its passages; rows carry the passages shown to the reader.

    `cfg=None` takes the input format the reader run recorded (`reader_input.json`), else ReaderInput's defaults.
    """
    cfg = cfg or reader_input_of(model)
    rows = [r for _, r in retrieved_rows(retrieved)]
    answerer = Answerer(model, device=device, prefix="", max_input_len=cfg.max_input_len)
    inputs = [format_reader_input(r["question"], hits_of(r), cfg.max_passages) for r in rows]
    answers = answerer.answer(inputs, num_beams=num_beams)
    preds = [
        Prediction(str(r["id"]), r["question"], a[0].text, r.get("answers") or None, {"passages": r["passages"][:keep_passages]})
        for r, a in zip(rows, answers)
    ]
    return write_predictions(out, preds)
