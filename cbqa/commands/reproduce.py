"""`cbqa reproduce`: re-check the numbers the docs state against the results registry.

    cbqa reproduce --list                      every entry: what it measures, its band, the command behind it
    cbqa reproduce demo --runs runs/demo       check a finished demo run without retraining
    cbqa reproduce demo                        run the demo into --out (default runs/reproduce/demo), then check
    cbqa reproduce demo/retrieval_fid/total    one entry (ids, run names and table names all select)

Prints a pass / FAIL table; exits 1 when any figure falls outside its band (or is missing), 0 when all pass.
Entries that need a GPU are listed and skipped on a machine without one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cbqa.core.errors import CbqaError
from cbqa.results.pages import number
from cbqa.results.registry import Measured, read_registry, registry
from cbqa.results.reproduce import check, execute, has_gpu, select


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa reproduce", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("select", nargs="*", help="entry ids, run names or table names (default: every measured entry)")
    p.add_argument("--list", action="store_true", help="list the entries and exit")
    p.add_argument(
        "--runs", nargs="+", default=[], metavar="[RUN=]DIR", help="finished run directories to read instead of running"
    )
    p.add_argument("--out", default="runs/reproduce", help="where runs that are not given go (OUT/RUN)")
    p.add_argument("--registry", help="another registry file (default: the one shipped with cbqa)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    reg = read_registry(args.registry) if args.registry else registry()
    console = Console()
    if args.list:
        console.print(listing(reg))
        return 0
    entries = select(reg, args.select)
    given = given_runs(args.runs, sorted({e.run for e in entries}))
    gpu = None
    checks = []
    for name in dict.fromkeys(e.run for e in entries):
        mine = [e for e in entries if e.run == name]
        run = reg.runs[name]
        if run.hardware == "gpu" or any(e.hardware == "gpu" for e in mine):
            gpu = has_gpu() if gpu is None else gpu
            if not gpu:
                checks += [_skipped(e) for e in mine]
                continue
        directory = given.get(name)
        if directory is None:
            directory = Path(args.out) / name
            execute(name, run, directory)
        elif not directory.is_dir():
            raise CbqaError(f"--runs {directory}: not a directory")
        checks += check(mine, directory)
    console.print(results_table(checks))
    bad = [c for c in checks if c.status in ("FAIL", "missing")]
    passed = sum(c.status == "pass" for c in checks)
    console.print(
        f"{passed} passed, {len(bad)} outside their band or missing, {len(checks) - passed - len(bad)} skipped"
    )
    return 1 if bad else 0


def given_runs(specs: list[str], names: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(names) != 1:
                raise CbqaError(f"--runs {spec}: say which run it is (RUN=DIR; runs selected: {', '.join(names)})")
            name, path = names[0], spec
        out[name] = Path(path)
    return out


def _skipped(e: Measured):
    from cbqa.results.reproduce import Check

    return Check(e, "skipped", note="needs a GPU; this machine has none")


def results_table(checks) -> Table:
    t = Table(title="registry re-check")
    for col in ("entry", "expected (band)", "got", "status"):
        t.add_column(col)
    style = {"pass": "green", "FAIL": "bold red", "missing": "bold red", "skipped": "dim"}
    for c in checks:
        e = c.entry
        got = number(c.value, e.unit) if c.value is not None else c.note
        band = f"{number(e.expected, e.unit)} ({number(e.low, e.unit)} .. {number(e.high, e.unit)})"
        t.add_row(e.id, band, got, f"[{style[c.status]}]{c.status}[/]")
    return t


def listing(reg) -> Table:
    t = Table(title="results registry")
    for col in ("id", "kind", "what", "figure", "source / run"):
        t.add_column(col, overflow="fold")
    for e in reg.entries:
        if isinstance(e, Measured):
            fig = f"{number(e.expected, e.unit)} ± {number(e.tolerance, e.unit)} {e.unit}"
            src = f"{e.run} ({e.hardware}): {e.file} {e.key}"
        else:
            fig = f"{number(e.value, e.unit)} {e.unit}"
            src = getattr(e, "source", None) or getattr(e, "formula", "")
        t.add_row(e.id, e.kind, e.what, fig, src)
    return t
