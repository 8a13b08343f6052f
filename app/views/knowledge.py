"""Knowledge: what the models know as fill-in-the-blank models (LAMA-style cloze probes, `cbqa cloze`): P@1 per relation
and model, every fact with each model's top candidates, and a cloze typed by hand, answered by every model side by side.

It reads the run's cloze outputs (`RUN/cloze/`, which `cbqa demo` writes), or runs the probe itself on the run's models
over its toy world's LAMA files (`RUN/world/lama/`, which `cbqa world` writes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.colors import color_scale
from cbqa_app.context import AppContext
from cbqa_app.export import downloads
from cbqa_app.render import reported
from cbqa_app.run_dir import RunInfo

METRICS = {"p@1": "P@1", "p@10": "P@10", "mrr": "MRR"}
ALL_SPLITS = "all subjects"
SPLIT_NAMES = {"train": "QA-train subjects", "held_out": "held-out subjects"}
MAX_ROWS = 1000
_THREADS_LOCK = threading.Lock()
_THREADS_HELD = [0, 0]  # sessions inside `_one_torch_thread`, the thread count to restore when the last leaves


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run the block with one torch thread (restored when the last session leaves it). One input through a
    1M-parameter T5 gains nothing from a second thread, and on a busy 2-core machine the two stall on each other:
    bench/knowledge_latency.py at load ~7 measured a typed cloze (five demo models) at 4.7 s median with torch's
    default two threads and 0.6 s with one."""
    import torch

    with _THREADS_LOCK:
        if _THREADS_HELD[0] == 0:
            _THREADS_HELD[1] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_HELD[0] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_HELD[0] -= 1
            if _THREADS_HELD[0] == 0:
                torch.set_num_threads(_THREADS_HELD[1])


def render(ctx: AppContext) -> None:
    st.header("Knowledge")
    st.caption(
        "Cloze probes (LAMA, Petroni et al. 2019) of T5: each fact's template with `<extra_id_0>` for the object, every "
        "object of the relation ranked by the model's log-likelihood of `<extra_id_0> OBJECT <extra_id_1>`. What a "
        f"model knows before any question is asked. · [Ask questions in Probe]({ctx.page_link('probe')})"
    )
    run = ctx.run
    if run is None:
        st.info("Choose a run directory in the sidebar to see what its models know.")
        return
    found = _results(run)
    if found is not None:
        st.caption(found[2])
        _chart(found[0])
        st.divider()
    _typed(run, *(found[:2] if found else (None, [])))
    if found is not None:
        st.divider()
        _facts(found[0], found[1])


def _results(run: RunInfo) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
    stored = run.root / "cloze"
    if (stored / "cloze.json").is_file():
        with reported("Reading the run's cloze results"):
            results, facts = loaders.load_cloze(stored)
            return results, facts, f"from `{run.name}/cloze/` ({results['mode']} mode, {results['source']} inputs)"
        return None
    files, relations = _lama_files(run)
    models = _models(run, None)
    if not files or not models:
        st.info(
            "This run has no cloze results (`cloze/cloze.json`, which `cbqa demo` writes) and nothing to probe here: "
            "it needs models and its world's LAMA files (`world/lama/*.jsonl`, which `cbqa world` writes). Probe any "
            "model on LAMA's own files with `cbqa cloze --model M --lama P19.jsonl ... --relations relations.jsonl "
            "--out DIR`."
        )
        return None
    st.info(
        f"This run has no stored cloze results. The probe ranks every object of each relation for "
        f"{len(models)} model(s) over its world's LAMA files ({len(files)} relations)."
    )
    if not (st.session_state.get("knowledge_probe") or st.button("Run the cloze probe", key="knowledge_run")):
        return None
    st.session_state["knowledge_probe"] = True
    with reported("The cloze probe"), _one_torch_thread():
        results, facts = loaders.cloze_probe(models, files, relations)
        return results, facts, "computed here over the run's world/lama files (rank mode, template inputs)"
    return None


def _lama_files(run: RunInfo) -> tuple[list[Path], Path | None]:
    train = run.path("train")
    lama = (train.parent if train else run.root / "world") / "lama"
    if not lama.is_dir():
        return [], None
    relations = lama / "relations.jsonl"
    files = sorted(p for p in lama.glob("*.jsonl") if p.name != "relations.jsonl")
    return files, relations if relations.is_file() else None


def _models(run: RunInfo, results: dict[str, Any] | None) -> dict[str, str]:
    """The probed models by name (their recorded paths, relative to the run), else the run's models (and its
    pretraining runs' exports, `pretrain/<variant>/hf`, as the demo names them)."""
    out: dict[str, str] = {}
    for name, m in ((results or {}).get("models") or {}).items():
        path = Path(m.get("path") or name)
        for candidate in (path, run.root / path, run.root / name / "hf"):
            if (candidate / "config.json").is_file() or (candidate / "hf" / "config.json").is_file():
                out[name] = str(candidate)
                break
    if out:
        return out
    pretrain = run.root / "pretrain"
    if pretrain.is_dir():
        out |= {
            f"pretrain/{p.parent.name}": str(p) for p in sorted(pretrain.glob("*/hf")) if (p / "config.json").is_file()
        }
    out |= {f"models/{name}": str(path) for name, path in run.models.items()}
    return out


def _chart(results: dict[str, Any]) -> None:
    st.subheader("P@1 per relation and model")
    models = results["models"]
    first = next(iter(models.values()), {})
    splits = [ALL_SPLITS, *(s for s in first.get("splits", {}))]
    rank = results["mode"] == "rank"
    c1, c2, c3 = st.columns([3, 2, 2])
    split = c1.radio(
        "Subjects",
        splits,
        horizontal=True,
        key="knowledge_split",
        format_func=lambda s: SPLIT_NAMES.get(s, s),
        help="QA-train subjects are asked about in closed-book training; held-out subjects' facts are only in the "
        "pretraining corpus.",
    )
    metric = c2.radio(
        "Metric",
        list(METRICS) if rank else ["em"],
        horizontal=True,
        key="knowledge_metric",
        format_func=lambda m: METRICS.get(m, "EM"),
    )
    normalised = rank and c3.toggle(
        "length-normalised",
        key="knowledge_normalised",
        help="rank by the mean log-probability per token instead of the sum",
    )
    rows = []
    for name, m in models.items():
        per = m["relations"] if split == ALL_SPLITS else m["split_relations"].get(split, {})
        overall = m["overall"] if split == ALL_SPLITS else m["splits"].get(split)
        for relation, cell in [*per.items(), *([("all", overall)] if overall else [])]:
            source = cell["length_normalised"] if normalised else cell
            stage = "after pretraining" if name.startswith("pretrain/") else "trained"
            rows.append(
                {"model": name, "stage": stage, "relation": relation, "value": source.get(metric), "n": cell["n"]}
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        st.info("No fact in this group.")
        return
    label = f"{METRICS.get(metric, 'EM')} (%)"
    order = list(dict.fromkeys(frame["relation"]))
    chart = (
        alt.Chart(frame.dropna(subset=["value"]))
        .mark_bar()
        .encode(
            x=alt.X(
                "relation:N",
                sort=order,
                title=None,
                axis=alt.Axis(labelAngle=-30, labelLimit=220, labelOverlap=False, labelPadding=4),
            ),
            xOffset=alt.XOffset("model:N", sort=list(models)),
            y=alt.Y("value:Q", title=label, scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("model:N", scale=color_scale(frame["model"]), sort=list(models)),
            # a variant's pretrained and fine-tuned models share its colour; the pretrained one is lighter
            opacity=alt.Opacity(
                "stage:N", scale=alt.Scale(domain=["after pretraining", "trained"], range=[0.45, 1.0]), legend=None
            ),
            tooltip=["model", "relation", "n", alt.Tooltip("value:Q", title=label, format=".1f")],
        )
        .properties(height=320)
    )
    st.altair_chart(chart, width="stretch")
    chance = {r: round(100 / v["candidates"], 1) for r, v in results["relations"].items() if v.get("candidates")}
    if rank:
        st.caption(
            "Chance P@1 (one over the relation's candidates): " + ", ".join(f"{r} {c:.1f}" for r, c in chance.items())
        )
    table = frame.pivot_table(index="model", columns="relation", values="value", sort=False).round(1)
    st.dataframe(table[[c for c in order if c in table.columns]], width="stretch")
    downloads(f"cloze_{metric}_{split}", frame, chart)


def _facts(results: dict[str, Any], facts: list[dict[str, Any]]) -> None:
    st.subheader("Every fact, each model's top candidates")
    models = list(results["models"])
    relations = ["all", *results["relations"]]
    c1, c2, c3 = st.columns(3)
    relation = c1.selectbox("Relation", relations, key="knowledge_relation")
    splits = sorted({f.get("split") for f in facts if f.get("split")})
    split = c2.selectbox(
        "Subjects", ["all", *splits], key="knowledge_fact_split", format_func=lambda s: SPLIT_NAMES.get(s, s)
    )
    show = c3.selectbox(
        "Show", ["all facts", "some model right, some wrong", "every model wrong"], key="knowledge_show"
    )
    rows = []
    for f in facts:
        if relation != "all" and f["relation"] != relation or split != "all" and f.get("split") != split:
            continue
        right = {m: _right(f["models"].get(m, {})) for m in models}
        if show == "some model right, some wrong" and len(set(right.values())) < 2:
            continue
        if show == "every model wrong" and any(right.values()):
            continue
        row = {"relation": f["relation"], "subject": f["subject"], "gold": f["gold"], "split": f.get("split", "")}
        for m in models:
            mine = f["models"].get(m, {})
            top = mine.get("top") or []
            row[f"{m} rank"] = mine.get("rank")
            row[f"{m} top"] = " · ".join(f"{t['candidate']} ({t.get('logp', t.get('score', 0)):.2f})" for t in top)
        rows.append(row)
    st.caption(
        f"{len(rows)} fact(s){f', the first {MAX_ROWS} shown' if len(rows) > MAX_ROWS else ''}; rank: the gold "
        "object's rank among the relation's candidates (1 = first); top: the model's best candidates with their "
        "summed log-probabilities."
    )
    if rows:
        frame = pd.DataFrame(rows[:MAX_ROWS])
        st.dataframe(frame, hide_index=True, width="stretch", height=420)
        downloads(f"cloze_facts_{relation}_{split}", frame)


def _right(mine: dict[str, Any]) -> bool:
    return mine.get("rank") == 1 if "rank" in mine else bool(mine.get("correct"))


@st.fragment
def _typed(run: RunInfo, results: dict[str, Any] | None, facts: list[dict[str, Any]]) -> None:
    """A fragment: typing reruns this section only, not the chart and the table of facts above."""
    from cbqa.memorisation.cloze import match_template, typed_input

    st.subheader("Type a cloze")
    relations, answers = _vocabulary(run, results)
    models = _models(run, results)
    c1, c2 = st.columns([4, 1])
    chosen = c1.multiselect("Models", list(models), default=list(models), key="knowledge_models")
    k = c2.slider("Fillers shown", 1, 10, 5, key="knowledge_k")
    text = st.text_input(
        "A sentence with a blank (___, [Y] or [MASK]) for the models to fill",
        value=_example(facts, relations),
        key="knowledge_cloze",
        help="When it is a relation's template with a subject in [X] (its wording, not its case or final stop), the "
        "models rank that relation's objects; otherwise they write the blank's span themselves (beam search).",
    )
    if not text.strip():
        st.info("Type a sentence with one blank, e.g. `Laura Emerson was born in ___`.")
        return
    typed = typed_input(text)
    if typed is None:
        st.warning("Write exactly one blank: `___`, `[Y]`, `[MASK]` or `<extra_id_0>`.")
        return
    if not chosen:
        st.info("Choose at least one model above.")
        return
    matched = match_template(text, relations)
    candidates = answers.get(matched[0]) if matched else None
    if matched and not candidates:
        st.caption(
            f"Matches relation **{matched[0]}**, whose objects these results do not list (an older cbqa wrote them)."
        )
    if matched and candidates:
        st.caption(
            f"Matches relation **{matched[0]}** (`{relations[matched[0]].template}`), subject *{matched[1]}*: "
            f"the models rank its {len(candidates)} objects. T5 input: `{typed}`"
        )
    else:
        st.caption(
            f"Matches no relation's template: the models write the span (beam search, {k} beams). T5 input: `{typed}`"
        )
    table: dict[str, list[str]] = {}
    times: list[str] = []
    for name in chosen:
        with reported(f"Model {name}"):
            answerer = loaders.answerer(models[name], loaders.stamp(Path(models[name])), prefix="")
            start = time.perf_counter()
            with _one_torch_thread():
                rows = _fill(answerer, typed, candidates, k)
            times.append(f"{name} {1000 * (time.perf_counter() - start):.0f} ms")
            table[name] = [f"{r['filler'] or '(empty)'} ({r['score']:.2f})" for r in rows]
    if table:
        depth = max(len(v) for v in table.values())
        frame = pd.DataFrame({m: v + [""] * (depth - len(v)) for m, v in table.items()})
        frame.insert(0, "rank", range(1, depth + 1))
        st.dataframe(frame, hide_index=True, width="stretch")
        what = "summed log-probability of the span" if candidates else "beam score (mean log-probability per token)"
        st.caption(f"Best fillers first, each with its {what}; answered in: {', '.join(times)}")
        downloads("typed_cloze", frame)


def _vocabulary(run: RunInfo, results: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each relation's template and objects: from the cloze results, else from the run's world/lama files."""
    from cbqa.core.formats.lama import LamaRelation

    if results:
        rels = results.get("relations") or {}
        return (
            {r: LamaRelation(r, v["template"]) for r, v in rels.items() if v.get("template")},
            {r: v.get("answers") or [] for r, v in rels.items()},
        )
    files, relations = _lama_files(run)
    if not files:
        return {}, {}
    with reported("Reading the run's LAMA files"):
        cset = loaders.load_cloze_set(files, relations)
        return cset.relations, cset.candidates
    return {}, {}


def _fill(answerer, typed: str, answers: list[str] | None, k: int) -> list[dict[str, Any]]:
    """The k best fillers of one model: the relation's objects ranked, or spans generated (beam search)."""
    from cbqa.memorisation.cloze import ClozeItem, generate_spans, rank_items

    net, tok, device = answerer.net, answerer.tok, answerer.device
    if answers:
        item = ClozeItem("typed", "typed", "", "", (), typed)
        top = rank_items(net, tok, [item], {"typed": answers}, k=k, device=device)[0].top
        return [{"filler": t["candidate"], "score": t["logp"]} for t in top]
    spans = generate_spans(net, tok, [typed], k=k, beams=max(k, 1), device=device)[0]
    return [{"filler": s["candidate"], "score": s["score"]} for s in spans]


def _example(facts: list[dict[str, Any]], relations: dict[str, Any]) -> str:
    """A cloze to start from: the first probed fact's template with its subject, else LAMA's classic."""
    first = next((f for f in facts if f["relation"] in relations), None)
    if first is None:
        return "Laura Emerson was born in ___"
    template = relations[first["relation"]].template.replace("[X]", first["subject"]).replace("[Y]", "___")
    return template.removesuffix(" .").strip()
