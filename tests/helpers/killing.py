"""Helpers of the kill tests: run a `cbqa` command in a process of its own, SIGKILL it at a chosen moment, and compare
the output tree of a killed-then-rerun command with that of an uninterrupted one.

The commands are forked from a server process that has already imported what they use (a multiprocessing forkserver
with those modules preloaded, one per test process): `python -m cbqa ...` would first spend 5-10 s of CPU importing
torch, Lightning, transformers, spaCy and FAISS, three times per kill test. The child then does what `python -m cbqa
ARGS` does, `cbqa.cli.main(ARGS)`, in the environment ENV, with stdout and stderr going to a file that a thread reads
line by line; a SIGKILL ends it as it ends any process."""

from __future__ import annotations

import atexit
import csv
import io
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How long a test waits for a command before calling it hung. Only a hang takes this long: these commands take seconds
# to a minute here, and the clock is generous because one CI machine ran the whole suite 10x slower than usual.
HANG = 1800.0
SRC = str(Path(__file__).resolve().parents[2])  # the repository root, which holds the packages
# One OpenMP thread: FAISS (and torch) results are then the same from run to run, bit for bit.
ENV = {
    **os.environ,
    "PYTHONPATH": SRC,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "COLUMNS": "100",
    "PYTHONUNBUFFERED": "1",
}


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start `fn` in a thread; the returned function joins it and returns `fn`'s result (or raises its error)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()

    def join() -> Any:
        t.join()
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


# What the killed commands import, imported once by the forkserver (an ImportError is skipped: that import then
# happens in each command, as it would anyway).
PRELOAD = (
    "torch",
    "transformers",
    "lightning.pytorch",
    "jsonargparse",
    "spacy",
    "faiss",
    "pyarrow",
    "sentence_transformers",
    "cbqa.cli",
    "cbqa.commands.demo",
    "cbqa.demo.pipeline",
    "cbqa.training.cli",
    "ner_masking.annotate",
    "retrieval_baseline.commands.index",
)


def _forkserver() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))  # used when this process's forkserver starts (at the first command)
    return ctx


def _run_cbqa(args: tuple[str, ...], env: dict[str, str], cwd: str | None, log: str) -> None:
    """In the forked child: `python -m cbqa ARGS` with environment `env` in `cwd`, stdout and stderr appended to
    `log` unbuffered (PYTHONUNBUFFERED=1 in a real process); exits with the command's exit status."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout, sys.stderr = (
        io.TextIOWrapper(io.FileIO(n, "w", closefd=False), encoding="utf-8", line_buffering=True, write_through=True)
        for n in (1, 2)
    )
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # read TMPDIR again
    if cwd is not None:
        os.chdir(cwd)
    import cbqa.cli

    sys.argv = [str(Path(cbqa.cli.__file__).with_name("__main__.py")), *args]
    threads = int(env["OMP_NUM_THREADS"])  # read by torch and FAISS when first imported, in the forkserver
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(threads)
    try:
        cbqa.cli.main(list(args))
    finally:
        atexit._run_exitfuncs()  # what an interpreter runs as it exits (a multiprocessing child exits without them)


class Forked:
    """A forked `cbqa` command, with the part of subprocess.Popen's interface the kill tests use. (A lock keeps two
    threads from collecting its exit status at once: the second would read none and report 255.)"""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process, self._lock, self.pid = process, threading.Lock(), process.pid

    def poll(self) -> int | None:
        with self._lock:
            return self._process.exitcode  # -N: killed by signal N, as subprocess reports it

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"cbqa (pid {self.pid})", timeout)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


@dataclass
class Watched:
    """A running command whose output lines (stdout and stderr) are collected, with arrival times, by a thread."""

    proc: Forked
    started: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def wait(self, timeout: float = HANG) -> int:
        code = self.proc.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        return code

    def output(self) -> str:
        return "".join(line for _, line in self.lines)


def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Watched:
    """`cbqa ARGS` in a process of its own (forked from the forkserver), in ENV updated with `env`; returns at once."""
    fd, log = tempfile.mkstemp(prefix="cbqa-", suffix=".log")  # in TMPDIR, removed once read to the end
    os.close(fd)
    process = _forkserver().Process(
        target=_run_cbqa, args=(args, {**ENV, **(env or {})}, None if cwd is None else str(cwd), log)
    )
    process.start()
    w = Watched(Forked(process), time.monotonic())

    def follow() -> None:
        pending = b""
        with open(log, "rb") as f:
            while True:
                ended = w.proc.poll() is not None  # before reading: a read after the end gets all it wrote
                chunk = f.read()
                if chunk:
                    *complete, pending = (pending + chunk).split(b"\n")
                    now = time.monotonic()
                    w.lines += [(now, line.decode("utf-8", "replace") + "\n") for line in complete]
                elif ended:
                    break
                else:
                    time.sleep(0.01)
        if pending:
            w.lines.append((time.monotonic(), pending.decode("utf-8", "replace")))
        os.unlink(log)

    w._thread = threading.Thread(target=follow, daemon=True)
    w._thread.start()
    return w


def kill_when(w: Watched, ready: Callable[[], bool], delay: float, timeout: float = HANG) -> str:
    """SIGKILL `w` `delay` seconds after `ready()` first holds. Returns 'killed' or 'finished' (it ended first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if w.proc.poll() is not None:
            return "finished"
        if time.monotonic() > deadline:
            w.proc.kill()
            raise AssertionError(f"the moment to kill never came; output:\n{w.output()[-3000:]}")
        time.sleep(0.005)
    end = time.monotonic() + delay
    while time.monotonic() < end:
        if w.proc.poll() is not None:
            return "finished"
        time.sleep(0.005)
    if w.proc.poll() is not None:
        return "finished"
    w.proc.kill()
    w.wait()
    return "killed"


RULE = re.compile(r"^─+ (.+?) ─+$")


def stage_rules(w: Watched) -> list[str]:
    """Names of the demo stages the command has started (its rich rule lines)."""
    return [m.group(1) for _, line in list(w.lines) if (m := RULE.match(line.strip()))]


# Values that measure time or count runs: they differ between an interrupted and an uninterrupted run by design.
VOLATILE_KEYS = frozenset(
    {
        "wall_time_s",
        "runs",
        "docs_per_s_last_run",
        "build_seconds",
        "train_seconds",
        "add_seconds",
        "allocate_seconds",
        "wall_seconds",
        "train_tokens_per_s",
        "resumed_from",
        "history",
        "wall_s",
        "total_s",
        "this_invocation_s",
        "stages_s",
        "key",
        "stat",
    }
)


def _normalise(obj: Any, roots: tuple[str, ...]) -> Any:
    if isinstance(obj, dict):
        return {k: _normalise(v, roots) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_normalise(v, roots) for v in obj]
    if isinstance(obj, str):
        for r in roots:
            obj = obj.replace(r, "<ROOT>")
    return obj


def files(root: Path, skip: Callable[[str], bool] = lambda rel: False) -> dict[str, Path]:
    """Relative path -> file of every published file under `root`: hidden entries (staging dirs, versions, temp
    files) are skipped, published directories (symlinks made by cbqa.core.io.replace_dir) are followed."""
    out: dict[str, Path] = {}

    def walk(d: Path, rel: str) -> None:
        for entry in sorted(d.iterdir()):
            r = f"{rel}{entry.name}"
            if entry.name.startswith(".") or skip(r):
                continue
            if entry.is_dir():
                walk(entry, r + "/")
            else:
                out[r] = entry

    walk(root, "")
    return out


def same_file(a: Path, b: Path, roots: tuple[str, str]) -> bool:
    """Equal bytes, once the two run roots are replaced by one placeholder and timing values are dropped."""
    ra, rb = (r.encode() for r in roots)
    da, db = a.read_bytes(), b.read_bytes()
    if a.suffix == ".json":
        return _normalise(json.loads(da), roots) == _normalise(json.loads(db), roots)
    if a.suffix == ".csv" and a.name == "metrics.csv":

        def rows(data: bytes) -> list[dict[str, str]]:
            return [
                {k: v for k, v in r.items() if k != "train_tokens_per_s"}
                for r in csv.DictReader(io.StringIO(data.decode()))
            ]

        return rows(da) == rows(db)
    return da.replace(ra, b"<ROOT>") == db.replace(rb, b"<ROOT>")


def differing(ref: Path, got: Path, skip: Callable[[str], bool] = lambda rel: False) -> list[str]:
    """Relative paths that differ between two output trees (or exist in one only)."""
    a, b = files(ref, skip), files(got, skip)
    roots = (str(ref), str(got))
    out = sorted(set(a) ^ set(b))
    out += [r for r in sorted(set(a) & set(b)) if not same_file(a[r], b[r], roots)]
    return out


def hidden_leftovers(directories: Iterable[Path]) -> list[str]:
    """Hidden entries other than the live published versions and the writer-lock files (`.NAME.lock`: the kernel
    releases the lock with its holder, the empty file stays for the next writer): staging dirs, unpublished versions,
    temporary files."""
    out = []
    for d in directories:
        live = {p.resolve() for p in d.iterdir() if p.is_symlink()}
        out += [
            str(p)
            for p in d.iterdir()
            if p.name.startswith(".") and not p.name.endswith(".lock") and p.resolve() not in live
        ]
    return out
