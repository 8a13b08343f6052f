"""Render evaluation results and overlap summaries: rich tables, markdown, and a grouped bar chart PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from cbqa.core.io import atomic_writer
from cbqa.overlap.categories import CATEGORIES, LABELS, count_labels
from cbqa.overlap.evaluation import Result


def _categories(result: Result) -> list[str]:
    present = {c for per in result.values() for c in per}
    return [c for c in LABELS if c in present]


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# Short column names, so a table of several systems fits an 80-column terminal.
SHORT = {
    "total": "total",
    "question_overlap": "q-overlap",
    "no_question_overlap": "no-q-overlap",
    "answer_overlap": "a-overlap",
    "no_answer_overlap": "no-a-overlap",
    "answer_overlap_only": "a-only",
    "no_overlap": "no-overlap",
}


# The terminal table shows the total and Lewis et al.'s three disjoint buckets; markdown and JSON keep every label.
TERMINAL = ("total", "question_overlap", "answer_overlap_only", "no_overlap")


def results_table(
    result: Result, title: str = "EM (%) by overlap category (all labels and F1: JSON / markdown)"
) -> Table:
    """One row per system, one column per category (with its question count)."""
    present = _categories(result)
    cats = [c for c in TERMINAL if c in present] or present
    first = next(iter(result.values()))
    table = Table(title=title)
    table.add_column("system", no_wrap=True)
    same = {cat: len({per[cat]["n"] for per in result.values()}) == 1 for cat in cats}
    for cat in cats:  # a category's n in its header when every system has it, else in each cell
        table.add_column(f"{SHORT.get(cat, cat)}" + (f"\nn={first[cat]['n']}" if same[cat] else ""), justify="right")
    for system, per in result.items():
        cells = [_fmt(per[c]["em"]) + ("" if same[c] else f" (n={per[c]['n']})") for c in cats]
        table.add_row(system, *cells)
    return table


def results_markdown(result: Result) -> str:
    """Rows: systems; columns: categories (with n); cells: `EM / F1`."""
    cats = _categories(result)
    first = next(iter(result.values()))
    head = ["system"] + [f"{cat} (n={first[cat]['n']})" for cat in cats]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(cats)) + "|"]
    for system, per in result.items():
        cells = [system] + [f"{_fmt(per[c]['em'])} / {_fmt(per[c]['f1'])}" for c in cats]
        lines.append("| " + " | ".join(cells) + " |")
    names = sorted({str(v["normaliser"]) for per in result.values() for v in per.values() if v.get("normaliser")})
    if names:
        lines.append(f"\nAnswers compared after the {' / '.join(names)} normaliser (cbqa.core.metrics).")
    return "\n".join(lines) + "\n" + copying_markdown(result)


def copying_systems(result: Result) -> list[str]:
    """Systems whose entries say where their exact matches come from (they read passages)."""
    return [s for s, per in result.items() if any("copied_share" in v for v in per.values())]


def copying_markdown(result: Result) -> str:
    """For the systems that read passages: EM points copied from the passages read / not in them, and the copied
    share of the EM (empty when no system read passages)."""
    systems = copying_systems(result)
    if not systems:
        return ""
    cats = _categories(result)
    first = result[systems[0]]
    lines = [
        "",
        "Where the exact matches of the systems that read passages come from: EM points of answers copied from",
        "the passages read / of answers not in them (copied share of the EM):",
        "",
        "| system | " + " | ".join(f"{c} (n={first[c]['n']})" for c in cats) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(cats)) + "|",
    ]
    for system in systems:
        per = result[system]
        cells = [
            f"{_fmt(per[c].get('em_copied'))} / {_fmt(per[c].get('em_not_in_passages'))} "
            f"({_fmt(per[c].get('copied_share'))}%)"
            if per[c].get("n")
            else "-"
            for c in cats
        ]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def copying_table(result: Result) -> Table | None:
    """Terminal view of `copying_markdown` (total and Lewis et al.'s buckets); None when no system read passages."""
    systems = copying_systems(result)
    if not systems:
        return None
    present = _categories(result)
    cats = [c for c in TERMINAL if c in present] or present
    table = Table(title="systems that read passages: share of their EM copied from the passages read (%)")
    table.add_column("system", no_wrap=True)
    for cat in cats:
        table.add_column(SHORT.get(cat, cat), justify="right")
    for system in systems:
        table.add_row(system, *[_fmt(result[system][c].get("copied_share")) for c in cats])
    return table


def plot_results(result: Result, path: str | Path, metric: str = "em") -> None:
    """Grouped bars: one group per category, one bar per system; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; never opens a window
    import matplotlib.pyplot as plt
    import numpy as np

    cats = _categories(result)
    systems = list(result)
    width = 0.8 / max(len(systems), 1)
    x = np.arange(len(cats))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(cats) + 1), 4.0))
    try:
        for j, s in enumerate(systems):
            vals = [result[s][c][metric] or 0.0 for c in cats]
            bars = ax.bar(x + (j - (len(systems) - 1) / 2) * width, vals, width, label=s)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ns = [result[systems[0]][c]["n"] for c in cats]
        ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(cats, ns)], fontsize=8)
        ax.set_ylabel(f"{metric.upper()} (%)")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=8)
        ax.set_title(f"{metric.upper()} by test-train overlap category")
        fig.tight_layout()
        with atomic_writer(path, "wb") as f:
            fig.savefig(f, format="png", dpi=120)
    finally:
        plt.close(fig)


def overlap_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and percentages of labels and categories (percent of all rows), and corpus overlap."""
    n = len(rows)
    labels = count_labels([r.get("labels", []) for r in rows])
    cats = {c: sum(1 for r in rows if r.get("category") == c) for c in CATEGORIES}
    summary: dict[str, Any] = {
        "n": n,
        "labels": labels,
        "categories": cats,
        "undecided": sum(1 for r in rows if r.get("category") is None),
    }
    corpus = [r for r in rows if "answer_in_corpus" in r]
    if corpus:
        summary["answer_in_corpus"] = sum(1 for r in corpus if r["answer_in_corpus"])
        for scope in ("sentence", "passage"):
            summary[f"with_question_term_{scope}"] = sum(
                1 for r in corpus if (r.get("corpus") or {}).get("with_question_term") == scope
            )
    return summary


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "-"


def overlap_table(summary: Mapping[str, Any], title: str = "test-train overlap") -> Table:
    n = summary["n"]
    table = Table(title=f"{title} ({n} test questions)")
    table.add_column("label / category", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("% of test", justify="right")
    for label, k in summary["labels"].items():
        table.add_row(label, str(k), _pct(k, n))
    table.add_section()
    for cat, k in summary["categories"].items():
        table.add_row(f"category={cat}", str(k), _pct(k, n))
    if summary["undecided"]:
        table.add_row("category undecided", str(summary["undecided"]), _pct(summary["undecided"], n))
    if "answer_in_corpus" in summary:
        table.add_section()
        for key in ("answer_in_corpus", "with_question_term_sentence", "with_question_term_passage"):
            table.add_row(key, str(summary[key]), _pct(summary[key], n))
    return table


def comparison_table(comparison: Any) -> Table:
    """Confusion matrix of gold (rows) vs computed (columns) categories."""
    labels = list(comparison.category_labels)
    table = Table(title=f"gold (rows) vs computed (columns), {comparison.n_joined} joined questions")
    table.add_column("gold \\ computed")
    for c in labels:
        table.add_column(c, justify="right")
    for g, row in comparison.confusion.items():
        table.add_row(g, *[str(row.get(c, 0)) for c in labels])
    return table
