"""The demo's stage runner (each stage skipped when its output exists, so an interrupted demo resumes where it
stopped) and the training arguments every demo training stage shares."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cbqa.demo.config import DemoConfig
from cbqa.errors import CbqaError

console = Console(stderr=False)


class Stages:
    """Runs named stages and records their wall time."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def run(self, name: str, done: Path | None, fn: Callable[[], Any]) -> None:
        if done is not None and done.exists():
            console.print(f"[dim]• {name}: already done ({done})[/dim]")
            return
        console.rule(f"[bold]{name}")
        t0 = time.perf_counter()
        code = fn()
        if code not in (None, 0):
            raise CbqaError(f"demo stage {name!r} failed (exit {code})")
        self.timings[name] = round(time.perf_counter() - t0, 1)


def train_args(
    cfg: DemoConfig, out: Path, run_dir: Path, tasks: list[dict[str, Any]], steps: int, lr: float,
    model: Path | None, val_file: Path | None,
) -> list[str]:  # fmt: skip
    """`cbqa pretrain` / `cbqa finetune` arguments of one demo training stage."""
    a = ["--run_dir", str(run_dir), "--seed_everything", str(cfg.seed),
         "--data.tasks", json.dumps(tasks), "--data.batch_size", str(cfg.batch_size),
         "--trainer.max_steps", str(steps),
         # Linear decay to 0: with a constant rate the 1M-parameter model plateaus at ~65% fill-in accuracy on
         # held-out paragraphs after 1,000 SSM steps; decaying it reaches ~100% (README, "Demo results").
         "--model.schedule", "linear",
         # validation (greedy decoding of the dev set) about five times a run, at least every val_every steps
         "--trainer.val_check_interval", str(max(cfg.val_every, steps // 5) if val_file else steps),
         "--trainer.enable_model_summary", "false", "--model.lr", str(lr)]  # fmt: skip
    if val_file is not None:
        a += ["--data.val_file", str(val_file)]
    if model is not None:
        a += ["--model.model", str(model)]
    else:
        a += ["--model.tokenizer", str(out / "tokenizer")]
        for k, v in cfg.arch.items():
            a += [f"--model.arch.{k}", str(v)]
    return a
