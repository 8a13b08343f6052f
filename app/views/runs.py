"""Runs: training curves (loss, validation EM/F1) of the training runs under the runs directory, one chart per metric.

The x-axis is total training steps: a run that started from another run's weights (fine-tuning after pretraining)
starts where that run ended, so variants are compared at equal total training. Each run keeps one colour on every
chart and page (`cbqa_app.colors`)."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.colors import color_scale
from cbqa_app.context import AppContext
from cbqa_app.export import downloads
from cbqa_app.render import reported
from cbqa_app.run_dir import find_training_runs, steps_before

PREFERRED = ("train_loss", "val_loss", "val_em", "val_f1")


def render(ctx: AppContext) -> None:
    st.header("Runs")
    found = _training_runs(ctx)
    if not found:
        st.info(
            "No training run (a directory with logs/metrics.csv) under the runs directory or in the chosen "
            "run's manifest yet. Training runs write their curves there as they train."
        )
        return
    chosen = st.multiselect("Training runs", list(found), default=list(found)[:6], key="runs_chosen")
    frames, offsets = {}, {}
    for name in chosen:
        path = found[name] / "logs" / "metrics.csv"
        with reported(f"Reading {name}/logs/metrics.csv"):
            frame = loaders.load_metrics_csv(path)
            if "step" not in frame.columns or frame.empty:
                st.warning(f"{name}: its metrics.csv has no rows with a `step` yet (the run may have just started).")
                continue
            frames[name] = frame
            offsets[name] = steps_before(found[name])
    if not frames:
        return
    metrics = [m for m in PREFERRED if any(m in f.columns for f in frames.values())]
    metrics += sorted({c for f in frames.values() for c in f.columns} - set(metrics) - {"step", "epoch"})
    picked = st.multiselect(
        "Metrics",
        metrics,
        default=[m for m in ("train_loss", "val_em") if m in metrics] or metrics[:1],
        key="runs_metrics",
    )
    long = pd.concat(
        [
            f[["step", m]].dropna().rename(columns={m: "value"}).assign(run=name, metric=m)
            for name, f in frames.items()
            for m in picked
            if m in f.columns
        ]
        or [pd.DataFrame(columns=["step", "value", "run", "metric"])],
        ignore_index=True,
    )
    # Lightning logs the step index from 0; +1 makes "after N steps", then the steps of the runs it started from
    long["total_step"] = long["step"].astype(int) + 1 + long["run"].map(offsets).fillna(0).astype(int)
    long["value"] = long["value"].astype(float).round(4)
    later = {n: o for n, o in offsets.items() if o}
    if later:
        st.caption(
            "x-axis: total training steps. Started from another run's weights, so shifted right by its steps: "
            + ", ".join(f"{n} +{o:,}" for n, o in later.items())
        )
    if long.empty:
        st.info("The chosen runs have not logged these metrics yet.")
    else:
        colors = color_scale(frames)
        for metric in picked:
            part = long[long["metric"] == metric]
            if part.empty:
                continue
            chart = (
                alt.Chart(part)
                .mark_line(point=len(part) < 200)
                .encode(
                    x=alt.X("total_step:Q", title="total training steps"),
                    y=alt.Y("value:Q", title=metric),
                    color=alt.Color("run:N", scale=colors),
                    tooltip=[
                        "run",
                        alt.Tooltip("total_step:Q", title="total step"),
                        alt.Tooltip("step:Q", title="step in run"),
                        alt.Tooltip("value:Q", format=".4g"),
                    ],
                )
                .properties(title=metric, height=260)
            )
            st.altair_chart(chart, width="stretch")
            downloads(f"runs_{metric}", part[["run", "step", "total_step", "value"]], chart)
    _summaries({n: found[n] for n in frames})


def _training_runs(ctx: AppContext) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if ctx.run is not None:
        out.update({name: path for name, path in ctx.run.runs.items() if (path / "logs" / "metrics.csv").exists()})
    known = set(out.values())
    for path in find_training_runs(ctx.runs_root):
        if path not in known:
            label = str(path.relative_to(ctx.runs_root)) if path != ctx.runs_root else path.name
            out[label] = path
    return out


def _summaries(runs: dict[str, Path]) -> None:
    rows = []
    for name, path in runs.items():
        summary = path / "summary.json"
        if summary.exists():
            with reported(f"Reading {name}/summary.json"):
                data = json.loads(summary.read_text(encoding="utf-8"))
                rows.append({"run": name, **{k: v for k, v in data.items() if isinstance(v, (int, float, str, bool))}})
    if rows:
        st.subheader("Summaries")
        table = pd.DataFrame(rows).drop(columns=[c for c in ("run_dir", "hf_export") if c in rows[0]], errors="ignore")
        st.dataframe(table.round(3), hide_index=True, width="stretch")
        downloads("runs_summaries", table)
