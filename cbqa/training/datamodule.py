"""Lightning DataModule for text-to-text training: one task or a multi-task mixture, plus a QA validation set."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset, Sampler

from cbqa.training.mixing import epoch_schedule, mixing_rates
from cbqa.training.tasks import Example, TaskConfig, build_task, qa_example


@dataclass
class Mixing:
    method: str = "proportional"  # proportional | temperature
    limit: int | None = None  # K, the artificial dataset-size limit of examples-proportional mixing
    temperature: float = 1.0  # T for temperature-scaled mixing
    samples_per_epoch: int | None = None  # default: sum of the (capped) task sizes


class MixtureSampler(Sampler):
    """Yields (task, item, epoch) triples; Lightning calls `set_epoch`, so every epoch draws new masks."""

    def __init__(self, sizes: list[int], rates: list[float], num_samples: int, seed: int) -> None:
        self.sizes, self.rates, self.num_samples, self.seed = sizes, rates, num_samples, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        for t, i in epoch_schedule(self.sizes, self.rates, self.num_samples, self.seed, self.epoch):
            yield (t, i, self.epoch)

    def __len__(self) -> int:
        return len(epoch_schedule(self.sizes, self.rates, self.num_samples, self.seed, 0))


class MixtureDataset(Dataset):
    def __init__(self, tasks: list, seed: int) -> None:
        self.tasks, self.seed = tasks, seed

    def __len__(self) -> int:
        return sum(len(t) for t in self.tasks)

    def __getitem__(self, key: tuple[int, int, int]) -> Example:
        t, i, epoch = key
        # A per-(epoch, item) seed makes masks fresh each epoch yet reproducible, in any worker process.
        return self.tasks[t].example(i, random.Random(f"{self.seed}-{epoch}-{t}-{i}"))


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
        self.tok, self.max_input_len, self.max_target_len = tokenizer, max_input_len, max_target_len

    def __call__(self, batch: list[Example]) -> dict[str, Any]:
        enc = self.tok(
            [b.input_text for b in batch], max_length=self.max_input_len, truncation=True, padding=True, return_tensors="pt"
        )
        tgt = self.tok(
            [b.target_text for b in batch], max_length=self.max_target_len, truncation=True, padding=True, return_tensors="pt"
        )
        labels = tgt.input_ids.masked_fill(tgt.attention_mask == 0, -100)
        return {
            "input_ids": enc.input_ids,
            "attention_mask": enc.attention_mask,
            "labels": labels,
            "answers": [list(b.answers) for b in batch],
        }


class Seq2SeqDataModule(L.LightningDataModule):
    def __init__(
        self,
        tasks: list[TaskConfig] | None = None,
        val_file: str | None = None,
        val_split: str | None = None,
        val_prefix: str = "question: ",
        val_max_examples: int | None = None,
        mixing: Mixing | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        max_input_len: int = 128,
        max_target_len: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.task_cfgs = tasks or [TaskConfig()]
        self.val_file, self.val_split, self.val_prefix = val_file, val_split, val_prefix
        self.val_max_examples = val_max_examples
        self.mixing = mixing or Mixing()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_input_len, self.max_target_len = max_input_len, max_target_len
        self.num_workers, self.seed = num_workers, seed
        self.tokenizer = None  # taken from the LightningModule in setup(), or set by the caller
        self.tasks: list = []
        self.val_examples: list[Example] = []

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            self.tokenizer = self.trainer.lightning_module.tokenizer
        if not self.tasks:
            self.tasks = [build_task(cfg) for cfg in self.task_cfgs]
        if self.val_file and not self.val_examples:
            from cbqa.data import read_qa

            rows = read_qa(self.val_file, split=self.val_split)[: self.val_max_examples]
            self.val_examples = [qa_example(r.question, r.answers, self.val_prefix) for r in rows]

    def collator(self) -> Seq2SeqCollator:
        return Seq2SeqCollator(self.tokenizer, self.max_input_len, self.max_target_len)

    def train_dataloader(self) -> DataLoader:
        sizes = [len(t) for t in self.tasks]
        m = self.mixing
        rates = mixing_rates(sizes, m.method, m.limit, m.temperature)
        n = m.samples_per_epoch or sum(min(s, m.limit) if m.limit else s for s in sizes)
        return DataLoader(
            MixtureDataset(self.tasks, self.seed),
            batch_size=self.batch_size,
            sampler=MixtureSampler(sizes, rates, n, self.seed),
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_examples:
            return []
        return DataLoader(
            ListDataset(self.val_examples),
            batch_size=self.eval_batch_size,
            collate_fn=self.collator(),
            num_workers=self.num_workers,
        )
