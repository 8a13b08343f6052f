"""Download buttons under every chart and table: CSV of the data shown, PNG of the chart (rendered on click)."""

from __future__ import annotations

import io
import re

import altair as alt
import pandas as pd
import streamlit as st


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "cbqa"


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """The chart as a PNG (vl-convert: Vega-Lite rendered without a browser), at `scale` x its size."""
    buf = io.BytesIO()
    chart.save(buf, format="png", scale_factor=scale)
    return buf.getvalue()


def downloads(name: str, frame: pd.DataFrame, chart: alt.TopLevelMixin | None = None) -> None:
    """CSV of `frame` and, with a chart, its PNG, side by side; `name` makes the file names and widget keys."""
    stem = _stem(name)
    cols = st.columns([1, 1, 6])
    cols[0].download_button(
        "CSV",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"csv_{stem}",
        icon=":material/download:",
        on_click="ignore",
    )
    if chart is not None:
        cols[1].download_button(
            "PNG",
            lambda: chart_png(chart),
            file_name=f"{stem}.png",
            mime="image/png",
            key=f"png_{stem}",
            icon=":material/download:",
            on_click="ignore",
        )
