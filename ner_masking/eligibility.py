"""Which documents of a spans store a masking policy can mask, from the store's per-document columns with numpy.

A salient-span policy needs a span of one of its candidate labels (its `labels`, default every stored label, minus
`exclude_labels`): one AND over the `label_mask` column. Span corruption needs two words of text (`n_words`). A
mixture takes the union of its components. With `title: true`, SSM counts only spans the title does not show (the
store's `untitled_mask`), so for the built-in policies this is exactly the set of documents they can mask; the
training task still steps over a document a policy returns nothing for (and counts it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ner_masking.span_corruption import SpanCorruption
from ner_masking.ssm import SSM, SSMT5CBQA, SSMAll
from ner_masking.store import ShardView, SpanStore


def _candidate_labels(policy: SSM | SSMAll | SSMT5CBQA, store: SpanStore) -> list[str]:
    labels = store.labels if policy.labels is None else [lab for lab in store.labels if lab in policy.labels]
    return [lab for lab in labels if lab not in policy.exclude_labels]


class _Columns:
    """The store columns a policy's test needs, each read once (memory-mapped shards, 8 bytes per document)."""

    def __init__(self, store: SpanStore) -> None:
        self.store = store
        self._cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name == "store":
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = getattr(self.store, name)()
        return self._cache[name]


def eligible_mask(policy: Any, columns: _Columns) -> np.ndarray:
    """Boolean per document: can `policy` possibly mask it?"""
    from ner_masking.policies import Mixture

    store = columns.store
    if isinstance(policy, (SSM, SSMAll, SSMT5CBQA)):
        bits = np.uint64(store.mask_of(_candidate_labels(policy, store)))
        masks = columns.untitled_mask if policy.title else columns.label_mask  # with a title, only spans it hides
        return (masks & bits) != 0
    if isinstance(policy, SpanCorruption):
        return columns.n_words >= 2
    if isinstance(policy, Mixture):
        out = np.zeros(len(store), dtype=bool)
        for component in policy.policies:
            out |= eligible_mask(component, columns)
        return out
    return columns.n_words >= 1  # an unknown policy: every document with text, checked at run time


def eligible_rows(policy: Any, store: SpanStore) -> np.ndarray:
    """Store rows `policy` can mask, as the smallest integer array that holds them (int32 below 2**31 rows)."""
    rows = np.flatnonzero(eligible_mask(policy, _Columns(store)))
    return rows.astype(np.int32 if len(store) < 2**31 else np.int64)


def span_counts(policy: SSMT5CBQA, store: SpanStore) -> np.ndarray:
    """Candidate spans per document for a per-span policy (`ssm_t5cbqa`): the length of `policy.spans(doc)` for every
    row, from the shards' span columns with numpy (a cumulative sum over the spans, no Python pass)."""
    parts = []
    for path in store.shard_paths:
        view = ShardView(path)
        wanted = set(_candidate_labels(policy, store))
        codes = np.array([i for i, lab in enumerate(view.labels) if lab in wanted], dtype=view.span_label.dtype)
        hit = np.isin(view.span_label, codes) & (view.span_end > view.span_start)
        cum = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
        offsets = np.asarray(view.span_offsets, dtype=np.int64)
        parts.append(cum[offsets[1:]] - cum[offsets[:-1]])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
