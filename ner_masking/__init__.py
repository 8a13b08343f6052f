"""Salient span masking for T5: spaCy annotation of salient spans, and masking policies.

Modules (import what you need; nothing here imports spaCy until a function needs it):
    labels          entity label sets (default: names and dates; numbers opt-in)
    component       the `salient_span_marker` spaCy component (needs spaCy)
    pipeline        the NER-only pipeline annotation runs
    annotate        `annotate_corpus(corpus, out_dir, AnnotateConfig)` -> resumable spans store
    store           `SpanDoc`, `load_span_store(dir, corpus_path=None)`, the store layout
    policies        `make_policy(name, **options)`, `PolicyConfig`, `MaskedExample`
    ssm, span_corruption, spans, masked   the policies and their helpers
    preview         sample a policy's examples from a store, as a rich table
"""
