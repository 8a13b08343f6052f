"""The study's stage runner and the training arguments every study training stage shares.

Each stage records what it was run with in `OUT/stages.json`: its arguments (paths inside OUT written relative to
it) and the fingerprints of the inputs they name. A stage is skipped only when its output exists and was made with
exactly that; when anything differs (another flag, an earlier stage that was rerun), its outputs are removed and it
runs again. A stage that was interrupted (kill, Ctrl-C, an error) is rerun with the same record, so the command it
wraps resumes where it stopped (`cbqa ner` from its finished shards, training from its last checkpoint).

Independent chains of stages (one variant's pretraining, fine-tuning and prediction; the retrieval arm) run side
by side in lanes (`Stages.parallel`). Every training stage runs as `cbqa pretrain` / `cbqa reader finetune` in a
process of its own (`in_child`: forked from a server that has imported torch and Lightning once, on a fixed number
of torch threads, its output in `OUT/logs/STAGE.log`, killed with the study), so a stage computes the same whether
it ran alone or beside another: on 2 cores, two one-thread trainings side by side take ~1.5x less time than one
after the other with two threads each. When a stage fails, the other lanes stop too: a running training stage is
stopped as a Ctrl-C would stop it (it resumes on the rerun), a command running in a lane's thread at its progress bar's
next step, and no further stage starts, so the error is reported at once rather than after the other lanes' work.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import RootModel, StrictStr
from rich.console import Console

from cbqa.core.contracts import Contract, Number, read_contract, write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.jsonl import write_json
from cbqa.core.io import fingerprint, remove_tree
from cbqa.core.progress import Cancelled, cancel_event, cancel_with
from cbqa.demo.config import VARIANTS, StudyConfig

console = Console(stderr=False)
RECORDS = "stages.json"


class StageKey(Contract):
    """What a stage ran with: its arguments (relative to OUT) and a fingerprint of each input they name."""

    args: list[StrictStr]
    inputs: dict[str, StrictStr]


class StageRecord(Contract):
    state: Literal["running", "done"]
    key: StageKey
    wall_s: Number | None = None  # when done


StageRecords = RootModel[dict[str, StageRecord]]  # `OUT/stages.json`: stage name -> record


class Stopped(CbqaError):
    """A stage not started, or stopped, because a stage of another lane failed."""


class Once:
    """`fn()` run once, by the first lane that calls it; a lane that calls it meanwhile waits for that run. Every call
    returns its result (or raises its error)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self._lock = threading.Lock()
        self._outcome: tuple[bool, Any] | None = None  # (succeeded, result or error)

    def __call__(self) -> Any:
        with self._lock:
            if self._outcome is None:
                try:
                    self._outcome = (True, self.fn())
                except BaseException as e:  # (every caller sees the one failure; none reruns the stages)
                    self._outcome = (False, e)
        ok, value = self._outcome
        if not ok:
            raise value
        return value


class Stages:
    """Runs named stages, records what each was run with (`OUT/stages.json`) and its wall time."""

    def __init__(self, out: Path | None = None) -> None:
        self.out = out
        self.timings: dict[str, float] = {}
        self.records: dict[str, StageRecord] = _read_records(out / RECORDS) if out is not None else {}
        self._lock = threading.Lock()  # records and stages.json, written from the lanes' threads
        self.stopping = threading.Event()  # set when a lane's chain failed: the other lanes stop (`Stopped`)

    def parallel(self, chains: list[Callable[[], Any]], lanes: int) -> None:
        """Run the chains (each a function running its stages in order), at most `lanes` at a time, in threads. The
        first failure stops the other lanes (`stopping`: no stage starts, a running training stage is stopped) and is
        raised once every started chain has ended (a killed study leaves nothing running: its training children die
        with it)."""
        if lanes <= 1 or len(chains) <= 1:
            for chain in chains:
                chain()
            return
        errors: list[BaseException] = []
        todo = list(chains)
        lock = threading.Lock()

        def lane() -> None:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    chain = todo.pop(0)
                try:
                    chain()
                except BaseException as e:  # (re-raised below, in the main thread)
                    with lock:
                        errors.append(e)
                        first = not self.stopping.is_set() and not isinstance(e, Stopped)
                        if first:
                            self.stopping.set()
                    if first:
                        console.print("[red]• a stage failed: stopping the other lanes[/red]")

        threads = [threading.Thread(target=lane, name=f"lane-{i}") for i in range(min(lanes, len(chains)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise next((e for e in errors if not isinstance(e, Stopped)), errors[0])

    def command(
        self, name: str, done: Path, main: Callable[[list[str]], Any], argv: list[str], outputs: Sequence[Path] = ()
    ) -> None:
        """A stage that runs one `cbqa` subcommand's `main(argv)` in this process; the argv is what it records."""
        self.run(name, done, lambda: main(argv), [name.split()[0], *argv], outputs)

    def run(
        self,
        name: str,
        done: Path | None,
        fn: Callable[[], Any],
        args: Sequence[str] = (),
        outputs: Sequence[Path] = (),
    ) -> None:
        """Run `fn` unless `done` exists and was made by a run with the same `args` and inputs. `outputs` (default:
        `done`) are what the stage writes; they are removed before it reruns with different arguments or inputs."""
        if self.stopping.is_set():
            raise Stopped(f"study stage {name!r} not started: a stage of another lane failed")
        owned = [Path(p) for p in (outputs or ([done] if done is not None else []))]
        key = self.key(args, owned)
        record = self.records.get(name)
        if done is not None and done.exists() and record is not None and record.state == "done" and record.key == key:
            console.print(f"[dim]• {name}: already done ({done})[/dim]")
            return
        if record is None or record.key != key:
            stale = [p for p in owned if p.exists() or p.is_symlink()]
            if stale:
                why = "made with other arguments or inputs" if record is not None else "of unknown origin"
                console.print(f"[yellow]• {name}: rerunning; removing its earlier outputs ({why})[/yellow]")
                for p in stale:
                    remove_tree(p)
        if threading.current_thread() is threading.main_thread():
            console.rule(f"[bold]{name}")
        else:  # a lane: one line per stage, not a rule that would cut through the other lane's output
            console.print(f"[bold]• {name}[/bold]")
        self._record(name, StageRecord(state="running", key=key))
        t0 = time.perf_counter()
        try:
            # a command running here stops at its next progress step, a training child is stopped (`in_child`)
            with cancel_with(self.stopping):
                code = fn()
        except Cancelled as e:
            raise Stopped(f"study stage {name!r} stopped: a stage of another lane failed") from e
        if code not in (None, 0):
            raise CbqaError(f"study stage {name!r} failed (exit {code}){self._log_tail(name)}")
        wall = round(time.perf_counter() - t0, 1)
        self.timings[name] = wall
        self._record(name, StageRecord(state="done", key=key, wall_s=wall))
        if threading.current_thread() is not threading.main_thread():
            console.print(f"[green]• {name}: done in {wall:.0f} s[/green]")

    def log(self, name: str) -> Path:
        """Where a stage run in a child process writes its output."""
        assert self.out is not None
        return self.out / "logs" / f"{name.replace(' ', '_')}.log"

    def _log_tail(self, name: str) -> str:
        path = self.log(name) if self.out is not None else None
        if path is None or not path.is_file():
            return ""
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return f": {lines[-1][:300]} (whole output: {path})" if lines else f" (output: {path})"

    def key(self, args: Sequence[str], outputs: Sequence[Path]) -> StageKey:
        """The stage's arguments (relative to OUT) and a fingerprint of each input path they name (outputs excluded)."""
        inputs: dict[str, str] = {}
        for path in _paths_in(args):
            p = Path(path)
            if "/" not in path or p == self.out or not p.exists() or any(p == o or o in p.parents for o in outputs):
                continue
            inputs[self._rel(str(p))] = fingerprint(p)
        return StageKey(args=[self._rel(a) for a in args], inputs=inputs)

    def _rel(self, text: str) -> str:
        if self.out is None:
            return text
        root = str(self.out)
        return text.replace(root + "/", "").replace(root, ".")

    def _record(self, name: str, record: StageRecord) -> None:
        with self._lock:
            self.records[name] = record
            if self.out is not None:
                write_contract(self.out / RECORDS, StageRecords(dict(self.records)))


def _read_records(path: Path) -> dict[str, StageRecord]:
    """The stage records of an earlier run; unreadable ones count as none (every stage then reruns)."""
    try:
        return read_contract(StageRecords, path).root
    except CbqaError:
        return {}


def _paths_in(args: Sequence[str]) -> list[str]:
    """Every argument, and every string inside a JSON argument, that could be a path."""
    out: list[str] = []
    for a in args:
        if a.startswith(("[", "{")):
            try:
                out += _strings(json.loads(a))
            except json.JSONDecodeError:
                out.append(a)
        elif not a.startswith("-"):
            out.append(a)
    return out


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def flags(**options: Any) -> list[str]:
    """Command-line options from keywords: `passage_words=0` -> `--passage-words 0` (a cbqa command's own options),
    `data__batch_size=8` -> `--data.batch_size 8` (a training option, dotted)."""
    out: list[str] = []
    for key, value in options.items():
        name = key.replace("__", ".") if "__" in key else key.replace("_", "-")
        out += [f"--{name}", str(value)]
    return out


def train_args(
    cfg: StudyConfig,
    out: Path,
    run_dir: Path,
    tasks: list[dict[str, Any]],
    steps: int,
    lr: float,
    model: Path | None,
    val_file: Path | None,
) -> list[str]:
    """`cbqa pretrain` / `cbqa finetune` arguments of one study training stage."""
    a = [
        "--run_dir",
        str(run_dir),
        "--seed_everything",
        str(cfg.training_seed),
        "--data.tasks",
        json.dumps(tasks),
        "--data.batch_size",
        str(cfg.batch_size),
        "--trainer.max_steps",
        str(steps),
        # Linear decay to 0: with a constant rate the 1M-parameter model plateaus at ~65% fill-in accuracy on
        # held-out paragraphs after 1,000 SSM steps; decaying it reaches ~100% (docs/notes/2026-11-26-ssm-recipe.md).
        "--model.schedule",
        "linear",
        # validation (greedy decoding of the dev set) about five times a run, at least every val_every steps
        "--trainer.val_check_interval",
        str(max(cfg.val_every, steps // 5) if val_file else steps),
        "--trainer.enable_model_summary",
        "false",
        "--model.lr",
        str(lr),
    ]
    if val_file is not None:
        a += ["--data.val_file", str(val_file)]
    if model is not None or cfg.model is not None:  # a run to continue, or the study's starting checkpoint
        a += ["--model.model", str(model or cfg.model)]
    else:
        a += ["--model.tokenizer", str(out / "tokenizer")]
        for k, v in cfg.arch.items():
            a += [f"--model.arch.{k}", str(v)]
    return a


def variant_recipe(
    cfg: StudyConfig,
    out: Path,
    variant: str,
    qa_task: dict[str, Any],
    spans: Path,
    pretrain_dir: Path,
    run_dir: Path,
    val_file: Path,
) -> list[tuple[str, Path, list[str]]]:
    """The study's training stages for one variant, in order: (stage, run dir, `cbqa pretrain` arguments). A masked
    variant pretrains on its objective alone, then trains on QA mixed with it; `none` trains on QA alone for the
    same total number of steps (why: config.VARIANTS)."""
    spec = VARIANTS[variant]
    if spec is None:
        return [
            (
                "train",
                run_dir,
                train_args(cfg, out, run_dir, [qa_task], cfg.pretrain_steps + cfg.steps, cfg.lr, None, val_file),
            )
        ]
    objective = {"name": variant, "kind": "masked", "spans": str(spans), **spec}
    return [
        (
            "pretrain",
            pretrain_dir,
            train_args(cfg, out, pretrain_dir, [objective], cfg.pretrain_steps, cfg.lr, None, None),
        ),
        (
            "train",
            run_dir,
            train_args(cfg, out, run_dir, [objective, qa_task], cfg.steps, cfg.finetune_lr, pretrain_dir, val_file),
        ),
    ]


# What the child processes' server imports once (forkserver preload): each stage then starts in milliseconds.
PRELOAD = [
    "torch",
    "lightning",
    "transformers",
    "cbqa.commands.pretrain",
    "cbqa.commands.reader",
    "cbqa.reader.training",
]


def run_stage(argv: list[str], log: Path, cfg: StudyConfig) -> int:
    """`cbqa ARGV` for a study: in a child process when lanes run side by side, else here."""
    if cfg.lanes > 1:
        return in_child(argv, log, cfg.threads)
    import importlib

    module = importlib.import_module(f"cbqa.commands.{argv[0]}")
    return module.main(argv[1:]) or 0


def start_children_server() -> multiprocessing.context.BaseContext:
    """The server that `in_child` forks the training stages from, started if it is not running (its context). Called
    at a study's start, its imports (~10 s of a core) run beside the first stages instead of delaying the first
    training stage. (It ends when this process ends.)"""
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    return context


def in_child(argv: list[str], log: Path, threads: int) -> int:
    """`cbqa ARGV` in a child process on `threads` torch threads, its output (stdout and stderr) in `log`; returns
    its exit status. The child dies with the study (Linux: PR_SET_PDEATHSIG), so a killed study leaves no training
    running on its own, and it is stopped with the stage that started it (`Stages.run`'s `cancel_with`: when a stage
    of another lane fails)."""
    context = start_children_server()
    log.parent.mkdir(parents=True, exist_ok=True)
    child = context.Process(target=_child, args=(argv, str(log), threads), name=f"cbqa {argv[0]}")
    child.start()
    return wait_or_stop(child, cancel_event())


def wait_or_stop(child: multiprocessing.process.BaseProcess, stop: threading.Event | None, poll_s: float = 0.5) -> int:
    """Wait for `child`; when `stop` is set first, send it SIGTERM (Lightning ends training at the next batch; the
    rerun resumes from the run's last checkpoint between two steps) and wait for it to end. Its exit status, or 1
    without one."""
    while child.exitcode is None:
        child.join(poll_s)
        if stop is not None and stop.is_set() and child.exitcode is None:
            child.terminate()
            child.join()
    return child.exitcode if child.exitcode is not None else 1


def _child(argv: list[str], log: str, threads: int) -> None:
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die when the parent (the server) dies
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    from cbqa.commands import run

    run(f"cbqa.commands.{argv[0]}", argv[0], argv[1:])  # (exits with the command's status)


def run_training_stage(argv: list[str], prog: str, run: Path) -> int:
    """Run `cbqa pretrain` / `cbqa finetune` with `argv` into `run` in this process (a memorisation-demo stage)."""
    from cbqa.training.cli import run_training  # Lightning is imported only when a training stage runs

    return run_training(argv, prog, str(run))


def write_timings(out: Path, stages: Stages, total_s: float) -> None:
    """Wall time of each stage's run that made its current output (earlier invocations included)."""
    walls = {name: r.wall_s for name, r in stages.records.items() if r.state == "done"}
    write_json(
        out / "timings.json", {"stages_s": walls, "this_invocation_s": stages.timings, "total_s": round(total_s, 1)}
    )
