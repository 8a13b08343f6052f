"""Streamlit entry point: `cbqa app --runs DIR` runs `streamlit run` on this file.

The runs directory comes from `-- --runs DIR` after streamlit's own options, or the CBQA_APP_RUNS
environment variable (what `cbqa app` sets), else `runs/`; the sidebar can change it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from cbqa_app.context import AppContext
from cbqa_app.run_dir import find_runs, read_run, run_name
from cbqa_app.views import benchmark, knowledge, masking_lab, memorisation, overlap_explorer, probe, runs

PAGES = {
    "probe": ("Probe", probe.render),
    "benchmark": ("Benchmark", benchmark.render),
    "overlap": ("Overlap explorer", overlap_explorer.render),
    "masking": ("Masking lab", masking_lab.render),
    "runs": ("Runs", runs.render),
    "memorisation": ("Memorisation", memorisation.render),
    "knowledge": ("Knowledge", knowledge.render),
}
RUNS_ENV = "CBQA_APP_RUNS"


def default_runs_root(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs")
    known, _ = parser.parse_known_args(argv)
    return known.runs or os.environ.get(RUNS_ENV) or "runs"


def _page_from_url() -> str:
    slug = st.query_params.get("page", "probe")
    return slug if slug in PAGES else "probe"


def _choose_run(root: Path):
    found = find_runs(root)
    if not found:
        where = (
            "does not exist"
            if not root.exists()
            else "holds no run (a study's manifest.json, a training run's run.json)"
        )
        st.sidebar.warning(f"`{root}` {where}. Make one with `cbqa demo --out {root}/demo`, or type another directory.")
        return None, ""
    labels = {str(p.relative_to(root)) if p != root else p.name: p for p in found}
    wanted = st.query_params.get("run")  # a shared link names its run
    if wanted in labels and "run" not in st.session_state:
        st.session_state["run"] = wanted
    names = {key: run_name(path) for key, path in labels.items()}  # each run by its own record's name
    shown = lambda key: names[key] if names[key] == key.split("/")[-1] else f"{names[key]} ({key})"
    chosen = st.sidebar.selectbox("Run", list(labels), key="run", format_func=shown)
    if st.query_params.get("run") != chosen:
        st.query_params["run"] = chosen
    info = read_run(labels[chosen])
    if info.error:
        st.sidebar.error(info.error)
        return None, chosen
    if info.problems:
        with st.sidebar.expander(f"{len(info.problems)} missing piece(s) in this run"):
            for line in info.problems:
                st.markdown(f"- {line}")
    return info, chosen


def main() -> None:
    st.set_page_config(page_title="cbqa", page_icon=":books:", layout="wide")
    st.sidebar.title("cbqa")
    slugs = list(PAGES)
    slug = st.sidebar.radio(
        "Page", slugs, index=slugs.index(_page_from_url()), format_func=lambda s: PAGES[s][0], key="page"
    )
    if st.query_params.get("page") != slug:
        st.query_params["page"] = slug
    root_text = st.sidebar.text_input("Runs directory", value=default_runs_root(sys.argv[1:]), key="runs_root")
    root = Path(root_text.strip() or ".").expanduser()
    run, label = _choose_run(root)
    ctx = AppContext(runs_root=root, run=run, run_label=label)
    try:
        PAGES[slug][1](ctx)
    except Exception as e:
        st.error(f"{PAGES[slug][0]} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


main()
