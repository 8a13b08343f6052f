"""Lightning CLI for `cbqa finetune` and `cbqa pretrain`: YAML configs (stackable `-c a.yaml -c b.yaml`),
`--print_config`, the resolved config saved in the run dir, resume from the last checkpoint, HF export of the best model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentError
from lightning.pytorch.cli import LightningCLI

from cbqa.data.jsonl import write_json
from cbqa.errors import CbqaError
from cbqa.training.callbacks import HFExport, Throughput, refuse_sharded
from cbqa.training.datamodule import Seq2SeqDataModule
from cbqa.training.module import T5Seq2Seq

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
    def __init__(self, *args: Any, default_run_dir: str = "runs/train", **kwargs: Any) -> None:
        self.default_run_dir = default_run_dir
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run_dir", type=str, default=self.default_run_dir, help="where checkpoints, logs, config and hf/ go")
        parser.add_argument(
            "--resume", type=str, default="auto", help="auto (continue from the newest of RUN_DIR/checkpoints/{last,interrupted}.ckpt) | never | PATH"
        )

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        # Right after parsing, before seeding or loading a model: a sharded strategy would export one rank's shard.
        refuse_sharded((self.config.get("trainer") or {}).get("strategy") or "auto")

    def instantiate_trainer(self, **kwargs: Any):
        from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint, RichProgressBar
        from lightning.pytorch.loggers import CSVLogger

        run_dir = Path(self.config_init["run_dir"])
        ckpt_dir = run_dir / "checkpoints"
        has_val = bool(self.config_init["data"].val_file)
        loggers: list = [CSVLogger(run_dir, name="logs", version="")]
        try:
            from lightning.pytorch.loggers import TensorBoardLogger
            import tensorboard  # noqa: F401  (optional)

            loggers.append(TensorBoardLogger(run_dir, name="tb", version=""))
        except ImportError:
            pass
        every = self._get(self.config_init, "trainer", default={}).get("val_check_interval")

        self.throughput = Throughput()
        self.export = HFExport(run_dir / "hf", monitor="val_em" if has_val else "__none__")
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        ours = [RichProgressBar(leave=True)] if trainer_cfg.get("enable_progress_bar") is not False else []
        ours += [
            self.throughput,
            self.export,
            # best model by validation EM (or none without a validation set) ...
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="best-{step}-{val_em:.2f}",
                monitor="val_em",
                mode="max",
                save_top_k=1 if has_val else 0,
            ),
            # ... and the latest state, overwritten every validation interval, to resume from.
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="last",
                save_top_k=1,
                enable_version_counter=False,
                every_n_train_steps=every if isinstance(every, int) else None,
            ),
            # Ctrl-C or a crash still leaves a checkpoint to resume from.
            # (it deletes its file again after a clean finish, hence a name of its own).
            OnExceptionCheckpoint(dirpath=ckpt_dir, filename="interrupted"),
        ]
        configured = self._get(self.config_init, "trainer", default={}).get("callbacks") or []
        return super().instantiate_trainer(
            default_root_dir=str(run_dir), logger=loggers, callbacks=list(configured) + ours, **kwargs
        )


# Lightning messages that are expected in how cbqa drives it, and only clutter the output.
_QUIET = [
    r".*was called without a model.*",
    r".*there is no last checkpoint available.*",
    r".*is smaller than the logging interval.*",
    r".*LeafSpec.*is deprecated.*",
    r".*LightningCLI's args parameter is intended to run from within Python.*",
    r".*does not have many workers which may be a bottleneck.*",
]


def run_training(argv: list[str], prog: str, default_run_dir: str) -> int:
    """Parse, train (resuming if asked), export, and write RUN_DIR/summary.json. Returns an exit code."""
    import logging
    import warnings

    for pattern in _QUIET:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)  # GPU/TPU availability lines
    try:
        cli = CbqaCLI(
            T5Seq2Seq,
            Seq2SeqDataModule,
            args=argv,
            run=False,
            save_config_callback=None,
            trainer_defaults=TRAINER_DEFAULTS,
            parser_kwargs={"prog": prog, "default_env": False, "exit_on_error": False},
            seed_everything_default=0,
            auto_configure_optimizers=False,
            default_run_dir=default_run_dir,
        )
    except ArgumentError as e:  # a typo in an option or config: one line naming the key (and the choices)
        raise CbqaError(one_line_parse_error(str(e))) from None
    run_dir = Path(cli.config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    cli.parser.save(cli.config, run_dir / "config.yaml", overwrite=True, skip_check=True)

    ckpt = resolve_resume(cli.config["resume"], run_dir)
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
        "global_step": cli.trainer.global_step,
        "train_tokens_per_s": round(cli.throughput.tokens_per_s, 1),
        "wall_seconds": round(wall, 1),
        "resumed_from": ckpt,
        "parameters": sum(p.numel() for p in cli.model.t5.parameters()),
    }
    if cli.trainer.is_global_zero:
        write_json(run_dir / "summary.json", summary)
        print(json.dumps(summary, indent=2))
        print(f"wrote {run_dir}/: config.yaml, checkpoints/, logs/metrics.csv, hf/ (best model), summary.json")
    return 0


def one_line_parse_error(message: str) -> str:
    """jsonargparse's multi-line error as one line: `--model.optimizer: 'adamx' is not one of adamw, adafactor`."""
    import re

    keys = re.findall(r'Parser key "([^"]+)"', message)
    literal = re.search(r"Expected a typing\.Literal\[(.*?)\]\. Got value: (.*)", message)
    if keys and literal:
        choices = ", ".join(c.strip().strip("'\"") for c in literal.group(1).split(","))
        return f"--{'.'.join(keys)}: {literal.group(2).strip()!r} is not one of {choices}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines) + " (run with --help for the options)"


def merge_metrics(metrics_csv: Path, earlier: str) -> None:
    """Put the rows of the run before a resume back in front of the resumed run's rows (columns may differ)."""
    import io

    import pandas as pd

    from cbqa.io import atomic_writer

    frames = [pd.read_csv(io.StringIO(earlier))]
    if metrics_csv.exists():
        frames.append(pd.read_csv(metrics_csv))
    merged = pd.concat(frames, ignore_index=True)
    if "step" in merged:
        merged = merged.drop_duplicates().sort_values("step", kind="stable")
    with atomic_writer(metrics_csv) as f:
        merged.to_csv(f, index=False)


def resolve_resume(resume: str, run_dir: Path) -> str | None:
    if resume == "never":
        return None
    if resume == "auto":
        found = [p for p in (run_dir / "checkpoints").glob("*.ckpt") if p.stem in {"last", "interrupted"}]
        return str(max(found, key=lambda p: p.stat().st_mtime)) if found else None
    if not Path(resume).exists():
        raise CbqaError(f"--resume {resume}: no such checkpoint")
    return resume
