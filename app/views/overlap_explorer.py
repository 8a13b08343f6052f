"""Overlap explorer: a train/test pair at dataset level — category sizes, similarity histogram, borderline pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.context import AppContext
from cbqa_app.export import downloads
from cbqa_app.render import reported
from cbqa_app.run_dir import shown_path


def render(ctx: AppContext) -> None:
    st.header("Overlap explorer")
    run = ctx.run
    if run is None:
        st.info("Choose a run directory in the sidebar to explore its test-train overlap.")
        return
    rows = _rows(run, ctx.runs_root)
    if not rows:
        return
    from cbqa.overlap.categories import at_threshold
    from cbqa.overlap.report import overlap_summary

    method, threshold = _decision(rows)
    shown = [at_threshold(r, method, threshold) for r in rows] if method else rows
    summary = overlap_summary(shown)
    n = summary["n"]
    st.markdown(f"**{n} test questions**")
    sizes = pd.DataFrame(
        [
            {"category": c, "questions": k, "% of test": round(100 * k / n, 1) if n else None}
            for c, k in summary["categories"].items()
        ]
        + (
            [
                {
                    "category": "undecided",
                    "questions": summary["undecided"],
                    "% of test": round(100 * summary["undecided"] / n, 1),
                }
            ]
            if summary["undecided"]
            else []
        )
    )
    if method:
        others = sorted({m for r in rows for m in (r.get("question_decision") or {})} - {method})
        st.caption(
            f"Categories at {method} threshold {threshold:.2f}. A test question is question overlap when its nearest "
            "train question (among those sharing a gold answer, when the labels were made so) passes the threshold of "
            "any method"
            + (" (" + ", ".join(f"{m} as labelled" for m in others) + ")" if others else "")
            + ". The table and the histogram below follow the slider."
        )
    st.markdown(" · ".join(f"{r['category'].replace('_', ' ')} **{r['questions']}**" for _, r in sizes.iterrows()))
    left, right = st.columns([2, 3])
    left.dataframe(sizes, hide_index=True, width="stretch")
    if "answer_in_corpus" in summary:
        left.markdown(f"Answer in the pretraining corpus: **{summary['answer_in_corpus']}** of {n}")
    bars = (
        alt.Chart(sizes)
        .mark_bar()
        .encode(x=alt.X("questions:Q"), y=alt.Y("category:N", sort=None), tooltip=list(sizes))
    )
    right.altair_chart(bars, width="stretch")
    downloads(
        f"overlap_categories_{method or 'labels'}_{threshold:.2f}" if method else "overlap_categories", sizes, bars
    )
    if method:
        _similarity(shown, run, method, threshold, ctx)


def _decision(rows: list[dict[str, Any]]) -> tuple[str | None, float]:
    """The method and threshold the page shows, chosen above the category table so the table follows them."""
    from cbqa.overlap.labeller import DEFAULT_THRESHOLDS

    methods = sorted({m for r in rows for m in (r.get("question_decision") or {})})
    if not methods:
        st.info(
            "These labels carry no question-similarity scores (released labels have none), so there is no "
            "threshold to explore; the categories are the stored ones."
        )
        return None, 0.0
    c1, c2 = st.columns([1, 2])
    method = c1.radio("Similarity method", methods, horizontal=True, key="overlap_method")
    threshold = c2.slider(
        "Decision threshold",
        0.0,
        1.0,
        float(DEFAULT_THRESHOLDS.get(method, 0.8)),
        0.01,
        key=f"overlap_threshold_{method}",
    )
    return method, threshold


def _rows(run, root: Path) -> list[dict[str, Any]]:
    path = run.path("overlap")
    if path is not None:
        with reported(f"Reading overlap labels {shown_path(path, root)}"):
            rows = list(loaders.load_overlap_rows(path).values())
            st.caption(f"labels from `{shown_path(path, root)}`")
            return rows
        return []
    train, test = run.path("train"), run.path("test")
    if train is None or test is None:
        st.info(
            "This run has no overlap labels (the manifest's `overlap`) and no train/test pair to compute them from."
        )
        return []
    st.info(
        "This run has no stored overlap labels; they can be computed now from its train and test sets "
        "(TF-IDF question similarity, default threshold; `cbqa overlap` offers every option)."
    )
    if not st.toggle("Compute overlap labels now", key="overlap_compute"):
        return []
    with reported("Computing overlap labels"):
        return loaders.compute_overlap(train, test)
    return []


def _similarity(rows: list[dict[str, Any]], run, method: str, threshold: float, ctx: AppContext) -> None:
    st.subheader("Nearest-training-question similarity")
    gold = _gold_categories(run, ctx.runs_root)
    table = pd.DataFrame([_pair(r, method, gold) for r in rows])
    table = table.dropna(subset=["similarity"])
    bins = alt.Bin(extent=[0, 1], step=0.025)
    hist = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X("similarity:Q", bin=bins, title=f"{method} cosine similarity to the nearest training question"),
            y=alt.Y("count():Q", title="test questions"),
            color=alt.Color("category:N") if table["category"].notna().any() else alt.value("#4c78a8"),
        )
    )
    rule = alt.Chart(pd.DataFrame({"similarity": [threshold]})).mark_rule(color="red").encode(x="similarity:Q")
    chart = (hist + rule).properties(height=280)
    st.altair_chart(chart, width="stretch")
    downloads(f"overlap_similarity_{method}", table[["id", "similarity", "category"]], chart)
    above = int((table["similarity"] >= threshold).sum())
    st.caption(
        f"{above} of {len(table)} test questions at or above {threshold:.2f} (question overlap under this threshold)"
    )

    st.subheader("Pairs near the threshold")
    margin = st.slider("Within", 0.01, 0.5, 0.05, 0.01, key="overlap_margin")
    near = table[(table["similarity"] - threshold).abs() <= margin].sort_values("similarity", ascending=False)
    near = near.assign(paraphrase=near["similarity"] >= threshold)
    st.caption(f"{len(near)} pair(s) within ±{margin:.2f} of {threshold:.2f}")
    links = near.assign(probe=[ctx.probe_link(str(i)) for i in near["id"]])
    st.dataframe(
        links,
        hide_index=True,
        width="stretch",
        column_order=["probe", *near.columns],
        column_config={"probe": st.column_config.LinkColumn("open in Probe", display_text="probe ↗")},
    )
    st.download_button(
        "Download these pairs (CSV)",
        near.to_csv(index=False).encode("utf-8"),
        file_name=f"overlap_pairs_{method}_{threshold:.2f}.csv",
        mime="text/csv",
    )
    st.download_button(
        "Download all pairs (CSV)",
        table.to_csv(index=False).encode("utf-8"),
        file_name=f"overlap_pairs_{method}.csv",
        mime="text/csv",
        key="overlap_all_csv",
    )


def _gold_categories(run, root: Path) -> dict[str, str | None]:
    path = run.path("gold_overlap")
    if path is None:
        return {}
    with reported(f"Reading gold overlap labels {shown_path(path, root)}"):
        return {i: r.get("category") for i, r in loaders.load_overlap_rows(path).items()}
    return {}


def _pair(row: dict[str, Any], method: str, gold: dict[str, str | None]) -> dict[str, Any]:
    nearest = ((row.get("nearest") or {}).get(method) or [{}])[0]
    decision = (row.get("question_decision") or {}).get(method) or {}
    out = {
        "id": row.get("id"),
        "test question": row.get("question"),
        "nearest train question": nearest.get("question"),
        "similarity": decision.get("score", nearest.get("score")),
        "test answers": " | ".join(row.get("answers") or []),
        "train answers": " | ".join(nearest.get("answers") or []),
        "category": row.get("category"),
    }
    if gold:
        out["gold category"] = gold.get(str(row.get("id")))
    return out
