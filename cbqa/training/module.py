"""LightningModule for T5 text-to-text training (closed-book QA, masked pretraining, mixtures).

The module owns the model and tokenizer; the DataModule owns the data. Validation greedily decodes the validation
questions and logs EM / F1 over all gold aliases (the same definitions as `cbqa evaluate`), each set with its task's
answer normaliser (squad, or triviaqa for a TriviaQA task). The open-book reader
extends it (`cbqa.reader.training.ReaderModule`: Fusion-in-Decoder batches, a copy head).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from typing import Any, Literal, get_args

import lightning as L
import numpy as np
import torch

from cbqa.core.metrics import DEFAULT_NORMALISER, max_em, max_f1
from cbqa.core.options import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from cbqa.model.loading import T5Arch, load_model
from cbqa.training.stream import batches_of_steps

# Literal types: jsonargparse rejects a typo at parse time and lists the choices.
Optimizer = Literal["adamw", "adafactor"]
Schedule = Literal["constant", "linear", "inverse_sqrt"]


class T5Seq2Seq(L.LightningModule):
    supports_fsdp = True  # (--trainer.strategy fsdp; cbqa.training.sharding)

    def __init__(
        self,
        model: str | None = None,
        tokenizer: str | None = None,
        arch: T5Arch | None = None,
        optimizer: Optimizer = "adamw",
        lr: PositiveFloat = 1e-3,
        weight_decay: NonNegativeFloat = 0.0,
        warmup_steps: NonNegativeInt = 0,
        schedule: Schedule = "constant",
        compile: bool = False,
        compile_backend: str = "inductor",
        num_beams: PositiveInt = 1,
        max_new_tokens: PositiveInt = 32,
        gradient_checkpointing: bool = False,
    ) -> None:
        """
        Args:
            model: hub name, local HF directory or cbqa run directory; None builds a T5 from `arch` + `tokenizer`.
            tokenizer: tokenizer directory (a `cbqa tokenizer` output) used when building from a config.
            arch: size of a T5 built from scratch.
            optimizer: adamw (fused on CUDA) | adafactor (T5's fine-tuning settings: a fixed lr, 1e-3 in the T5 paper,
                no relative step, no parameter scaling, no warm-up init; use schedule constant).
            lr: peak learning rate.
            weight_decay: AdamW weight decay.
            warmup_steps: linear warm-up steps.
            schedule: constant | linear (decay to 0 at the last step) | inverse_sqrt (T5's 1/sqrt(max(step, warmup))).
            compile: wrap the model's forward in torch.compile.
            compile_backend: torch.compile's backend (inductor; aot_eager traces without building kernels).
            num_beams: beams for validation decoding.
            max_new_tokens: longest generated answer.
            gradient_checkpointing: keep only each T5 block's input in the forward and recompute the block in the
                backward (less activation memory, ~1/3 more compute; the same gradients up to float rounding).
        """
        super().__init__()
        # every init argument, a subclass's included (Lightning collects them from the calling frames); the
        # architecture as a plain dict, so checkpoints and hparams.yaml hold no dataclass
        self.save_hyperparameters(ignore=["arch"])
        self.hparams["arch"] = asdict(arch or T5Arch())
        self.t5, self.tokenizer = self.load_network()
        # from_pretrained returns a model in eval mode, and Lightning keeps submodule modes: without this a run started
        # from a checkpoint (T5's have dropout 0.1) would train with dropout off. Validation switches to eval and back.
        self.t5.train()
        if gradient_checkpointing:
            enable_gradient_checkpointing(self.t5)
        self._compiled = None

    # Under `--trainer.strategy fsdp` the T5 is sharded here (one unit per block; cbqa.training.sharding), on every
    # rank, before the optimizer is made. torch.compile is applied to a reference kept outside the module tree, so
    # state_dict keys and the HF export are the same with or without compile.
    def configure_model(self) -> None:
        from cbqa.training.sharding import is_fsdp, shard_t5

        if self._trainer is not None and is_fsdp(self.trainer.strategy):
            precision = str(self.trainer.precision)
            shard_t5(self.t5, self.device_mesh["data_parallel"], bf16=precision.startswith("bf16"))
        if self.hparams.compile and self._compiled is None:
            self.__dict__["_compiled"] = torch.compile(self.t5, backend=self.hparams.compile_backend)

    def load_network(self) -> tuple[Any, Any]:
        """(model, tokenizer) as the hyperparameters say: a checkpoint, or a T5 built from `arch` + `tokenizer`."""
        hp = self.hparams
        return load_model(hp.model, hp.tokenizer, T5Arch(**hp.arch))

    @property
    def net(self) -> Any:
        """The network forward passes run through: the compiled one when `compile` is on."""
        return self._compiled if self._compiled is not None else self.t5

    def forward(self, **batch: torch.Tensor):
        return self.net(**batch)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Dropout draws from torch's global generator. Seeding it from (run seed, training batch, rank) makes a
        # step's randomness a function of its position alone, so a run resumed from a checkpoint at step N draws
        # what an uninterrupted run draws (bitwise-identical weights on CPU) whatever ran in between (validation,
        # a data loader's seed draw), without storing generator states in the checkpoint.
        if self.trainer is not None:
            torch.manual_seed(step_seed(self.trainer, batch_idx))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        # Log only on the steps the logger writes (Lightning flushes when (step + 1) % log_every_n_steps == 0):
        # self.log costs a few % per step on small models.
        if self.trainer is None or (self.trainer.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train_loss", out.loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return out.loss

    @property
    def sharded(self) -> bool:
        from cbqa.training.sharding import is_sharded

        return is_sharded(self.t5)

    def generation_options(self) -> dict[str, Any]:
        options = {
            "max_new_tokens": self.hparams.max_new_tokens,
            "num_beams": self.hparams.num_beams,
            "do_sample": False,
        }
        if self.sharded:  # every rank runs as many decoding steps as the slowest (each step gathers the blocks)
            options["synced_gpus"] = torch.distributed.get_world_size() > 1
        return options

    @torch.no_grad()
    def generate_texts(self, batch: dict[str, Any]) -> list[str]:
        """Greedy (or beam) answers to a validation batch, decoded."""
        ids = self.t5.generate(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **self.generation_options()
        )
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        out = self(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        if self.sharded:
            # generate() calls the encoder by itself, outside the model's forward, where FSDP would gather the root
            # unit (shared embedding, head): gather it for the whole decoding, then shard it again
            self.t5.unshard()
            try:
                preds = self.generate_texts(batch)
            finally:
                self.t5.reshard()
        else:
            preds = self.generate_texts(batch)
        n = len(preds)
        names = self.val_names()
        norm = self.val_normaliser(names[dataloader_idx] if dataloader_idx < len(names) else None)
        em = sum(max_em(p, g, norm) for p, g in zip(preds, batch["answers"]))
        f1 = sum(max_f1(p, g, norm) for p, g in zip(preds, batch["answers"]))
        if len(names) <= 1:  # one validation set: val_loss / val_em / val_f1
            self.log("val_loss", out.loss, batch_size=n, sync_dist=True)
            self.log("val_em", 100.0 * em / n, prog_bar=True, batch_size=n, sync_dist=True)
            self.log("val_f1", 100.0 * f1 / n, batch_size=n, sync_dist=True)
            return
        sums = self._val_sums.setdefault(names[dataloader_idx], torch.zeros(4, dtype=torch.float64))
        sums += torch.tensor([em, f1, float(out.loss) * n, n], dtype=torch.float64)

    def val_names(self) -> list[str]:
        """The validation sets' names (the data module's `val_sets`; one unnamed set without a data module)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return list(getattr(datamodule, "val_sets", {}) or {})

    def val_normaliser(self, name: str | None) -> str:
        """The answer normaliser of validation set `name` (its task's `normaliser`; squad without a data module)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return (getattr(datamodule, "val_normalisers", {}) or {}).get(name, DEFAULT_NORMALISER)

    def on_validation_epoch_start(self) -> None:
        self._val_sums: dict[str, torch.Tensor] = {}

    def on_validation_epoch_end(self) -> None:
        """Several validation sets (a multi-task run): val_em/NAME per set, and val_em (the checkpoint's criterion),
        val_f1 and val_loss as their unweighted means, so each task counts alike whatever its size."""
        if not getattr(self, "_val_sums", None):
            return
        means = {}
        for name, sums in self._val_sums.items():
            em, f1, loss, n = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum").tolist()
            means[name] = (100.0 * em / n, 100.0 * f1 / n, loss / n)
            self.log(f"val_em/{name}", means[name][0], add_dataloader_idx=False)
            self.log(f"val_f1/{name}", means[name][1], add_dataloader_idx=False)
        for i, key in enumerate(("val_em", "val_f1", "val_loss")):
            self.log(key, sum(m[i] for m in means.values()) / len(means), prog_bar=key == "val_em")
        self._val_sums = {}

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.t5.parameters() if p.requires_grad]
        if hp.optimizer == "adamw":
            fused = torch.cuda.is_available() and all(p.is_cuda for p in params) if params else False
            opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=fused or None)
        elif hp.optimizer == "adafactor":
            from transformers.optimization import Adafactor

            if self.sharded:
                from cbqa.training.sharding import check_strategy

                check_strategy("fsdp", hp.optimizer)  # (refused at parse time already; a Python caller gets it here)

            opt = Adafactor(params, lr=hp.lr, relative_step=False, scale_parameter=False, warmup_init=False)
        else:
            raise ValueError(f"unknown optimizer {hp.optimizer!r} ({' | '.join(get_args(Optimizer))})")
        if hp.schedule == "constant" and not hp.warmup_steps:
            return opt  # nothing to schedule: skip a per-step scheduler call
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self.trainer else 1
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(hp.schedule, hp.warmup_steps, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def enable_gradient_checkpointing(net: Any) -> None:
    """Activation checkpointing per T5 block (transformers' own, non-reentrant: it composes with FSDP's hooks and keeps
    the dropout draws of the forward in the recomputation)."""
    options = {"use_reentrant": False}
    if hasattr(net, "activation_checkpointing_enable"):  # transformers >= 5.x's name
        net.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        net.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)


def step_seed(trainer: L.Trainer, batch_idx: int) -> int:
    """A seed for the training batch about to run: (run seed, batch number in the run, rank) mixed by SeedSequence."""
    accumulate = max(1, int(trainer.accumulate_grad_batches))
    position = batches_of_steps(trainer) + batch_idx % accumulate  # micro-batches of one step differ
    run_seed = int(os.environ.get("PL_GLOBAL_SEED", "0"))  # set by seed_everything (--seed_everything)
    return int(
        np.random.SeedSequence([run_seed, position, trainer.global_rank, 0xD0]).generate_state(1, np.uint64)[0] >> 1
    )


def lr_lambda(schedule: Schedule, warmup: int, total: int):
    """Multiplier of the peak learning rate at a given optimizer step."""

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        if schedule == "linear":
            return max(0.0, (total - step) / max(1, total - warmup))
        if schedule == "inverse_sqrt":
            return math.sqrt(max(warmup, 1)) / math.sqrt(max(step, warmup, 1))
        raise ValueError(f"unknown schedule {schedule!r} ({' | '.join(get_args(Schedule))})")

    return f
