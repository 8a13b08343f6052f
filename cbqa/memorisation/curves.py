"""Knowledge learning curves: a training callback that measures, every N steps, how much the model has stored
(fill-in EM of masked salient spans of a spans store, optionally only the documents no QA-train question asks about)
and how well it answers closed-book (EM on a dev QA file), into the run's `logs/metrics.csv` (and TensorBoard).

Enable it on `cbqa pretrain` / `cbqa finetune` like any Lightning callback:

    cbqa pretrain -c configs/pretrain_ssm.yaml \\
        --trainer.callbacks+=cbqa.memorisation.curves.KnowledgeCurve \\
        --trainer.callbacks.every_n_steps 200 --trainer.callbacks.fill_in_spans runs/demo/spans \\
        --trainer.callbacks.fill_in_qa runs/demo/world/train.jsonl --trainer.callbacks.dev_file runs/demo/world/dev.jsonl

Columns: `fill_in_em` (or `fill_in_held_out_em` with `fill_in_qa`), `cb_dev_em`, at the step they were measured
(step 0 too, before any training, unless `at_start` is false). Greedy decoding, on rank 0 only.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import torch

from cbqa.core.errors import CbqaError
from cbqa.memorisation.fill_in import DEFAULT_POLICY, exact_match_percent, fill_in_items, qa_subjects


class KnowledgeCurve(L.Callback):
    def __init__(
        self,
        every_n_steps: int = 200,
        fill_in_spans: str | None = None,
        fill_in_qa: str | None = None,
        fill_in_n: int = 200,
        fill_in_policy: str = DEFAULT_POLICY,
        fill_in_options: dict[str, Any] | None = None,
        dev_file: str | None = None,
        dev_split: str | None = None,
        dev_prefix: str = "question: ",
        dev_max_examples: int | None = 200,
        at_start: bool = True,
        batch_size: int = 64,
        max_new_tokens: int = 24,
        seed: int = 0,
    ) -> None:
        """
        Args:
            every_n_steps: measure after every this many optimizer steps.
            fill_in_spans: spans store whose masked salient spans the model should fill (`cbqa fill-in`'s items).
            fill_in_qa: QA-train file with `subject`s: measure only documents whose title no QA-train row asks about.
            fill_in_n: fill-in items (sampled once, the same at every measurement).
            fill_in_policy: SSM policy or preset making the items (default: the demo's recipe).
            fill_in_options: options of that policy.
            dev_file: QA file for closed-book EM.
            dev_split: keep only dev rows with this `split`.
            dev_prefix: input prefix of dev questions.
            dev_max_examples: at most this many dev questions.
            at_start: also measure before the first step.
            batch_size: examples per generate call.
            max_new_tokens: longest generated span or answer.
            seed: seed of the item sample.
        """
        if every_n_steps < 1:
            raise CbqaError(f"KnowledgeCurve: every_n_steps must be >= 1, got {every_n_steps}")
        if not fill_in_spans and not dev_file:
            raise CbqaError("KnowledgeCurve: give fill_in_spans, dev_file or both")
        self.every, self.at_start = every_n_steps, at_start
        self.spans, self.qa, self.n = fill_in_spans, fill_in_qa, fill_in_n
        self.policy, self.options = fill_in_policy, dict(fill_in_options or {})
        self.dev_file, self.dev_split, self.dev_prefix, self.dev_max = dev_file, dev_split, dev_prefix, dev_max_examples
        self.batch_size, self.max_new_tokens, self.seed = batch_size, max_new_tokens, seed
        self.fill_items: list[tuple[str, str]] = []
        self.dev: list[tuple[str, list[str]]] = []
        self.fill_key = "fill_in_held_out_em" if fill_in_qa else "fill_in_em"
        self.last_step: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        if self.spans and not self.fill_items:
            self.fill_items = self._fill_in_items()
        if self.dev_file and not self.dev:
            from cbqa.core.formats import read_qa

            rows = read_qa(self.dev_file, split=self.dev_split)[: self.dev_max]
            self.dev = [(self.dev_prefix + r.question.strip(), list(r.answers)) for r in rows]
            if not self.dev:
                raise CbqaError(
                    f"KnowledgeCurve: {self.dev_file} has no questions"
                    + (f" with split {self.dev_split!r}" if self.dev_split else "")
                )

    def _fill_in_items(self) -> list[tuple[str, str]]:
        from ner_masking.store import load_span_store

        store = load_span_store(self.spans)
        rows = list(range(len(store)))
        random.Random(self.seed).shuffle(rows)
        subjects = qa_subjects(self.qa) if self.qa else None
        docs = [d for d in (store.doc(r) for r in rows[: 20 * self.n]) if subjects is None or d.title not in subjects]
        items = fill_in_items(docs, self.n, self.seed, self.policy, self.options)
        if not items:
            raise CbqaError(
                f"KnowledgeCurve: {self.spans}: no span to mask with policy {self.policy}"
                + (" in documents no QA-train question asks about" if self.qa else "")
            )
        return items

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_start and trainer.global_step == 0:
            self.measure(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0 and trainer.global_step != self.last_step:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self.last_step:  # the last step, when it is not a multiple of every_n_steps
            self.measure(trainer, pl_module)

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        self.last_step = trainer.global_step
        if not trainer.is_global_zero:
            return {}
        metrics: dict[str, float] = {}
        was_training = pl_module.t5.training
        pl_module.t5.eval()
        try:
            if self.fill_items:
                preds = self._generate(pl_module, [x for x, _ in self.fill_items])
                metrics[self.fill_key] = exact_match_percent(preds, self.fill_items)
            if self.dev:
                from cbqa.core.metrics import max_em

                preds = self._generate(pl_module, [q for q, _ in self.dev])
                metrics["cb_dev_em"] = (
                    100.0 * sum(max_em(p, g) for p, (_, g) in zip(preds, self.dev, strict=True)) / len(self.dev)
                )
        finally:
            pl_module.t5.train(was_training)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        return metrics

    @torch.no_grad()
    def _generate(self, pl_module: L.LightningModule, inputs: list[str]) -> list[str]:
        tok, out = pl_module.tokenizer, []
        for lo in range(0, len(inputs), self.batch_size):
            enc = tok(
                inputs[lo : lo + self.batch_size], return_tensors="pt", padding=True, truncation=True, max_length=512
            ).to(pl_module.device)
            ids = pl_module.t5.generate(**enc, max_new_tokens=self.max_new_tokens, num_beams=1, do_sample=False)
            out += [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = state.get("last_step")
