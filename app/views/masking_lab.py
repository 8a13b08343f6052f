"""Masking lab: paste text, see its salient spans, and the T5 (input, target) each masking policy makes of it."""

from __future__ import annotations

import random

import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.context import AppContext
from cbqa_app.render import entity_html, reported

SAMPLE = (
    "Matthew Collins founded Winham Laboratories in 1984. The company has its headquarters in Hartmouth, "
    "and Collins studied at Millmoor University before he moved to Glenford."
)
MAX_CHARS = 20_000  # one paragraph or a few; the lab annotates synchronously


def render(ctx: AppContext) -> None:
    st.header("Masking lab")
    from ner_masking.pipeline import DEFAULT_SPACY_MODEL
    from ner_masking.policies import POLICY_NAMES

    text = st.text_area("Text", value=SAMPLE, height=140, key="mask_text")
    c1, c2, c3 = st.columns([3, 2, 1])
    policies = c1.multiselect(
        "Masking policies", list(POLICY_NAMES), default=["ssm", "span_corruption"], key="mask_policies"
    )
    model = c2.text_input("spaCy pipeline", value=DEFAULT_SPACY_MODEL, key="mask_spacy")
    seed = int(c3.number_input("Seed", min_value=0, value=0, step=1, key="mask_seed"))
    labels_text = st.text_input(
        "Labels (comma-separated, e.g. DATE or PERSON,GPE): the spans typed_ssm masks; also limits ssm and ssm_all",
        value="",
        key="mask_labels",
    )
    labels = [x.strip().upper() for x in labels_text.split(",") if x.strip()]
    if not text.strip():
        st.info("Paste some text above.")
        return
    if len(text) > MAX_CHARS:
        st.warning(
            f"The text is {len(text):,} characters long; the lab takes at most {MAX_CHARS:,}. "
            "Use `cbqa ner` and `cbqa mask` for whole corpora."
        )
        return
    with reported(f"spaCy pipeline {model}"):
        from ner_masking.pipeline import doc_to_span_doc

        nlp = loaders.spacy_pipeline(model.strip())
        span_doc = doc_to_span_doc(nlp(text), "pasted")
        st.subheader("Salient spans")
        st.markdown(entity_html(span_doc.text, span_doc.spans), unsafe_allow_html=True)
        if span_doc.spans:
            st.dataframe(
                pd.DataFrame(
                    [{"span": span_doc.text[s:e], "label": lab, "start": s, "end": e} for s, e, lab in span_doc.spans]
                ),
                hide_index=True,
                width="stretch",
            )
        else:
            st.info("The pipeline found no salient span in this text: SSM policies have nothing to mask.")
        st.subheader("T5 input and target per policy")
        if not policies:
            st.info("Choose at least one masking policy.")
        for name in policies:
            with reported(f"Policy {name}"):
                _show_policy(name, span_doc, seed, labels)


def _show_policy(name: str, span_doc, seed: int, labels: list[str]) -> None:
    from ner_masking.policies import make_policy, policy_options

    st.markdown(f"**{name}**")
    takes_labels = "labels" in policy_options(name)
    if name == "typed_ssm" and not labels:
        st.info("typed_ssm masks only the labels you choose: type them in the Labels field above (e.g. DATE).")
        return
    options = {"labels": labels} if labels and takes_labels else {}
    example = make_policy(name, **options)(span_doc, random.Random(seed))
    if example is None:
        with_labels = f" with labels {', '.join(labels)}" if options else ""
        st.info(f"{name}: nothing to mask in this text{with_labels}.")
        return
    if name == "mixture":
        st.caption(f"this example was drawn from the mixture's component **{example.policy}** (seed {seed})")
    left, right = st.columns([3, 2])
    left.caption("input")
    left.code(example.input_text, language=None, wrap_lines=True)
    right.caption(f"target{f' (masked {example.label})' if example.label else ''}")
    right.code(example.target_text, language=None, wrap_lines=True)
