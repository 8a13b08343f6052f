"""Re-check the registry's measured entries: run their commands (or read a finished run directory) and compare each
figure with its band, expected ± tolerance.

A fresh figure outside its band is reported as a failure; bands are never widened to absorb one (the registry's
`rule` says how they were set, from repeated runs).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cbqa.core.errors import CbqaError
from cbqa.results.registry import Measured, Registry, Run

Status = Literal["pass", "FAIL", "missing", "skipped"]


@dataclass(frozen=True)
class Check:
    entry: Measured
    status: Status
    value: float | None = None
    note: str = ""


def select(reg: Registry, names: list[str]) -> list[Measured]:
    """The measured entries named by id, run or table (all of them when `names` is empty)."""
    measured = reg.measured()
    if not names:
        return measured
    out: list[Measured] = []
    for name in names:
        found = [e for e in measured if name in (e.id, e.run, e.table) or e.id.startswith(name + "/")]
        if not found:
            raise CbqaError(f"{name!r} names no measured registry entry, run or table (cbqa reproduce --list)")
        out += [e for e in found if e not in out]
    return out


def figure(directory: Path, e: Measured) -> float | None:
    """The figure `e` reads from a run directory (None when the file or key is not there)."""
    path = directory / e.file
    try:
        node: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for part in e.key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def check(entries: list[Measured], directory: Path) -> list[Check]:
    out = []
    for e in entries:
        value = figure(directory, e)
        if value is None:
            out.append(Check(e, "missing", note=f"no {e.key} in {directory / e.file}"))
        else:
            out.append(Check(e, "pass" if e.low <= value <= e.high else "FAIL", value))
    return out


def command(run: Run, out: Path) -> list[str]:
    """The run's command with its output directory filled in, `cbqa` as this interpreter's module (works from a
    wheel, whatever is on PATH)."""
    argv = [a.replace("{out}", str(out)) for a in run.command]
    return [sys.executable, "-m", "cbqa", *argv[1:]] if argv[:1] == ["cbqa"] else argv


def execute(name: str, run: Run, out: Path) -> None:
    argv = command(run, out)
    print(f"== {name}: {shlex.join(argv)}", file=sys.stderr, flush=True)
    code = subprocess.call(argv)
    if code != 0:
        raise CbqaError(f"run {name!r} failed (exit {code}): {shlex.join(argv)}")


def has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()
