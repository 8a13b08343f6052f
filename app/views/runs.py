"""Runs: training curves (loss, validation EM/F1) of the training runs under the runs directory, on one chart."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.context import AppContext
from cbqa_app.render import reported
from cbqa_app.run_dir import find_training_runs

PREFERRED = ("train_loss", "val_loss", "val_em", "val_f1")


def render(ctx: AppContext) -> None:
    st.header("Runs")
    found = _training_runs(ctx)
    if not found:
        st.info(f"No training run (a directory with logs/metrics.csv) under `{ctx.runs_root}` or in the chosen "
                "run's manifest yet. Training runs write their curves there as they train.")
        return
    chosen = st.multiselect("Training runs", list(found), default=list(found)[:6], key="runs_chosen")
    frames = {}
    for name in chosen:
        path = found[name] / "logs" / "metrics.csv"
        with reported(f"Reading {path}"):
            frame = loaders.load_metrics_csv(path)
            if "step" not in frame.columns or frame.empty:
                st.warning(f"{path} has no rows with a `step` yet (the run may have just started).")
                continue
            frames[name] = frame
    if not frames:
        return
    metrics = [m for m in PREFERRED if any(m in f.columns for f in frames.values())]
    metrics += sorted({c for f in frames.values() for c in f.columns} - set(metrics) - {"step", "epoch"})
    picked = st.multiselect("Metrics", metrics, default=[m for m in ("train_loss", "val_em") if m in metrics] or metrics[:1],
                            key="runs_metrics")
    long = pd.concat(
        [f[["step", m]].dropna().rename(columns={m: "value"}).assign(run=name, metric=m)
         for name, f in frames.items() for m in picked if m in f.columns]
        or [pd.DataFrame(columns=["step", "value", "run", "metric"])],
        ignore_index=True,
    )
    if long.empty:
        st.info("The chosen runs have not logged these metrics yet.")
    else:
        for metric in picked:
            part = long[long["metric"] == metric]
            if part.empty:
                continue
            st.altair_chart(
                alt.Chart(part).mark_line(point=len(part) < 200).encode(
                    x="step:Q", y=alt.Y("value:Q", title=metric), color="run:N", tooltip=["run", "step", "value"]
                ).properties(title=metric, height=260),
                width="stretch",
            )
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
            with reported(f"Reading {summary}"):
                data = json.loads(summary.read_text(encoding="utf-8"))
                rows.append({"run": name, **{k: v for k, v in data.items() if isinstance(v, (int, float, str, bool))}})
    if rows:
        st.subheader("Summaries")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
