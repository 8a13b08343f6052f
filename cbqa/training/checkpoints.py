"""Checkpoints that are never half-written, and a resume that never trusts one that is.

- `AtomicCheckpointIO`: a checkpoint is serialised in memory, written to a temporary file in the checkpoint's own
  directory, fsynced and renamed over the old one (`cbqa.core.io.atomic_path`). Lightning's own save writes through
  a temporary file in the system temp dir and moves it; when the run dir is on another file system that move is a
  copy, which a kill or a full disk cuts short, leaving a truncated `last.ckpt` that then blocks every resume.
- `LastCheckpoint`: Lightning's `ModelCheckpoint` for `last.ckpt`, saved only between two optimizer steps
  (`at_step_boundary`). Lightning does not keep in a checkpoint the step it last saved at, so a run resumed at step N
  saved again after its first micro-batch (N is still a multiple of the interval): a checkpoint without the gradients
  accumulated so far, from which the next resume trained on other batches than an uninterrupted run.
- `ExceptionCheckpoint`: Lightning's `OnExceptionCheckpoint` (a crash or Ctrl-C still leaves `interrupted.ckpt` to
  resume from), except when nothing was trained yet or the error is the input's or the machine's: a step-0
  checkpoint would make the corrected rerun "resume" a run that never started (and, on a full disk, fail again).
  Between two micro-batches of one step it saves nothing either (the resume takes `last.ckpt`), for the same reason.
- `check_validation_interval`: with gradient accumulation and a validation set, the validation interval (which
  Lightning counts in micro-batches) must be a whole number of optimizer steps. Otherwise a validation, and the best
  checkpoint saved at it, falls inside a step: without the gradients accumulated so far, so a resume from it is not
  exact.
- `resolve_resume`: the newest of `last.ckpt` / `interrupted.ckpt` (then the best checkpoint) that is a complete
  checkpoint file; one that is not (empty, truncated, not a checkpoint) is named on one line and passed over, and
  when none is usable the command stops instead of silently starting over.

Under FSDP (`cbqa.training.sharding`) a checkpoint is a directory (a torch distributed checkpoint: a shard file per
rank, its index `.metadata`, and `meta.pt` with the loops' and callbacks' state), published whole by a symlink swap;
the same names, the same resume rules.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_path, remove_tree
from cbqa.training.run_record import flatten
from cbqa.training.stream import batches_of_steps

RESUMABLE = ("last", "interrupted")


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())

    def remove_checkpoint(self, path: Any) -> None:
        remove_tree(path)  # a file, or a published (symlinked) directory checkpoint with its version


def at_step_boundary(trainer: Any) -> bool:
    """Whether training stands between two optimizer steps: the micro-batches processed are exactly those of the steps
    taken (one begun and not finished counts for nothing: the resume trains on it again). Only such a state resumes
    exactly: the stream restarts at batch global_step x accumulate, and the gradients a step's first micro-batches
    accumulated are not in a checkpoint."""
    return trainer.fit_loop.epoch_loop.batch_progress.total.processed == batches_of_steps(trainer)


def check_validation_interval(config: dict[str, Any]) -> None:
    """One `CbqaError` line when a run with a validation set would validate between the micro-batches of one optimizer
    step (`--trainer.val_check_interval` not a multiple of `--trainer.accumulate_grad_batches`). Without a validation
    set the interval only sets how often last.ckpt is written, in whole steps, and any value is fine."""
    trainer = config.get("trainer") or {}
    every, accumulate = trainer.get("val_check_interval"), trainer.get("accumulate_grad_batches") or 1
    if (
        isinstance(every, bool)
        or not isinstance(every, int)
        or not isinstance(accumulate, int)
        or every % accumulate == 0
    ):
        return
    if not any(key.rsplit(".", 1)[-1].split("[")[0] == "val_file" and value for key, value in flatten(config)):
        return
    below = every - every % accumulate
    closest = f"{below} or {below + accumulate}" if below else str(accumulate)
    raise CbqaError(
        f"--trainer.val_check_interval {every} is not a multiple of --trainer.accumulate_grad_batches {accumulate}: it "
        f"counts micro-batches, so validation and the best checkpoint would fall inside an optimizer step (use {closest})"
    )


class LastCheckpoint(ModelCheckpoint):
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if at_step_boundary(trainer):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class ExceptionCheckpoint(OnExceptionCheckpoint):
    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if trainer.global_step == 0 or isinstance(exception, (CbqaError, OSError)) or not at_step_boundary(trainer):
            return
        # a whole checkpoint, to resume from (said explicitly: Lightning logs a line when it has to pick the default)
        trainer.save_checkpoint(self.ckpt_path, weights_only=False)


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` is not a complete checkpoint file (torch's zip format, its data record present) or sharded checkpoint
    directory (such a `meta.pt` and the shards' index), or None."""
    if path.is_dir():
        from cbqa.training.sharding import META

        if not (path / ".metadata").is_file():
            return "a directory without a distributed checkpoint's index (.metadata)"
        problem = checkpoint_problem(path / META) if (path / META).exists() else "missing"
        return f"a distributed checkpoint whose {META} is {problem}" if problem else None
    try:
        if path.stat().st_size == 0:
            return "empty"
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist()):
                return "not a torch checkpoint"
    except zipfile.BadZipFile:
        return "truncated or not a checkpoint"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None


def resolve_resume(resume: str, run_dir: Path) -> str | None:
    """The checkpoint a run resumes from: None to start over (`never`, or no checkpoint yet), the newest usable one
    of the run dir (`auto`), or the given path (which must be usable)."""
    if resume == "never":
        return None
    if resume != "auto":
        path = Path(resume)
        if not path.exists():
            raise CbqaError(f"--resume {resume}: no such checkpoint")
        problem = checkpoint_problem(path)
        if problem:
            raise CbqaError(f"--resume {resume}: {problem}")
        return resume
    ckpts = run_dir / "checkpoints"
    found = sorted(
        (p for p in ckpts.glob("*.ckpt") if p.stem in RESUMABLE), key=lambda p: p.stat().st_mtime, reverse=True
    )
    found += sorted(ckpts.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    passed_over = []
    for path in found:
        problem = checkpoint_problem(path)
        if problem is None:
            if passed_over:
                print(f"{'; '.join(passed_over)}: resuming from {path.name} instead", file=sys.stderr)
            return str(path)
        passed_over.append(f"{path} is {problem}")
    if passed_over:
        raise CbqaError(
            f"no usable checkpoint to resume from in {ckpts} ({'; '.join(passed_over)}); "
            "pass --resume never to start over"
        )
    return None
