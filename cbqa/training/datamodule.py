"""Lightning DataModule for text-to-text training: one task or a multi-task mixture, plus a QA validation set.

Training batches come from `cbqa.training.stream.MixtureStream` (mixed at the task rates in every batch, masked
afresh each epoch, length-bucketed, disjoint across DDP ranks and dataloader workers, resumable mid-epoch);
validation is a plain list of QA examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from cbqa.core.errors import CbqaError
from cbqa.training.mixing import mixing_rates
from cbqa.training.stream import Encoder, MixtureStream, StreamPlan, collate
from cbqa.training.tasks import PASSAGE_KINDS, Example, TaskConfig, build_task, qa_example

if TYPE_CHECKING:
    from cbqa.reader.anonymise import Anonymiser


@dataclass
class Mixing:
    method: str = "proportional"  # proportional | temperature
    limit: int | None = None  # K, the artificial dataset-size limit of examples-proportional mixing
    temperature: float = 1.0  # T for temperature-scaled mixing
    samples_per_epoch: int | None = None  # default: sum of the (capped) task sizes


class ListDataset(Dataset):
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


class Seq2SeqCollator:
    """Tokenise a batch of Examples; pad dynamically; label padding is -100 so the loss ignores it."""

    def __init__(self, tokenizer, max_input_len: int, max_target_len: int, keep_sentinels: bool = False) -> None:
        self.tok = tokenizer
        self.encoder = Encoder(tokenizer, max_input_len, max_target_len)
        # an anonymised reader answers with a sentinel placeholder (cbqa.reader.anonymise): the batch tells validation to keep it
        self.keep_sentinels = keep_sentinels

    def __call__(self, batch: list[Example]) -> dict[str, Any]:
        return {**collate(self.encoder.encoded(batch), self.tok.pad_token_id), "keep_sentinels": self.keep_sentinels}


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
        val_prefix: str = "question: ",
        val_max_examples: int | None = None,
        mixing: Mixing | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        max_input_len: int = 128,
        max_target_len: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        bucket_window: int = 32,
        trace_dir: str | None = None,
        passages: int = 0,
        anonymise: bool = False,
        spacy_model: str | None = None,
        anonymise_numbering: str = "random",
    ) -> None:
        """
        Args:
            tasks: the training tasks (mixed when several).
            val_file: QA file for validation EM/F1.
            val_split: keep only validation rows with this `split`.
            val_prefix: input prefix of validation questions.
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
            passages: K, the retrieved passages each example of a `reader` / `reading` task (and each validation
                question, from the `passages` of a `cbqa retrieve` output) is read over, with `--model.reader fid`
                (Fusion-in-Decoder: each passage encoded with the question in `max_input_len` tokens). 0: none.
            anonymise: with `passages`, replace the spaCy entities of the passages shown (and their mentions in the
                question and the target) by placeholders numbered per example (see anonymise_numbering), `<extra_id_7>` (`cbqa.reader.anonymise`,
                Hermann et al. 2015); validation questions too, numbered by their text. Record it for prediction
                with `cbqa reader record --anonymise`.
            spacy_model: the spaCy pipeline that finds the entities (default: the project's, en_core_web_sm).
            anonymise_numbering: random (numbers drawn afresh per example) | order (in order of first mention);
                record it with `cbqa reader record --anonymise-numbering`.
        """
        super().__init__()
        self.task_cfgs = tasks or [TaskConfig()]
        self.val_file, self.val_split, self.val_prefix = val_file, val_split, val_prefix
        self.val_max_examples = val_max_examples
        self.mixing = mixing or Mixing()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_input_len, self.max_target_len = max_input_len, max_target_len
        self.num_workers, self.seed = num_workers, seed
        self.bucket_window, self.trace_dir = bucket_window, trace_dir
        self.passages = passages
        if passages < 0:
            raise CbqaError(f"passages must be >= 0, got {passages}")
        if anonymise and not passages:
            raise CbqaError("--data.anonymise replaces the entities of retrieved passages: add --data.passages K")
        self.anonymise, self.spacy_model, self.anonymise_numbering = anonymise, spacy_model, anonymise_numbering
        self._anonymiser = None
        if bucket_window < 1:
            raise CbqaError(f"bucket_window must be >= 1, got {bucket_window}")
        if batch_size < 1:
            raise CbqaError(f"batch_size must be >= 1, got {batch_size}")
        self.tokenizer = None  # taken from the LightningModule in setup(), or set by the caller
        self.tasks: list = []
        self.val_examples: list[Example] = []

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            self.tokenizer = self.trainer.lightning_module.tokenizer
            self.check_reader(getattr(self.trainer.lightning_module.hparams, "reader", "concat"))
        if not self.tasks:
            self.tasks = [self.build(cfg) for cfg in self.task_cfgs]
        if self.val_file and not self.val_examples:
            from cbqa.core.formats import read_qa

            rows = read_qa(self.val_file, split=self.val_split)[: self.val_max_examples]
            if self.passages:
                self.val_examples = [self.val_reader_example(r) for r in rows]
            else:
                self.val_examples = [qa_example(r.question, r.answers, self.val_prefix) for r in rows]

    def build(self, cfg: TaskConfig):
        if cfg.kind in PASSAGE_KINDS:
            from cbqa.reader.tasks import build_passage_task

            return build_passage_task(cfg, self.passages, self.anonymiser())
        return build_task(cfg, self.tokenizer, self.max_input_len, self.max_target_len)

    def anonymiser(self) -> Anonymiser | None:
        """The one `Anonymiser` (one spaCy pipeline) of every task and the validation set, or None."""
        if self.anonymise and self._anonymiser is None:
            from cbqa.reader.anonymise import Anonymiser

            self._anonymiser = Anonymiser(spacy_model=self.spacy_model, numbering=self.anonymise_numbering)
        return self._anonymiser

    def check_reader(self, reader: str) -> None:
        """`--data.passages K` and `--model.reader fid` go together."""
        if self.passages and reader != "fid":
            raise CbqaError(
                f"--data.passages {self.passages} reads passages with Fusion-in-Decoder: add --model.reader fid"
            )
        if reader == "fid" and not self.passages:
            raise CbqaError("--model.reader fid reads K retrieved passages per question: add --data.passages K")

    def val_reader_example(self, row) -> Example:
        from cbqa.reader.tasks import reader_example
        from retrieval_baseline.hits import Hit

        passages = row.extra.get("passages")
        if not isinstance(passages, list):
            raise CbqaError(
                f"{self.val_file}: question {row.id!r} has no 'passages'; with --data.passages the "
                "validation file is a `cbqa retrieve` output"
            )
        try:
            hits = [Hit.from_json(p) for p in passages]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CbqaError(f"{self.val_file}: question {row.id!r}: bad 'passages' ({e})") from None
        anonymiser = self.anonymiser()
        if anonymiser is None:
            return reader_example(row.question, row.answers, hits, self.passages)
        from cbqa.reader.anonymise import example_rng

        return reader_example(row.question, row.answers, hits, self.passages, anonymiser, example_rng(row.question))

    def collator(self) -> Seq2SeqCollator:
        return Seq2SeqCollator(self.tokenizer, self.max_input_len, self.max_target_len, keep_sentinels=self.anonymise)

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
        start = trainer.global_step * trainer.accumulate_grad_batches if trainer else 0
        return StreamLoader(
            self.stream(world, rank, start),
            batch_size=None,  # the stream yields whole batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
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
