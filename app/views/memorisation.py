"""Memorisation: what the models stored of their training text, from the outputs of `cbqa exposure` and `cbqa extract`,
and, for one test question, whether a model restores the corpus sentence that holds its answer."""

from __future__ import annotations

import difflib
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
from cbqa_app.run_dir import shown_path

MAX_DEPTH = 4


def render(ctx: AppContext) -> None:
    st.header("Memorisation")
    root = ctx.runs_root
    _exposure(root)
    st.divider()
    _extraction(root)
    st.divider()
    _restore_sentence(ctx)


def _find(root: Path, match) -> list[Path]:
    """JSON files under `root` (at most MAX_DEPTH levels down) for which `match(name)` holds, newest first."""
    if not root.is_dir():
        return []
    found = [
        p
        for depth in range(1, MAX_DEPTH + 1)
        for p in root.glob("/".join(["*"] * depth))
        if p.is_file() and match(p.name)
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _exposure(root: Path) -> None:
    st.subheader("Canary exposure")
    files = _find(root, lambda n: n == "exposure.json")
    if not files:
        st.info(
            "No `exposure.json` under the runs directory yet. Make one: `cbqa canaries` (a corpus copy with secrets "
            "inserted 1, 4, 16 times), train on it, then `cbqa exposure --model RUN... --canaries DIR --out "
            "runs/exposure` (docs/memorisation.md)."
        )
        return
    labels = {shown_path(p.parent, root): p for p in files}
    chosen = st.selectbox("Exposure run", list(labels), key="mem_exposure")
    with reported(f"Reading {chosen}/exposure.json"):
        data = json.loads(labels[chosen].read_text(encoding="utf-8"))
        summary = pd.DataFrame(data["summary"])
        summary["model"] = summary["model"].map(lambda m: Path(str(m)).name or str(m))
        st.caption(
            f"{data.get('format', '?')} secrets, |R| = {data['space_size']:,} (at most {data['max_exposure']:.1f} "
            f"bits: the secret ranked first); {data.get('method', '?')} ranking. Never-inserted canaries (0x) "
            "are the baseline: what a model gives a secret it never saw."
        )
        by_salience = sorted(set(summary["salience"]) - {"all"})
        split = st.radio(
            "Split by",
            ["all canaries", "NER salience of the secret"],
            horizontal=True,
            key="mem_split",
            disabled=not by_salience or by_salience == ["unknown"],
        )
        part = (
            summary[summary["salience"] == "all"] if split == "all canaries" else summary[summary["salience"] != "all"]
        )
        chart = (
            alt.Chart(part)
            .mark_line(point=True)
            .encode(
                x=alt.X("repeats:O", title="times the canary is in the corpus (0: never inserted)"),
                y=alt.Y(
                    "mean_exposure:Q", title="mean exposure (bits)", scale=alt.Scale(domain=[0, data["max_exposure"]])
                ),
                color=alt.Color("model:N", scale=color_scale(part["model"])),
                strokeDash=alt.StrokeDash("salience:N") if split != "all canaries" else alt.value([1, 0]),
                tooltip=["model", "repeats", "salience", "n", alt.Tooltip("mean_exposure:Q", format=".2f")],
            )
            .properties(height=300)
        )
        st.altair_chart(chart, width="stretch")
        downloads(f"exposure_{chosen}", part, chart)
        st.dataframe(part, hide_index=True, width="stretch")


def _extraction(root: Path) -> None:
    st.subheader("Training-data extraction")
    files = [p for p in _find(root, lambda n: n.startswith("extract") and n.endswith(".json")) if _is_extraction(p)]
    if not files:
        st.info(
            "No extraction result (`extract*.json`) under the runs directory yet: `cbqa extract --model RUN --corpus "
            "CORPUS --spans SPANS --samples 1000 --json runs/extract-RUN.json`."
        )
        return
    labels = {shown_path(p, root): p for p in files}
    chosen = st.selectbox("Extraction run", list(labels), key="mem_extract")
    with reported(f"Reading {chosen}"):
        data = json.loads(labels[chosen].read_text(encoding="utf-8"))
        st.markdown(
            f"Model `{Path(str(data['model'])).name}`: {data['samples']:,} samples, {data['distinct']:,} distinct, "
            f"{data['candidates']:,} long enough to rank (>= 8 words), **{data['memorised']:,} memorised** (8+ "
            "consecutive words of exactly one training document, including a salient span)."
        )
        ranking = st.radio(
            "Ranked by",
            list(data["rankings"]),
            horizontal=True,
            key="mem_ranking",
            format_func=lambda r: {"zlib": "perplexity / zlib entropy", "perplexity": "perplexity"}.get(r, r),
        )
        rank = data["rankings"][ranking]
        st.markdown(
            " · ".join(
                f"precision@{k}: **{v['precision']:.2f}** ({v['memorised']} of {v['k']})"
                for k, v in rank["precision_at_k"].items()
            )
        )
        top = pd.DataFrame(
            [
                {
                    "sample": t["text"],
                    "memorised": t["memorised"],
                    "log-perplexity": t.get("log_ppl"),
                    "zlib ratio": t.get("zlib_ratio"),
                    "prompt": t.get("prompt"),
                    "documents": ", ".join(
                        str(m.get("doc_id", m)) if isinstance(m, dict) else str(m) for m in t.get("matches") or []
                    ),
                }
                for t in rank["top"]
            ]
        )
        st.dataframe(top, hide_index=True, width="stretch")
        downloads(f"extraction_{ranking}_{chosen}", top)


def _is_extraction(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("rankings"), dict) and "memorised" in data


def _restore_sentence(ctx: AppContext) -> None:
    st.subheader("Does a model restore the sentence that holds the answer?")
    run = ctx.run
    overlap = run.path("overlap") if run else None
    test = run.path("test") if run else None
    if run is None or overlap is None or test is None or not run.models:
        st.info(
            "Needs a run with models, a test set and overlap labels computed with `--corpus` (as the demo's), "
            "which name the corpus sentence that holds each answer."
        )
        return
    with reported("Reading the overlap labels"):
        rows = loaders.load_overlap_rows(overlap)
        with_sentence = {
            qid: r for qid, r in rows.items() if ((r.get("corpus") or {}).get("evidence") or {}).get("sentence")
        }
        if not with_sentence:
            st.info("These overlap labels hold no corpus sentences (computed without `--corpus`).")
            return
        qid = st.selectbox(
            "Test question",
            list(with_sentence),
            key="mem_question",
            format_func=lambda i: f"{i}: {with_sentence[i]['question']}",
        )
        row = with_sentence[qid]
        evidence = row["corpus"]["evidence"]
        answer = row["corpus"].get("answer") or row["answers"][0]
        sentence, title = evidence["sentence"], evidence.get("title") or ""
        st.markdown(
            f"Answer **{answer}**, in *{title or evidence.get('doc_id')}*: {sentence}  ·  "
            f"[open in Probe]({ctx.probe_link(qid)})"
        )
        masked = _masked(sentence, answer)
        if masked is None:
            st.info("The answer is not written out in this sentence as it is in the gold list (a paraphrase or alias).")
            return
        prefix_words = sentence.split()[:4]
        rest = " ".join(sentence.split()[4:])
        table = []
        for name, path in run.models.items():
            filler = loaders.answerer(str(path), loaders.stamp(Path(path)), prefix="", max_input_len=128)
            fill = filler.answer([f"{title}. {masked}" if title else masked])[0][0].text
            cont = filler.answer(
                [
                    f"{title}. {' '.join(prefix_words)} <extra_id_0>"
                    if title
                    else f"{' '.join(prefix_words)} <extra_id_0>"
                ],
                max_new_tokens=64,
            )[0][0].text
            table.append(
                {
                    "model": name,
                    "fills the answer": fill,
                    "right": fill.strip().lower() == answer.strip().lower(),
                    "continues the sentence": cont,
                    "words restored": round(difflib.SequenceMatcher(None, cont.split(), rest.split()).ratio(), 2),
                }
            )
        frame = pd.DataFrame(table)
        st.caption(
            "Fill-in: the sentence (after its title, as SSM pretraining shows it) with the answer replaced by "
            "`<extra_id_0>`. Continuation: the title and the first four words, then `<extra_id_0>`; words "
            "restored is the share of the rest of the sentence the model writes back in order."
        )
        st.dataframe(frame, hide_index=True, width="stretch")
        downloads(f"restore_{qid}", frame)


def _masked(sentence: str, answer: str) -> str | None:
    at = sentence.lower().find(answer.lower())
    if at < 0 or not answer.strip():
        return None
    return f"{sentence[:at]}<extra_id_0>{sentence[at + len(answer) :]}"
