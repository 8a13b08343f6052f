"""`cbqa finetune`: closed-book QA fine-tuning (Lightning CLI; see `cbqa finetune --help`)."""

from __future__ import annotations

from cbqa.training.cli import run_training


def main(argv: list[str]) -> int:
    return run_training(argv, prog="cbqa finetune", default_run_dir="runs/finetune")
