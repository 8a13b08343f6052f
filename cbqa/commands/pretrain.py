"""`cbqa pretrain`: continued T5 pretraining with a masking policy over a spans store, alone or mixed with QA.

Same Lightning CLI as `cbqa finetune`; the tasks list selects `kind: masked` tasks (see configs/pretrain_*.yaml).
"""

from __future__ import annotations

from cbqa.commands.finetune import READER_OPTIONS_MOVED
from cbqa.training.cli import run_training


def main(argv: list[str]) -> int:
    return run_training(argv, "cbqa pretrain", "runs/pretrain", moved=READER_OPTIONS_MOVED)
