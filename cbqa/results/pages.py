"""Results tables in the README and docs/, drawn from the registry, never typed by hand.

A page marks where a table goes:

    <!-- results: demo -->
    (generated: do not edit; `make pages` rewrites it)
    <!-- /results -->

`render(registry, name)` draws the entries whose `table` is `name` as a markdown table (rows and columns in the order
the entries first name them): a measured figure as `mean ± sd` (n runs; the band `cbqa reproduce` checks is in its
tooltip-free footnote line), a published one as its value with a source note, an estimate with `≈`.
A block whose table has no entries yet is left as it is (the page marks where its numbers will go).
`update(root)` rewrites every marked block under `root` (README.md and docs/**/*.md); `stale(root)` lists the pages
whose blocks differ from what the registry draws (a test fails on any).
"""

from __future__ import annotations

import re
from pathlib import Path

from cbqa.core.io import atomic_writer
from cbqa.results.registry import Estimate, Measured, Published, Registry, registry

BLOCK = re.compile(r"(<!-- results: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)
DECIMALS = {"EM": 1, "F1": 1, "P@1": 1, "%": 1, "x": 2, "points": 1, "GPU h": 1, "core h": 0}
DECIMALS.update(dict.fromkeys(("examples/s", "words/s", "queries/s"), 0))


def number(value: float, unit: str, like: float | None = None) -> str:
    """`value` in its unit's format; `like`: the figure whose size sets the decimals (an sd is shown as its mean is)."""
    size = abs(value if like is None else like)
    decimals = (0 if size >= 10 else 2) if unit == "s" else DECIMALS.get(unit, 2 if size < 10 else 1)
    if unit.endswith("/s") and size < 10:
        decimals = 1  # (a rate of a few a second: whole numbers would halve or double it)
    if unit == "params":
        return f"{value / 1e9:.2f}B" if value >= 1e9 else f"{value / 1e6:.1f}M"
    if unit == "GB":
        return f"{value:.1f}"
    return f"{value:,.{decimals}f}"


def cell(e: Measured | Published | Estimate) -> str:
    if isinstance(e, Measured):
        spread = f" ± {number(e.sd, e.unit, like=e.expected)}" if e.sd is not None and e.n > 1 else ""
        return f"{number(e.expected, e.unit)}{spread}"
    if isinstance(e, Published):
        return number(e.value, e.unit)
    return f"≈ {number(e.value, e.unit)}"


def render(reg: Registry, name: str) -> str:
    entries = reg.table(name)
    if not entries:
        raise KeyError(f"no registry entries for table {name!r}")
    rows = list(dict.fromkeys(e.row for e in entries))
    columns = list(dict.fromkeys(e.column or "" for e in entries))
    at = {(e.row, e.column or ""): e for e in entries}
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(cell(at[row, c]) if (row, c) in at else "" for c in columns) + " |")
    measured = [e for e in entries if isinstance(e, Measured)]
    notes = []
    if measured:
        ns = sorted({e.n for e in measured})
        spreads = sorted({e.spread for e in measured if e.spread})
        notes.append(
            f"Measured: mean ± sd over {'/'.join(map(str, ns))} runs"
            + (f" ({'; '.join(spreads)})" if spreads else "")
            + f"; `cbqa reproduce {name}` re-checks each against its band (registry ids `{measured[0].id}`, ...)."
        )
    sources = list(dict.fromkeys(e.source for e in entries if isinstance(e, Published)))
    if sources:
        notes.append("Published: " + "; ".join(sources) + ".")
    estimates = [e for e in entries if isinstance(e, Estimate)]
    if estimates:
        notes.append("Estimates (≈): " + "; ".join(dict.fromkeys(e.formula for e in estimates)) + ".")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def pages(root: Path) -> list[Path]:
    found = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in found if p.is_file()]


def regenerated(text: str, reg: Registry) -> str:
    """`text` with every marked block drawn from the registry; a block whose table has no entries yet (a page that
    marks where its numbers will go before they are measured) is left as it is."""

    def block(m: re.Match[str]) -> str:
        if not reg.table(m.group("name")):
            return m.group(0)
        return m.group(1) + render(reg, m.group("name")) + m.group(4)

    return BLOCK.sub(block, text)


def stale(root: Path, reg: Registry | None = None) -> list[Path]:
    reg = reg or registry()
    return [p for p in pages(root) if regenerated(p.read_text(encoding="utf-8"), reg) != p.read_text(encoding="utf-8")]


def update(root: Path, reg: Registry | None = None) -> list[Path]:
    """Rewrite every stale page under `root`; returns those rewritten."""
    reg = reg or registry()
    changed = []
    for p in pages(root):
        text = p.read_text(encoding="utf-8")
        new = regenerated(text, reg)
        if new != text:
            with atomic_writer(p) as f:
                f.write(new)
            changed.append(p)
    return changed


if __name__ == "__main__":
    for path in update(Path.cwd()):
        print(f"rewrote {path}")
