"""What a trained model reads: the input format of each task it was trained on, recorded with the model.

Training writes `cbqa_inputs.json` into every `hf/` export (and the same into the run's `run.json`): per task its
kind, input prefix (`question: `, `nq question: `, ...) and token lengths, and the validation sets with the prefix
each was read with (and the normaliser of its EM). Whoever asks the model later (`cbqa predict`, the app, `cbqa benchmark`) builds its input with the
recorded prefix instead of assuming `question: ` — a model trained on `wq question: ` inputs answers worse without it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import StrictInt, StrictStr

from cbqa.core.contracts import Contract, read_contract
from cbqa.core.errors import CbqaError

INPUTS_FILE = "cbqa_inputs.json"
DEFAULT_PREFIX = "question: "


class TaskInput(Contract):
    name: StrictStr
    kind: StrictStr
    prefix: StrictStr
    max_input_len: StrictInt
    max_target_len: StrictInt


class ValidationInput(Contract):
    name: StrictStr  # (which file it was: the run's config; an export carries no machine path)
    prefix: StrictStr
    normaliser: StrictStr = "squad"  # the answer normaliser of its EM (cbqa.core.metrics); absent in older records


class InputRecord(Contract):
    FORMAT = {"format": "cbqa-inputs/1"}
    WHAT = "cbqa input record"
    format: StrictStr = "cbqa-inputs/1"
    tasks: list[TaskInput]
    validation: list[ValidationInput] = []

    def qa_prefix(self, task: str | None = None) -> str | None:
        """The prefix of QA task `task` (or of the only QA prefix the model was trained with); None when it was
        trained on no QA task. Several different QA prefixes and no `task`: a one-line error saying which exist."""
        qa = [t for t in self.tasks if t.kind == "qa"]
        if task is not None:
            found = [t.prefix for t in self.tasks if t.name == task]
            if not found:
                raise CbqaError(
                    f"no task {task!r} in the model's record (tasks: {', '.join(t.name for t in self.tasks)})"
                )
            return found[0]
        prefixes = list(dict.fromkeys(t.prefix for t in qa))
        if len(prefixes) > 1:
            named = ", ".join(f"{t.name}: {t.prefix!r}" for t in qa)
            raise CbqaError(f"the model was trained on QA tasks with different prefixes ({named}): say which task")
        return prefixes[0] if prefixes else None


def recorded_inputs(model_dir: str | Path) -> InputRecord | None:
    """The input record exported with a model directory (a local HF directory), or None (a hub model, an export of
    an older cbqa)."""
    path = Path(model_dir) / INPUTS_FILE
    return read_contract(InputRecord, path) if path.is_file() else None


def recorded_prefix(model: str, task: str | None = None) -> str | None:
    """The QA prefix a local model (HF directory or run directory) records, or None (a hub model, no record, no QA
    task)."""
    from cbqa.model.loading import resolve_model_path

    if not Path(model).exists():
        return None
    record = recorded_inputs(resolve_model_path(model))
    return record.qa_prefix(task) if record is not None else None


def input_prefix(model_dir: str | Path, task: str | None = None) -> str:
    """The prefix a model answers questions with: its recorded one, else T5's closed-book `question: `."""
    record = recorded_inputs(model_dir)
    prefix = record.qa_prefix(task) if record is not None else None
    return DEFAULT_PREFIX if prefix is None else prefix
