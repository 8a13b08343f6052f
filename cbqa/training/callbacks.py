"""Callbacks: export the best model as a Hugging Face directory, and a run summary with throughput."""

from __future__ import annotations

import json
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from cbqa.core.io import replace_dir, staging_dir
from cbqa.core.progress import progress_bar
from cbqa.model.inputs import INPUTS_FILE, InputRecord


class HFExport(L.Callback):
    """Keeps `run_dir/hf` equal to the best model by `monitor` (or the last one when nothing is validated).

    The export goes to a staging directory first and is swapped in by `cbqa.core.io.replace_dir`, so `hf/` is never
    half-written or missing. Under FSDP every rank takes part in gathering the whole model onto rank 0's CPU, and rank 0
    alone writes it (`export`).
    A tie on `monitor` (common: EM over a small dev set moves in steps of 100/n) is broken by `tie_break` (lower is
    better), and every validation that tied with the best is listed in `tie()` for the run's summary.
    The best score is part of the callback state, so a resumed run keeps comparing against it.
    `keep="last"` exports the final weights instead (the best is still tracked, for the summary): with a learning rate
    decayed to zero and a dev set of a few dozen questions, a choice by dev EM is mostly a choice by noise.
    """

    def __init__(
        self,
        out_dir: str | Path,
        monitor: str = "val_em",
        mode: str = "max",
        tie_break: str = "val_loss",
        keep: str = "best",
    ) -> None:
        if keep not in ("best", "last"):
            raise ValueError(f"keep must be best or last, got {keep!r}")
        self.out_dir, self.monitor, self.mode, self.tie_break = Path(out_dir), monitor, mode, tie_break
        self.keep = keep
        self.last: dict[str, Any] = {}  # the latest validation's step and scores (what `keep="last"` records)
        self.best: float | None = None
        self.best_step: int | None = None
        self.best_tie_value: float | None = None
        self.tied: list[dict[str, Any]] = []  # validations scoring exactly `best`: {"step", tie_break}
        self.improved = False  # whether the latest validation made a new best (BestCheckpoint follows this)
        self.inputs: InputRecord | None = None  # set by the CLI once the data is read: exported with the model

    def _strictly_better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.improved = False
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        raw = trainer.callback_metrics.get(self.tie_break)
        second = float(raw) if raw is not None else None
        step = trainer.global_step
        self.last = {"step": step, self.monitor: value, self.tie_break: second}
        if self._strictly_better(value):
            self.tied = [{"step": step, self.tie_break: second}]
            self.improved = True
        elif value == self.best:
            self.tied.append({"step": step, self.tie_break: second})
            self.improved = second is not None and (self.best_tie_value is None or second < self.best_tie_value)
        if self.improved:  # (the same decision on every rank: the metrics are synced)
            self.best, self.best_step, self.best_tie_value = value, step, second
        if self.improved and self.keep == "best":
            export(
                pl_module,
                self.out_dir,
                {"step": step, self.monitor: value, self.tie_break: second},
                trainer,
                self.inputs,
            )

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.best is None or self.keep == "last":  # the final weights (with the last validation's scores, if any)
            info = {**(self.last if self.last.get("step") == trainer.global_step else {}), "step": trainer.global_step}
            export(pl_module, self.out_dir, {**info, "kept": "last"}, trainer, self.inputs)

    def tie(self) -> dict[str, Any] | None:
        """The validations that tied on the best score and how the exported one was chosen; None without a tie."""
        if len(self.tied) < 2:
            return None
        return {
            self.monitor: self.best,
            "steps": self.tied,
            "chosen_step": self.best_step,
            "chosen_by": f"lowest {self.tie_break} among the tied steps (the earliest on equal {self.tie_break})",
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "best_tie_value": self.best_tie_value,
            "tied": self.tied,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = state.get("best"), state.get("best_step")
        self.best_tie_value, self.tied = state.get("best_tie_value"), list(state.get("tied", []))


class BestCheckpoint(ModelCheckpoint):
    """The Lightning checkpoint of the best model, chosen exactly as `HFExport` chose its export (ties included),
    so `checkpoints/best-*.ckpt` and `hf/` always hold the same step. Lightning runs checkpoint callbacks after the
    others, so `HFExport` has decided by the time this one asks."""

    def __init__(self, export: HFExport, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._export = export

    def check_monitor_top_k(self, trainer: L.Trainer, current: Any = None) -> bool:
        if current is None:
            return False
        return trainer.strategy.reduce_boolean_decision(bool(self._export.improved))


def export(
    pl_module: L.LightningModule,
    out_dir: Path,
    info: dict[str, Any],
    trainer: L.Trainer | None = None,
    inputs: InputRecord | None = None,
) -> None:
    """Write `pl_module`'s T5 and tokenizer as a Hugging Face directory at `out_dir`, from rank 0 (call it on every rank:
    a sharded model is first gathered, which takes them all), with the input record it was trained on."""
    from cbqa.core.progress import hf_bars_off
    from cbqa.training.sharding import full_state_dict, is_sharded, unsharded_copy

    net = pl_module.t5
    if is_sharded(net):
        state = full_state_dict(net)  # collective; the whole model on rank 0's CPU, nothing elsewhere
        if trainer is not None and not trainer.is_global_zero:
            return
        net = unsharded_copy(net, state)
        del state
    elif trainer is not None and not trainer.is_global_zero:
        return
    staging = staging_dir(out_dir)
    try:
        with hf_bars_off():
            net.save_pretrained(staging)
        pl_module.tokenizer.save_pretrained(staging)
        (staging / "cbqa_export.json").write_text(json.dumps(info, indent=2) + "\n")
        if inputs is not None:  # the prefixes and lengths the model was trained on (cbqa.model.inputs)
            (staging / INPUTS_FILE).write_text(inputs.model_dump_json(indent=2) + "\n")
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class Throughput(L.Callback):
    """Counts non-padding input+target tokens per second of training (wall clock, including data loading)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.seconds = 0.0
        self._t0: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._t0 is None:
            return
        self.seconds += time.perf_counter() - self._t0
        self.tokens += int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
        if (
            self.seconds > 0 and trainer.global_step % max(1, trainer.log_every_n_steps) == 0
        ):  # global_step already counts this step
            pl_module.log("train_tokens_per_s", self.tokens / self.seconds, on_step=True, on_epoch=False)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class DataStats(L.Callback):
    """Sums the training stream's per-batch statistics (examples, input tokens and padding, truncated examples,
    policy fallbacks; see cbqa.training.stream.STAT_NAMES) for the run summary. Kept across a resume."""

    def __init__(self) -> None:
        self.totals = [0] * 5

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stats = batch.get("stats") if isinstance(batch, dict) else None
        if stats is not None:
            self.totals = [a + int(b) for a, b in zip(self.totals, stats.tolist(), strict=True)]

    def summary(self) -> dict[str, Any]:
        from cbqa.training.stream import STAT_NAMES

        t = dict(zip(STAT_NAMES, self.totals, strict=True))
        tokens = t["input_tokens"] + t["input_padding"]
        return {**t, "padding_fraction": round(t["input_padding"] / tokens, 4) if tokens else None}

    def state_dict(self) -> dict[str, Any]:
        return {"totals": list(self.totals)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.totals = list(state.get("totals", self.totals))


class StepProgress(L.Callback):
    """Training progress as steps of the run's total, with the loss (`cbqa.core.progress`, on stderr, rank 0), and
    one line per validation with its EM. Lightning's bars count epochs, which a step-limited run does not have (its
    bar read "Epoch 0/-2")."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._bar: ExitStack | None = None
        self._advance: Any = None
        self._step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._bar = ExitStack()
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self._advance = self._bar.enter_context(progress_bar(f"{self.name}: steps", total=total))
        self._step = trainer.global_step
        if self._step:  # a resumed run starts where it stopped
            self._advance(self._step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        if self._advance is None or trainer.global_step <= self._step:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        done, self._step = trainer.global_step - self._step, trainer.global_step
        shown = f" loss {float(loss):.3f}" if loss is not None else ""
        self._advance(done, description=f"{self.name}: steps{shown}")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        em = trainer.callback_metrics.get("val_em")
        if trainer.is_global_zero and em is not None and not trainer.sanity_checking:
            print(f"step {trainer.global_step}: val_em {float(em):.2f}", file=sys.stderr)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._advance = None, None
