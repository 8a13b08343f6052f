"""Benchmark: a `cbqa benchmark` row beside the published rows (the results registry's Roberts et al. 2020, REALM and
Lewis et al. 2021 entries), closed-book vs retrieval per overlap category (Lewis et al. 2021, Table 3), EM/F1 of every
system of a run per category, and where systems disagree."""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from cbqa.benchmarks.row import PUBLISHED_TABLES, BenchmarkRow
from cbqa.core.contracts import read_contract
from cbqa.core.metrics import normaliser as normaliser_of
from cbqa.overlap.categories import LABELS, TOTAL
from cbqa.results.registry import Published, Registry, registry
from cbqa_app import loaders
from cbqa_app.colors import color_scale
from cbqa_app.context import AppContext
from cbqa_app.export import downloads
from cbqa_app.render import is_right, reported
from cbqa_app.run_dir import RunInfo, results_paths, shown_path

FILTERS = ("the two disagree", "only the first is right", "only the second is right", "all questions")


def render(ctx: AppContext) -> None:
    st.header("Benchmark")
    run = ctx.run
    if run is None:
        st.info("Choose a run directory in the sidebar to see its benchmark.")
        return
    _beside_published(run, ctx)
    result, gold_based = _results(run, ctx)
    if not result:
        return
    metric = st.radio("Metric", ["em", "f1"], format_func=str.upper, horizontal=True, key="bench_metric")
    _table3(run, result, metric)
    st.subheader("Every system, every label")
    long = _long_frame(result)
    # systems as rows, labels as columns: a run has a handful of labels but may have many systems, and a wide table
    # would push systems off-screen
    table = long.pivot_table(index="system", columns="category", values=metric, sort=False)
    n = long.groupby("category", sort=False)["n"].first()
    table.columns = [f"{c} (n={n[c]})" for c in table.columns]
    st.dataframe(table.round(1), width="stretch")
    chart = _chart(long, metric)
    st.altair_chart(chart, width="stretch")
    downloads(f"benchmark_{metric}", long, chart)
    st.divider()
    norm = next((v.get("normaliser") for per in result.values() for v in per.values() if v.get("normaliser")), None)
    _disagreements(run, ctx, gold_based, norm or "squad")


# Lewis et al.'s category names in the published table -> ours
LEWIS_COLUMNS = {
    "total": "total",
    "question overlap": "question_overlap",
    "answer overlap only": "answer_overlap_only",
    "no overlap": "no_overlap",
}


def published_frame(row: BenchmarkRow, reg: Registry) -> tuple[pd.DataFrame, list[str]]:
    """The published rows this run compares with (Roberts et al.'s column of its dataset and protocol; REALM's masking
    ablation beside an NQ run) and the run's own row last, with their sources."""
    column = row.published_column
    rows: list[dict[str, Any]] = []
    sources: list[str] = []
    for e in reg.table(PUBLISHED_TABLES["roberts"]):
        if isinstance(e, Published) and column is not None and e.column == column:
            rows.append({"system": e.row, "EM": e.value, "what": f"published, {column} EM"})
            sources.append(e.source)
    if row.dataset == "natural_questions_open":
        for e in reg.table(PUBLISHED_TABLES["realm"]):
            if isinstance(e, Published):
                rows.append({"system": f"REALM: {e.row}", "EM": e.value, "what": "published, NQ dev EM (retrieval)"})
                sources.append(e.source)
    em = row.total.em if row.total is not None else None
    mine = f"this run: {row.system}" + (f" (first {row.max_questions} questions)" if row.max_questions else "")
    rows.append({"system": mine, "EM": em, "what": f"{row.protocol} protocol, {row.normaliser} normaliser"})
    return pd.DataFrame(rows), list(dict.fromkeys(sources))


def lewis_frame(row: BenchmarkRow, reg: Registry) -> tuple[pd.DataFrame, list[str]] | None:
    """Lewis et al.'s NQ rows by overlap category, and the run's; None for another dataset or a run without them."""
    if row.dataset != "natural_questions_open" or "no_overlap" not in row.categories:
        return None
    entries = [e for e in reg.table(PUBLISHED_TABLES["lewis"]) if isinstance(e, Published)]
    table: dict[str, dict[str, Any]] = {}
    for e in entries:
        table.setdefault(e.row or "", {})[e.column or ""] = e.value
    mine = {title: (row.category(ours) or {}).get("em") for title, ours in LEWIS_COLUMNS.items()}
    table[f"this run: {row.system}"] = mine
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.columns = [f"{c} (n={(row.category(LEWIS_COLUMNS[c]) or {}).get('n')})" for c in frame.columns]
    return frame, list(dict.fromkeys(e.source for e in entries))


def _beside_published(run: RunInfo, ctx: AppContext) -> None:
    path = run.path("benchmark")
    if path is None:
        return
    with reported(f"Reading {shown_path(path, ctx.runs_root)}"):
        row = read_contract(BenchmarkRow, path)
        st.subheader("This run beside the published rows")
        scored = "a hidden test set: not scored" if row.total is None else f"{row.total.n:,} questions"
        asked = (
            "answers from a given predictions file"
            if row.prefix_from == "predictions"
            else f"asked with the {row.prefix_from} prefix `{row.prefix}`"
        )
        st.caption(
            f"{row.title}, {row.protocol} protocol ({scored}); model `{row.model}`"
            f"{' fine-tuned' if row.finetuned else ''}, {asked}; answers compared after the {row.normaliser} "
            f"normaliser; overlap categories: {row.overlap or 'none'}."
        )
        frame, sources = published_frame(row, registry())
        shown = frame.copy()
        shown["EM"] = shown["EM"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}")
        st.table(shown.set_index("system"))
        lewis = lewis_frame(row, registry())
        if lewis is not None:
            st.markdown("**By overlap category** (EM), as Lewis et al. (2021) break NQ down:")
            st.table(lewis[0].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}"))
            sources += lewis[1]
        for source in dict.fromkeys(sources):
            st.caption(f"Published: {source}.")
        if row.max_questions:
            st.warning(
                f"Only the first {row.max_questions} test questions were answered: not comparable with the rows."
            )
        st.divider()


def _results(run: RunInfo, ctx: AppContext) -> tuple[dict[str, Any] | None, bool]:
    """The run's results and whether they are by the gold overlap categories (results.json of a world with gold labels)."""
    paths = results_paths(run)
    if paths:
        path = paths[0]
        if len(paths) > 1:
            path = st.selectbox(
                "Results file",
                paths,
                format_func=lambda p: p.name,
                key="bench_results",
                help="results.json: by the gold overlap categories (toy world); "
                "results_detected.json: by the categories the detector computed",
            )
        with reported(f"Reading {shown_path(path, ctx.runs_root)}"):
            result = json.loads(path.read_text(encoding="utf-8"))
            gold_based = "detected" not in path.name and run.path("gold_overlap") is not None
            kind = "gold" if gold_based else "benchmark's (above)" if run.path("benchmark") else "detected"
            st.caption(f"from `{shown_path(path, ctx.runs_root)}`, by the {kind} overlap categories")
            return result, gold_based
        return None, False
    if not run.predictions:
        st.info(
            "This run has no report (report/results.json) and no prediction files yet: nothing to score. "
            "Is `cbqa demo` still running?"
        )
        return None, False
    test = run.path("test")
    if test is None:
        st.info("This run has prediction files but no test set to score them against (the manifest's `test`).")
        return None, False
    with reported("Scoring the run's predictions"):
        from cbqa.overlap import evaluate_systems

        preds = {s: loaders.load_predictions(p) for s, p in run.predictions.items()}
        labels = _overlap_rows(run)
        result = evaluate_systems(
            preds, loaders.load_qa(test), list(labels.values()) if labels else None, allow_missing=True
        )
        st.caption(
            "scored now from the run's prediction files (the run has no report/results.json), by the detected "
            "overlap categories"
        )
        return result, False
    return None, False


def _overlap_rows(run: RunInfo, choose: bool = False, gold_first: bool = False) -> dict[str, dict[str, Any]]:
    order = ("gold_overlap", "overlap") if gold_first else ("overlap", "gold_overlap")
    sources = {k: run.path(k) for k in order if run.path(k) is not None}
    if not sources:
        return {}
    key = next(iter(sources))
    if choose and len(sources) > 1:  # defaults to the categories of the table above
        key = st.radio(
            "Overlap categories",
            list(sources),
            horizontal=True,
            key="bench_labels",
            format_func={"overlap": "detected", "gold_overlap": "gold"}.get,
        )
    path = sources[key]
    with reported(f"Reading overlap labels {path.name}"):
        return loaders.load_overlap_rows(path)
    return {}


# Lewis et al. (2021) Table 3's columns and model groups, in their order.
TABLE3_COLUMNS = {
    "total": "Total",
    "question_overlap": "Question overlap",
    "answer_overlap_only": "Answer overlap only",
    "no_overlap": "No overlap",
}
KINDS = (
    "Open-book (retrieval + reader)",
    "Closed-book",
    "Nearest neighbour",
    "Extractive floor (no training)",
    "Other",
)


def system_kind(name: str, reads_passages: bool) -> str:
    """Which of Table 3's groups a system belongs to, from its name and whether its predictions carry passages."""
    if name.startswith("extractive"):
        return KINDS[3]
    if name.startswith("nearest_neighbour"):
        return KINDS[2]
    if name.startswith("closed_book"):
        return KINDS[1]
    if reads_passages or name.startswith("retrieval"):
        return KINDS[0]
    return KINDS[4]


def table3_frame(result: dict[str, Any], metric: str, reads: dict[str, bool]) -> pd.DataFrame:
    """One row per system, grouped as Table 3 (open-book, closed-book, nearest neighbour, floor), the total and the
    three disjoint buckets as columns (with n), and the share of the EM copied from the passages read."""
    first = next(iter(result.values()))
    rows = []
    for system, per in result.items():
        row = {"kind": system_kind(system, reads.get(system, False)), "system": system}
        for cat, title in TABLE3_COLUMNS.items():
            n = (first.get(cat) or {}).get("n")
            row[f"{title} (n={n})"] = (per.get(cat) or {}).get(metric)
        share = (per.get("total") or {}).get("copied_share")
        row["EM copied from passages (%)"] = share
        rows.append(row)
    df = pd.DataFrame(rows)
    df["_order"] = df["kind"].map({k: i for i, k in enumerate(KINDS)})
    df = df.sort_values(["_order"], kind="stable").drop(columns="_order")
    if df["EM copied from passages (%)"].isna().all():
        df = df.drop(columns="EM copied from passages (%)")
    return df


def _table3(run: RunInfo, result: dict[str, Any], metric: str) -> None:
    st.subheader("Closed-book vs retrieval, by overlap category")
    if not any(c in per for per in result.values() for c in ("question_overlap", "no_overlap")):
        st.info("These results have no overlap categories (no overlap labels were given), so only totals exist.")
    reads = {}
    for system, path in run.predictions.items():
        with reported(f"Reading predictions {path}"):
            preds = loaders.load_predictions(path)
            reads[system] = _is_retrieval(preds)
    df = table3_frame(result, metric, reads)
    shown = df.copy()
    for col in shown.columns[2:]:
        shown[col] = shown[col].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.1f}")
    st.table(shown.set_index(["kind", "system"]))
    downloads(f"table3_{metric}", df)
    st.caption(
        f"{metric.upper()} (%) as in Lewis, Stenetorp & Riedel (2021), Table 3. Their NQ numbers for "
        "reference (EM, total / question overlap / answer overlap only / no overlap): open-book RAG 44.5 / "
        '70.7 / 34.9 / 24.8; closed-book BART 26.5 / 67.6 / 10.2 / 0.8. "EM copied from passages": the share '
        "of a system's exact matches whose answer occurs in the passages it read (the rest it did not read "
        "there)."
    )


def _long_frame(result: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"system": system, "category": cat, "n": v.get("n"), "em": v.get("em"), "f1": v.get("f1")}
        for system, per in result.items()
        for cat, v in per.items()
    ]
    order = {c: i for i, c in enumerate(LABELS)}
    df = pd.DataFrame(rows)
    return df.sort_values("category", key=lambda s: s.map(lambda c: order.get(c, len(order))), kind="stable")


def _chart(long: pd.DataFrame, metric: str) -> alt.Chart:
    cats = list(dict.fromkeys(long["category"]))
    return (
        alt.Chart(long.dropna(subset=[metric]))
        .mark_bar()
        .encode(
            # every category labelled: Vega-Lite drops overlapping labels unless told not to
            x=alt.X(
                "category:N",
                sort=cats,
                title=None,
                axis=alt.Axis(labelAngle=-30, labelLimit=220, labelOverlap=False, labelPadding=4),
            ),
            xOffset="system:N",
            y=alt.Y(f"{metric}:Q", title=f"{metric.upper()} (%)", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("system:N", scale=color_scale(long["system"])),
            tooltip=["system", "category", "n", alt.Tooltip(f"{metric}:Q", format=".2f")],
        )
        .properties(height=320)
    )


def _is_retrieval(preds) -> bool:
    return bool(preds) and "passages" in preds[0].extra


def _disagreements(run: RunInfo, ctx: AppContext, gold_based: bool, normaliser: str = "squad") -> None:
    st.subheader("Where two systems disagree")
    if len(run.predictions) < 2:
        st.info(
            "This run has fewer than two prediction files, so there is nothing to compare. A run without "
            "retrieval outputs has only its closed-book systems."
        )
        return
    with reported("Reading predictions"):
        preds = {s: loaders.load_predictions(p) for s, p in run.predictions.items()}
    if len(preds) < 2:
        return
    systems = list(preds)
    closed = [s for s in systems if not _is_retrieval(preds[s])] or systems
    retrieval = [s for s in systems if _is_retrieval(preds[s])]
    labels = {
        i: {*r.get("labels", ()), r.get("category")}
        for i, r in _overlap_rows(run, choose=True, gold_first=gold_based).items()
    }
    categories = [c for c in LABELS if c == TOTAL or any(c in r for r in labels.values())]
    c1, c2, c3, c4 = st.columns(4)
    first = c1.selectbox("First system", systems, index=systems.index(closed[0]), key="bench_a")
    second_default = next((s for s in retrieval + systems if s != first), systems[0])
    second = c2.selectbox("Second system", systems, index=systems.index(second_default), key="bench_b")
    category = c3.selectbox("Overlap category", categories, key="bench_category")
    which = c4.selectbox("Show", FILTERS, key="bench_filter")
    if first == second:
        st.info("Choose two different systems.")
        return
    gold = {}
    if run.path("test") is not None:
        with reported("Reading the test set"):
            gold = {ex.id: ex.answers for ex in loaders.load_qa(run.path("test"))}
    b_by_id = {p.id: p for p in preds[second]}
    rows = []
    for a in preds[first]:
        b = b_by_id.get(a.id)
        if b is None or (category != TOTAL and category not in labels.get(a.id, ())):
            continue
        answers = gold.get(a.id) or a.answers or []
        ra, rb = is_right(a.prediction, answers, normaliser), is_right(b.prediction, answers, normaliser)
        norm = normaliser_of(normaliser)
        differ = norm(a.prediction) != norm(b.prediction)
        keep = {FILTERS[0]: differ, FILTERS[1]: bool(ra and not rb), FILTERS[2]: bool(rb and not ra), FILTERS[3]: True}
        if keep[which]:
            rows.append(
                {
                    "id": a.id,
                    "question": a.question,
                    "gold": " | ".join(answers),
                    first: a.prediction,
                    f"{first} right": ra,
                    second: b.prediction,
                    f"{second} right": rb,
                }
            )
    wanted = st.query_params.get("q")  # Probe's link back: this question's row
    if wanted:
        rows = [r for r in rows if r["id"] == wanted] or rows
        st.caption(f"showing test question `{wanted}` (from Probe's link); clear the filter by choosing another option")
    st.caption(f"{len(rows)} question(s); each id opens the question in Probe")
    if rows:
        frame = pd.DataFrame(rows)
        frame.insert(0, "probe", [ctx.probe_link(str(i)) for i in frame["id"]])
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={"probe": st.column_config.LinkColumn("open in Probe", display_text="probe ↗")},
        )
        downloads(f"disagreements_{first}_{second}_{category}", frame.drop(columns="probe"))
