"""Lightning DataModule for text-to-text training: one task or a multi-task mixture, plus a QA validation set.

Training batches come from `cbqa.training.stream.MixtureStream` (mixed at the task rates in every batch, masked
afresh each epoch, length-bucketed, disjoint across DDP ranks and dataloader workers, resumable mid-epoch);
validation is a plain list of QA examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
from torch.utils.data import DataLoader, Dataset

from cbqa.core.errors import CbqaError
from cbqa.core.formats import QAExample
from cbqa.core.metrics import DEFAULT_NORMALISER, Normaliser
from cbqa.core.options import NonNegativeInt, PositiveFloat, PositiveInt
from cbqa.model.inputs import InputRecord, TaskInput, ValidationInput
from cbqa.training.mixing import mixing_rates
from cbqa.training.stream import Encoder, MixtureStream, StreamPlan, batches_of_steps, collate
from cbqa.training.tasks import Example, TaskConfig, build_task, qa_example


@dataclass
class Mixing:
    method: Literal["proportional", "temperature"] = "proportional"
    limit: PositiveInt | None = None  # K, the artificial dataset-size limit of examples-proportional mixing
    temperature: PositiveFloat = 1.0  # T for temperature-scaled mixing
    samples_per_epoch: PositiveInt | None = None  # default: sum of the (capped) task sizes


class ListDataset(Dataset):
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


class Seq2SeqCollator:
    """Tokenise a batch of Examples; pad dynamically; label padding is -100 so the loss ignores it."""

    def __init__(self, tokenizer, max_input_len: int, max_target_len: int) -> None:
        self.tok = tokenizer
        self.encoder = Encoder(tokenizer, max_input_len, max_target_len)

    def __call__(self, batch: list[Example]) -> dict[str, Any]:
        return collate(self.encoder.encoded(batch), self.tok.pad_token_id)


class StreamLoader(DataLoader):
    """The training DataLoader. Its state in a checkpoint records how the stream was laid out, so a resume with
    another number of workers or ranks (which would reorder the batches) is said, not silently different."""

    def state_dict(self) -> dict[str, Any]:
        plan = self.dataset.plan
        return {
            "num_workers": self.num_workers,
            "world_size": plan.world_size,
            "batch_size": plan.batch_size,
            "window": plan.window,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        now = self.state_dict()
        changed = {k: (v, now[k]) for k, v in state.items() if now.get(k) != v}
        if changed:
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(
                f"resuming with a different data layout {changed} (checkpoint, now): the run continues, "
                "but not in the batch order an uninterrupted run would have had"
            )


class Seq2SeqDataModule(L.LightningDataModule):
    def __init__(
        self,
        tasks: list[TaskConfig] | None = None,
        val_file: str | None = None,
        val_split: str | None = None,
        val_prefix: str | None = None,
        val_normaliser: Normaliser | None = None,
        val_max_examples: PositiveInt | None = None,
        mixing: Mixing | None = None,
        batch_size: PositiveInt = 64,
        eval_batch_size: PositiveInt = 128,
        max_input_len: PositiveInt = 128,
        max_target_len: PositiveInt = 32,
        num_workers: NonNegativeInt = 0,
        seed: int = 0,
        bucket_window: PositiveInt = 32,
        trace_dir: str | None = None,
    ) -> None:
        """
        Args:
            tasks: the training tasks (mixed when several).
            val_file: QA file for validation EM/F1 (a QA task can also have its own: `val_file` in its config).
            val_split: keep only validation rows with this `split`.
            val_prefix: input prefix of val_file's questions (default: the QA tasks' prefix, 'question: ' without one).
            val_normaliser: answer normaliser of val_file's EM (squad | triviaqa; default: the QA tasks' one, squad).
            val_max_examples: validate on at most this many questions.
            mixing: how tasks are mixed (rates are kept in every batch).
            batch_size: training examples per batch (per rank).
            eval_batch_size: validation examples per batch.
            max_input_len: input tokens the model reads; masked inputs are built to fit it.
            max_target_len: target tokens.
            num_workers: dataloader worker processes building batches.
            seed: seed of the data order and the masks.
            bucket_window: batches per length-bucketing window (1 turns bucketing off).
            trace_dir: write every training example (rank, epoch, task, item, input, target) as JSONL here.
        """
        super().__init__()
        self.task_cfgs = tasks or [TaskConfig()]
        self.val_file, self.val_split, self.val_prefix = val_file, val_split, val_prefix
        self.val_normaliser = val_normaliser
        self.val_max_examples = val_max_examples
        self.mixing = mixing or Mixing()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_input_len, self.max_target_len = max_input_len, max_target_len
        self.num_workers, self.seed = num_workers, seed
        self.bucket_window, self.trace_dir = bucket_window, trace_dir
        self.tokenizer = None  # taken from the LightningModule in setup(), or set by the caller
        self.tasks: list = []
        self.val_sets: dict[str, list[Example]] = {}  # validation set name -> examples, in the order given
        self.val_normalisers: dict[str, str] = {}  # validation set name -> the normaliser of its EM

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            self.tokenizer = self.trainer.lightning_module.tokenizer
        if not self.tasks:
            self.tasks = [self.build(cfg) for cfg in self.task_cfgs]
        if not self.val_sets:
            from cbqa.core.formats import read_qa

            for name, file, split, prefix, normaliser in self.validation():
                rows = read_qa(file, split=split)[: self.val_max_examples]
                self.val_sets[name] = [self.val_example(r, prefix) for r in rows]
                self.val_normalisers[name] = normaliser

    def validation(self) -> list[tuple[str, str, str | None, str, str]]:
        """The validation sets: (name, file, split, input prefix, answer normaliser), `val_file` first (named `val`),
        then each task's own. A task's set is read with its prefix and scored with its normaliser, so the checkpoint
        is chosen on the inputs the task trains on, by the EM the dataset is scored with."""
        sets = [
            (c.name, c.val_file, c.val_split, c.input_prefix(), c.answer_normaliser())
            for c in self.task_cfgs
            if c.val_file
        ]
        if self.val_file:
            sets.insert(0, ("val", self.val_file, self.val_split, self.val_file_prefix(), self.val_file_normaliser()))
        names = [s[0] for s in sets]
        if len(set(names)) < len(names):
            raise CbqaError(f"validation sets need distinct names, got {names} (task names; `val` is --data.val_file)")
        return sets

    def val_file_prefix(self) -> str:
        if self.val_prefix is not None:
            return self.val_prefix
        qa = list(dict.fromkeys(c.input_prefix() for c in self.task_cfgs if c.kind == "qa"))
        if len(qa) > 1:
            raise CbqaError(
                f"--data.val_file: the QA tasks have different prefixes {qa}; give --data.val_prefix, or "
                "each task its own val_file"
            )
        return qa[0] if qa else "question: "

    def val_file_normaliser(self) -> str:
        if self.val_normaliser is not None:
            return self.val_normaliser
        qa = list(dict.fromkeys(c.answer_normaliser() for c in self.task_cfgs if c.kind == "qa"))
        return qa[0] if len(qa) == 1 else DEFAULT_NORMALISER

    def input_record(self) -> InputRecord:
        """What the model is trained to read, recorded with its export (`cbqa.model.inputs`)."""
        tasks = [
            TaskInput(
                name=c.name,
                kind=c.kind,
                prefix=c.input_prefix(),
                max_input_len=self.max_input_len,
                max_target_len=self.max_target_len,
            )
            for c in self.task_cfgs
        ]
        val = [ValidationInput(name=n, prefix=p, normaliser=z) for n, _, _, p, z in self.validation()]
        return InputRecord(format="cbqa-inputs/1", tasks=tasks, validation=val)

    def build(self, cfg: TaskConfig):
        """The task a config describes (the reader's data module adds its passage tasks)."""
        return build_task(cfg, self.tokenizer, self.max_input_len, self.max_target_len)

    def val_example(self, row: QAExample, prefix: str) -> Example:
        return qa_example(row.question, row.answers, prefix)

    def collator(self) -> Seq2SeqCollator:
        return Seq2SeqCollator(self.tokenizer, self.max_input_len, self.max_target_len)

    def plan(self, world_size: int = 1, rank: int = 0) -> StreamPlan:
        sizes = [len(t) for t in self.tasks]
        m = self.mixing
        rates = mixing_rates(sizes, m.method, m.limit, m.temperature)
        n = m.samples_per_epoch or sum(min(s, m.limit) if m.limit else s for s in sizes)
        return StreamPlan(
            tuple(sizes), tuple(rates), self.batch_size, n, self.seed, world_size, rank, self.bucket_window
        )

    def stream(self, world_size: int = 1, rank: int = 0, start_batch: int = 0) -> MixtureStream:
        encoder = Encoder(self.tokenizer, self.max_input_len, self.max_target_len)
        return MixtureStream(self.tasks, self.plan(world_size, rank), encoder, start_batch, self.trace_dir)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        # A resumed run continues the stream at the first batch it has not trained on.
        start = batches_of_steps(trainer) if trainer else 0
        return StreamLoader(
            self.stream(world, rank, start),
            batch_size=None,  # the stream yields whole batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        """One loader per validation set (none without one)."""
        loaders = [
            DataLoader(
                ListDataset(examples),
                batch_size=self.eval_batch_size,
                collate_fn=self.collator(),
                num_workers=self.num_workers,
            )
            for examples in self.val_sets.values()
        ]
        return loaders[0] if len(loaders) == 1 else loaders
