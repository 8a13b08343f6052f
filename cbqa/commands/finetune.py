"""`cbqa finetune`: closed-book QA fine-tuning (Lightning CLI; see `cbqa finetune --help`)."""

from __future__ import annotations

from cbqa.training.cli import run_training

_READER = "moved: FiD readers train with `cbqa reader finetune`"
# Options of FiD readers, which `cbqa finetune` and `cbqa pretrain` had before the reader got its own command.
READER_OPTIONS_MOVED = {
    "model.reader": _READER,
    "model.pointer": f"{_READER} (--model.pointer)",
    "model.copy_window": f"{_READER} (--model.copy_window)",
    "data.passages": f"{_READER} (--data.reader.passages)",
    "data.anonymise": f"{_READER} (--data.reader.anonymise)",
    "data.spacy_model": f"{_READER} (--data.reader.spacy_model)",
    "data.anonymise_numbering": f"{_READER} (--data.reader.numbering)",
}


def main(argv: list[str]) -> int:
    return run_training(argv, "cbqa finetune", "runs/finetune", moved=READER_OPTIONS_MOVED)
