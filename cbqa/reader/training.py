"""Training a Fusion-in-Decoder reader: the generic Lightning module and data module, extended (`cbqa reader finetune`).

- `ReaderModule`: batches hold K passages per question, shaped (batch, K, tokens), read with Fusion-in-Decoder
  (`fid`); optionally a copy head (`copy_head`); an anonymised reader's validation answers keep their placeholders.
- `ReaderDataModule`: the `reader` and `reading` tasks (`tasks`) besides the generic ones, validation questions read
  over their retrieved passages, and the reader's options in one object, `--data.reader.*` (`ReaderOptions`).

The run records how it reads (`reader_input.json`, `inputs.ReaderInput`) so prediction builds the same inputs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch

from cbqa.core.errors import CbqaError
from cbqa.core.formats import QAExample
from cbqa.core.options import PositiveInt
from cbqa.model.loading import T5Arch
from cbqa.reader import copy_head
from cbqa.reader.anonymise import Anonymiser, decode_keeping_sentinels, example_rng
from cbqa.reader.fid import fid_forward, fid_generate
from cbqa.reader.inputs import Numbering, ReaderInput
from cbqa.reader.tasks import build_passage_task, reader_example
from cbqa.training.datamodule import Seq2SeqCollator, Seq2SeqDataModule
from cbqa.training.module import T5Seq2Seq
from cbqa.training.tasks import PASSAGE_KINDS, Example, TaskConfig
from retrieval_baseline.hits import Hit


class ReaderModule(T5Seq2Seq):
    # FiD encodes the passages by calling the encoder directly, outside the model's forward where FSDP gathers the
    # shared embedding: `--trainer.strategy fsdp` is refused for readers (use ddp)
    supports_fsdp = False

    def __init__(self, pointer: bool = False, copy_window: tuple[int, int] | None = None, **kwargs: Any) -> None:
        """
        Args:
            pointer: add a copy head (`cbqa.reader.copy_head`, pointer-generator): each output token is generated from
                the vocabulary or copied from the tokens of any of the K passages.
            copy_window: (tokens before, tokens after) each encoder position that a new copy head's key reads
                ("studied at" before an answer tells it from "works for"); None: [4, 1] (`copy_head.DEFAULT_WINDOW`);
                [0, 0]: the position alone.
        """
        super().__init__(**kwargs)

    def load_network(self) -> tuple[Any, Any]:
        hp = self.hparams
        window = None if hp.copy_window is None else tuple(hp.copy_window)
        if hp.model:
            return copy_head.load(hp.model, hp.pointer, window)
        if not hp.tokenizer:
            raise CbqaError(
                "give either --model (hub name, HF dir or run dir) or --tokenizer to build a T5 from a config"
            )
        return copy_head.build(hp.tokenizer, T5Arch(**hp.arch), hp.pointer, window)

    def forward(self, **batch: torch.Tensor):
        return fid_forward(self.net, **batch)

    @torch.no_grad()
    def generate_texts(self, batch: dict[str, Any]) -> list[str]:
        ids = fid_generate(self.t5, batch["input_ids"], batch["attention_mask"], **self.generation_options())
        if batch.get("keep_sentinels"):  # an anonymised reader answers with a placeholder (`anonymise`)
            return decode_keeping_sentinels(self.tokenizer, ids)
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


@dataclass
class ReaderOptions:
    """How a reader reads, in training and validation (recorded in the run's reader_input.json)."""

    passages: PositiveInt = 2  # K: the retrieved passages each question is read over, each in max_input_len tokens
    # replace the spaCy entities of the passages shown (and their mentions in the question and the target) by
    # placeholders numbered per example, `<extra_id_7>` (`cbqa.reader.anonymise`, Hermann et al. 2015)
    anonymise: bool = False
    spacy_model: str | None = None  # the pipeline that finds them (default: the project's, en_core_web_sm)
    numbering: Numbering = "random"  # random (drawn afresh per example) | order (in order of first mention)


class ReaderCollator(Seq2SeqCollator):
    """The generic collator; the batch also says whether answers are placeholders to keep in validation."""

    def __init__(self, tokenizer, max_input_len: int, max_target_len: int, keep_sentinels: bool) -> None:
        super().__init__(tokenizer, max_input_len, max_target_len)
        self.keep_sentinels = keep_sentinels

    def __call__(self, batch: list[Example]) -> dict[str, Any]:
        return {**super().__call__(batch), "keep_sentinels": self.keep_sentinels}


class ReaderDataModule(Seq2SeqDataModule):
    def __init__(self, reader: ReaderOptions | None = None, **kwargs: Any) -> None:
        """
        Args:
            reader: how the reader reads (passages, anonymisation); the validation file is a `cbqa retrieve` output.
        """
        super().__init__(**kwargs)
        self.reader = reader or ReaderOptions()
        self._anonymiser: Anonymiser | None = None

    def build(self, cfg: TaskConfig):
        if cfg.kind in PASSAGE_KINDS:
            return build_passage_task(cfg, self.reader.passages, self.anonymiser())
        return super().build(cfg)

    def anonymiser(self) -> Anonymiser | None:
        """The one `Anonymiser` (one spaCy pipeline) of every task and the validation set, or None."""
        if self.reader.anonymise and self._anonymiser is None:
            self._anonymiser = Anonymiser(spacy_model=self.reader.spacy_model, numbering=self.reader.numbering)
        return self._anonymiser

    def val_example(self, row: QAExample, prefix: str) -> Example:
        passages = row.extra.get("passages")
        if not isinstance(passages, list):
            raise CbqaError(
                f"{self.val_file}: question {row.id!r} has no 'passages'; a reader's validation file is a "
                "`cbqa retrieve` output"
            )
        try:
            hits = [Hit.from_json(p) for p in passages]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CbqaError(f"{self.val_file}: question {row.id!r}: bad 'passages' ({e})") from None
        anonymiser = self.anonymiser()
        rng: random.Random | None = example_rng(row.question) if anonymiser is not None else None
        return reader_example(row.question, row.answers, hits, self.reader.passages, anonymiser, rng)

    def collator(self) -> ReaderCollator:
        return ReaderCollator(self.tokenizer, self.max_input_len, self.max_target_len, self.reader.anonymise)

    def reader_input(self) -> ReaderInput:
        """The input format this data module trains on, as prediction must rebuild it."""
        r = self.reader
        return ReaderInput(r.passages, self.max_input_len, "fid", r.anonymise, r.spacy_model, r.numbering)
