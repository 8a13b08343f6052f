"""Fill-in: exact match of masked salient spans, the probe of what a model stored from its corpus (`cbqa fill-in`
and the training callback `cbqa.memorisation.curves.KnowledgeCurve`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from cbqa.core.errors import CbqaError

DEFAULT_POLICY = "ssm_title_sentence"  # the demo's SSM recipe (ner_masking.policies.PRESETS)


def fill_in_items(
    docs: Sequence[Any], n: int, seed: int, policy_name: str = DEFAULT_POLICY, options: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(input, span) for every candidate span of `docs` under an SSM policy (or preset) with `options`; `n` of them,
    sampled."""
    from ner_masking.masked import unmask
    from ner_masking.policies import make_policy
    from ner_masking.spans import candidate_spans
    from ner_masking.ssm import SSM
    from ner_masking.store import SpanDoc

    policy = make_policy(policy_name, **(options or {}))
    if not isinstance(policy, SSM):
        raise CbqaError(f"fill-in needs an SSM policy (one masked span per example), not {policy_name!r}")
    items = []
    for doc in docs:
        for span in candidate_spans(doc, policy.labels, policy.exclude_labels):
            # A one-span copy of the document makes the policy mask exactly this span (title filter still applies).
            ex = policy(SpanDoc(doc.id, doc.text, doc.sentences, [span], doc.title), random.Random(seed))
            if ex is not None:
                items.append((ex.input_text, unmask(ex.target_text)))
    random.Random(seed).shuffle(items)
    return items[:n]


def exact_match_percent(predictions: Sequence[str], items: Sequence[tuple[str, str]]) -> float:
    from cbqa.core.metrics import max_em

    if not items:
        return 0.0
    return 100.0 * sum(max_em(p, [gold]) for p, (_, gold) in zip(predictions, items, strict=True)) / len(items)


def qa_subjects(path: str) -> set[str]:
    """The `subject`s of a QA-train file (the toy world's rows have one): documents titled otherwise are held out."""
    from cbqa.core.formats.jsonl import read_jsonl

    subjects = set()
    for line_no, row in read_jsonl(path):
        if not row.get("subject"):
            raise CbqaError(f"{path}:{line_no}: row has no 'subject' (needed to split documents by QA-train subject)")
        subjects.add(row["subject"])
    return subjects
