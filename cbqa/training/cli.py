"""Lightning CLI for `cbqa finetune` and `cbqa pretrain`: YAML configs (stackable `-c a.yaml -c b.yaml`),
`--print_config`, the resolved config saved in the run dir, resume from the last checkpoint, HF export of the best model.

A rerun resumes only a run made with the same config and data (`run_record`): otherwise it stops with the differing
keys (exit 2) before anything in the run directory is touched; `--resume never` starts over, `--force` continues.
A bad config file or option is one `file:line: reason` line, never a usage screen or a traceback
(`cbqa.training.options` checks each option against the classes' own types before jsonargparse parses).
"""

from __future__ import annotations

import json
import sys
import time
from argparse import ArgumentError
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.cli import LightningCLI

from cbqa.core.errors import CbqaError
from cbqa.core.formats.jsonl import write_json
from cbqa.core.io import atomic_writer
from cbqa.core.locks import writer_lock
from cbqa.training import run_record
from cbqa.training.callbacks import BestCheckpoint, DataStats, HFExport, StepProgress, Throughput
from cbqa.training.checkpoints import (
    AtomicCheckpointIO,
    ExceptionCheckpoint,
    LastCheckpoint,
    check_validation_interval,
    resolve_resume,
)
from cbqa.training.datamodule import Seq2SeqDataModule
from cbqa.training.module import T5Seq2Seq
from cbqa.training.options import check_config_files, check_options, config_files, option_types
from cbqa.training.sharding import FSDPStrategy, check_strategy, is_fsdp

TRAINER_DEFAULTS: dict[str, Any] = {
    "max_steps": 1000,
    "val_check_interval": 200,  # validation EM every N training steps ...
    "check_val_every_n_epoch": None,  # ... counted across epochs
    "num_sanity_val_steps": 0,
    "log_every_n_steps": 10,
    "accelerator": "auto",
    "devices": 1,
}


class CbqaCLI(LightningCLI):
    def __init__(self, *args: Any, default_run_dir: str = "runs/train", lock: ExitStack, **kwargs: Any) -> None:
        self.default_run_dir = default_run_dir
        self.lock = lock  # holds the run directory's writer lock once parsed; the caller closes it, however it ends
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--run_dir", type=str, default=self.default_run_dir, help="where checkpoints, logs, config and hf/ go"
        )
        parser.add_argument(
            "--resume",
            type=str,
            default="auto",
            help="auto (continue from the newest of RUN_DIR/checkpoints/{last,interrupted}.ckpt when RUN_DIR was made "
            "with the same config and data) | never (start over: the run dir's checkpoints, logs and hf/ are removed) | PATH",
        )
        parser.add_argument(
            "--export",
            type=str,
            choices=["best", "last"],
            default="best",
            help="what RUN_DIR/hf holds: the best model by validation EM (ties: lower loss) | the final weights",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="resume even when the config or data differ from what made RUN_DIR (the differences are recorded in run.json)",
        )

    def parse_arguments(self, parser, args) -> None:
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as e:  # what the typed check let through: jsonargparse's own words, on one line
            files = config_files(list(args or []))
            raise CbqaError(f"{files[-1] + ': ' if len(files) == 1 else ''}{' '.join(str(e).split())}") from None
        # Right after parsing, before seeding or loading a model: strategies cbqa does not wire, and what FSDP refuses.
        check_strategy(
            (self.config.get("trainer") or {}).get("strategy") or "auto",
            (self.config.get("model") or {}).get("optimizer") or "adamw",
            getattr(self.model_class, "supports_fsdp", True),
        )

    def before_instantiate_classes(self) -> None:
        """Take the run directory's one-writer lock, make the config's paths absolute and refuse to resume a run made
        differently, before any model is built and before anything in the run directory is written."""
        if run_record.is_launching_process():  # (a DDP launcher's extra ranks run under the launcher's lock)
            self.lock.enter_context(writer_lock(self.config["run_dir"], self.parser.prog))
        run_record.absolute_paths(self.config)
        resolved = yaml.safe_load(self.parser.dump(self.config, skip_validation=True))
        missing = run_record.missing_inputs(resolved)
        if missing:  # before any model is built or downloaded
            raise CbqaError(missing[0] + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        check_validation_interval(resolved)
        self.run_check = check_resume(
            Path(self.config["run_dir"]), self.config["resume"], bool(self.config["force"]), resolved
        )

    def instantiate_trainer(self, **kwargs: Any):
        from lightning.pytorch.loggers import CSVLogger

        run_dir = Path(self.config_init["run_dir"])
        ckpt_dir = run_dir / "checkpoints"
        data = self.config_init["data"]
        has_val = bool(data.val_file or any(c.val_file for c in data.task_cfgs))
        loggers: list = [CSVLogger(run_dir, name="logs", version="")]
        try:
            import tensorboard  # noqa: F401  (optional)
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(run_dir, name="tb", version=""))
        except ImportError:
            pass
        every = self._get(self.config_init, "trainer", default={}).get("val_check_interval")
        # val_check_interval counts training batches, checkpoints count optimizer steps: with gradient accumulation,
        # last.ckpt is written at each validation only when the interval is divided by the batches per step
        accumulate = self._get(self.config_init, "trainer", default={}).get("accumulate_grad_batches") or 1
        if isinstance(every, int) and isinstance(accumulate, int) and accumulate > 1:
            every = max(1, every // accumulate)

        self.throughput = Throughput()
        self.data_stats = DataStats()
        keep = self._get(self.config_init, "export", default="best")
        self.export = HFExport(run_dir / "hf", monitor="val_em" if has_val else "__none__", keep=keep)
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        # steps of the total (a step-limited run's epochs mean nothing), through the one progress helper
        ours = [StepProgress(self.parser.prog)] if trainer_cfg.get("enable_progress_bar") is not False else []
        ours += [
            self.throughput,
            self.data_stats,
            self.export,
            # best model by validation EM, ties broken by validation loss as HFExport does (none without a validation set) ...
            BestCheckpoint(
                self.export,
                dirpath=ckpt_dir,
                filename="best-{step}-{val_em:.2f}",
                monitor="val_em",
                mode="max",
                save_top_k=1 if has_val else 0,
            ),
            # ... and the latest state, overwritten every validation interval, to resume from.
            LastCheckpoint(
                dirpath=ckpt_dir,
                filename="last",
                save_top_k=1,
                enable_version_counter=False,
                every_n_train_steps=every if isinstance(every, int) else None,
            ),
            # Ctrl-C or a crash still leaves a checkpoint to resume from.
            # (it deletes its file again after a clean finish, hence a name of its own).
            ExceptionCheckpoint(dirpath=ckpt_dir, filename="interrupted"),
        ]
        configured = self._get(self.config_init, "trainer", default={}).get("callbacks") or []
        plugins = trainer_cfg.get("plugins") or []
        if is_fsdp(trainer_cfg.get("strategy") or "auto") and not isinstance(trainer_cfg.get("strategy"), FSDPStrategy):
            kwargs["strategy"] = (
                FSDPStrategy()
            )  # `fsdp` is cbqa's FSDP2 strategy (Lightning's registry maps it to FSDP1)
        return super().instantiate_trainer(
            default_root_dir=str(run_dir),
            logger=loggers,
            callbacks=list(configured) + ours,
            enable_progress_bar=False,  # (ours is a plain callback: Lightning would add its own bar)
            # no validation set: no validation loop (and no warning about an empty one)
            **({} if has_val else {"limit_val_batches": 0}),
            plugins=[AtomicCheckpointIO(), *(plugins if isinstance(plugins, list) else [plugins])],
            **kwargs,
        )


# Lightning messages that are expected in how cbqa drives it, and only clutter the output.
_QUIET = [
    r".*was called without a model.*",
    r".*there is no last checkpoint available.*",
    r".*is smaller than the logging interval.*",
    r".*LeafSpec.*is deprecated.*",
    r".*LightningCLI's args parameter is intended to run from within Python.*",
    r".*does not have many workers which may be a bottleneck.*",
    r".*Your `IterableDataset` has `__len__` defined.*",
]


def run_training(
    argv: list[str],
    prog: str,
    default_run_dir: str,
    module_class: type = T5Seq2Seq,
    datamodule_class: type = Seq2SeqDataModule,
    moved: dict[str, str] | None = None,
    on_ready: Callable[[Any, Path], None] | None = None,
) -> int:
    """Parse, train (resuming if asked), export, and write RUN_DIR/summary.json. Returns an exit code.

    `moved`: option keys that are no longer options of this command -> where they went (one-line error).
    `on_ready(cli, run_dir)`: called in the launching process once the run directory is set up, before training."""
    import logging
    import warnings

    for pattern in _QUIET:
        warnings.filterwarnings("ignore", message=pattern)
    # GPU/TPU availability lines, and "Seed set to N" (the seed is in the run's config.yaml)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    check_config_files(argv)
    check_options(argv, option_types(module_class, datamodule_class), moved or {})
    with ExitStack() as lock:  # (released when training ends or fails; by the kernel if the process dies)
        cli = CbqaCLI(
            module_class,
            datamodule_class,
            args=argv,
            run=False,
            save_config_callback=None,
            trainer_defaults=TRAINER_DEFAULTS,
            parser_kwargs={"prog": prog, "default_env": False, "exit_on_error": False},
            seed_everything_default=0,
            auto_configure_optimizers=False,
            default_run_dir=default_run_dir,
            lock=lock,
        )
        return _train(cli, prog, on_ready)


def _train(cli: CbqaCLI, prog: str, on_ready: Callable[[Any, Path], None] | None) -> int:
    run_dir = Path(cli.config["run_dir"])
    check: ResumeCheck = cli.run_check
    ckpt = check.checkpoint
    # Every input is read and checked (tasks built, validation questions read) before the run directory is touched:
    # a run that fails on its input leaves nothing behind, and the corrected rerun starts cleanly.
    cli.datamodule.tokenizer = cli.model.tokenizer
    cli.datamodule.setup("fit")
    inputs = cli.datamodule.input_record()  # what the model reads: recorded in run.json and with every hf/ export
    cli.export.inputs = inputs
    if run_record.is_launching_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            removed = run_record.clear_artifacts(run_dir)
            if removed:
                print(f"starting over in {run_dir}: removed the earlier run's {', '.join(removed)}", file=sys.stderr)
        with atomic_writer(run_dir / "config.yaml") as f:  # paths in it are absolute: usable from any directory
            f.write(cli.parser.dump(cli.config, skip_validation=True))
        note = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "resumed_from": ckpt}
        if check.forced:
            note["forced_differences"] = check.forced
        history = check.old.history if check.old and ckpt else []
        record = check.record.model_copy(update={"inputs": inputs.model_dump()})
        run_record.write_record(run_dir, record, note, history)
        if on_ready is not None:
            on_ready(cli, run_dir)
    if ckpt:
        print(f"resuming from {ckpt}", file=sys.stderr)
    # Lightning's CSVLogger rewrites metrics.csv on every run, so a resumed run would lose the earlier curve.
    metrics_csv = run_dir / "logs" / "metrics.csv"
    earlier = metrics_csv.read_text() if ckpt and metrics_csv.exists() else None
    t0 = time.perf_counter()
    try:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt, weights_only=True)
    except SystemExit:
        # Lightning turns Ctrl-C into a graceful shutdown (OnExceptionCheckpoint saves) followed by sys.exit(1).
        if not cli.trainer.interrupted:
            raise
    wall = time.perf_counter() - t0
    if earlier is not None and cli.trainer.is_global_zero:
        merge_metrics(metrics_csv, earlier)
    if cli.trainer.interrupted:
        print(f"interrupted; run `{prog} ... --run_dir {run_dir}` again to resume from {run_dir}/checkpoints/")
        return 130
    summary = {
        "run_dir": str(run_dir),
        "hf_export": str(run_dir / "hf"),
        "best_val_em": cli.export.best,
        "best_step": cli.export.best_step,
        # validations that tied on the best EM and how the exported one was chosen (by dev loss); null without a tie
        "best_tie": cli.export.tie(),
        "exported": cli.export.keep,  # what hf/ holds: the best model by validation EM, or the last weights
        "global_step": cli.trainer.global_step,
        "train_tokens_per_s": round(cli.throughput.tokens_per_s, 1),
        "wall_seconds": round(wall, 1),
        "resumed_from": ckpt,
        "parameters": sum(p.numel() for p in cli.model.t5.parameters()),
        # training data on rank 0: examples, input tokens, padding (fraction of input tokens), examples cut to
        # max_input_len / max_target_len (0 unless a policy cannot fit), documents a policy stepped over
        "data": cli.data_stats.summary(),
    }
    if cli.trainer.is_global_zero:
        write_json(run_dir / "summary.json", summary)
        print(json.dumps(summary, indent=2))
        print(f"wrote {run_dir}/: config.yaml, checkpoints/, logs/metrics.csv, hf/ (best model), summary.json")
    return 0


def merge_metrics(metrics_csv: Path, earlier: str) -> None:
    """Put the rows of the run before a resume back in front of the resumed run's rows (columns may differ)."""
    import io

    import pandas as pd

    frames = [pd.read_csv(io.StringIO(earlier))]
    if metrics_csv.exists():
        frames.append(pd.read_csv(metrics_csv))
    merged = pd.concat(frames, ignore_index=True)
    if "step" in merged:
        merged = merged.drop_duplicates().sort_values("step", kind="stable")
    with atomic_writer(metrics_csv) as f:
        merged.to_csv(f, index=False)


@dataclass
class ResumeCheck:
    checkpoint: str | None  # what to resume from (None: start over)
    record: run_record.RunRecord  # this run's config and data fingerprints
    old: run_record.RunRecord | None  # the run directory's record, if any
    forced: list[str] = field(default_factory=list)  # differences --force continued through


def check_resume(run_dir: Path, resume: str, force: bool, config: dict[str, Any]) -> ResumeCheck:
    """Decide where this run starts; raise (exit 2) when it would resume a run made with another config or data."""
    ckpt = resolve_resume(resume, run_dir)
    old = run_record.read_record(run_dir) if resume != "never" else None
    record = run_record.make_record(config, old)
    inside = ckpt is not None and Path(ckpt).resolve().is_relative_to(run_dir.resolve())
    if not inside:
        return ResumeCheck(ckpt, record, old)
    if old is None:
        diffs = [f"{run_dir / run_record.RECORD} is missing (a run of an older cbqa, or not a cbqa run directory)"]
    else:
        diffs = run_record.differences(old, record)
    if diffs and not force:
        shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise CbqaError(
            f"{run_dir} was made with a different config or data, refusing to resume from {Path(ckpt).name}: {shown}. "
            "Pass --resume never to start over there (its checkpoints, logs and hf/ are removed), "
            "--force to continue anyway, or another --run_dir."
        )
    return ResumeCheck(ckpt, record, old, diffs)
