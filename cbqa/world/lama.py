"""The toy world's facts as LAMA probe files (T-REx layout, one file per relation) and a relations.jsonl.

Each relation's cloze template is worded as no sentence of the corpus is ("[X] is a native of [Y] ." where the
corpus says "was born in", "grew up in", "birthplace is"...; tests/test_cloze.py checks it against the rendered
corpus): a model that fills it knows the fact, rather than recalls a sentence it was trained on. The evidence
sentences are the corpus's own sentences that name the subject, the answer masked, for `cbqa cloze --source evidence`: recall of a sentence.

Each line carries the subject's `split`: `train` (QA-train asks about the subject) or `held_out` (asked about only in
dev or test, or never: only pretraining can have put the fact in a model), and its QA `group` (train, dev, test).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cbqa.core.formats.lama import MASK, trex_row
from cbqa.world.facts import Fact
from cbqa.world.render import Mention

# relation -> (template, LAMA-style label, LAMA type)
LAMA_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "birth_date": ("The birth of [X] took place on [Y] .", "date of birth", "1-1"),
    "birthplace": ("[X] is a native of [Y] .", "place of birth", "N-1"),
    "residence": ("[X] resides in [Y] .", "residence", "N-1"),
    "employer": ("[X] is on the staff of [Y] .", "employer", "N-1"),
    "alma_mater": ("[X] holds a degree from [Y] .", "educated at", "N-1"),
    "occupation": ("The profession of [X] is [Y] .", "occupation", "N-1"),
    "founder": ("[X] was started by [Y] .", "founded by", "1-1"),
    "founding_year": ("[X] has existed since [Y] .", "inception", "N-1"),
    "headquarters": ("[X] has its seat in [Y] .", "headquarters location", "N-1"),
}
SPLITS = ("train", "held_out")


def subject_split(fact: Fact) -> str:
    return "train" if fact.group == "train" else "held_out"


def relations_rows() -> list[dict[str, Any]]:
    return [
        {"relation": name, "template": template, "label": label, "type": kind}
        for name, (template, label, kind) in LAMA_TEMPLATES.items()
    ]


def lama_rows(facts: tuple[Fact, ...], texts: dict[str, str], mentions: tuple[Mention, ...]) -> dict[str, list[dict]]:
    """relation -> T-REx-layout lines of its facts, in fact order. `texts`: document id -> text."""
    evidence = _evidence(texts, mentions)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in facts:
        found = evidence.get((f.subject_id, f.relation), [])
        # sentences that name the subject (not "Her birthplace is [MASK].", which asks about nobody in particular)
        sentences = [
            (f.subject, surface, sentence)
            for surface, sentence in found
            if surface in f.answers and f.subject in sentence
        ]
        extra: dict[str, Any] = {"sub_uri": f.subject_id, "split": subject_split(f), "group": f.group}
        if len(f.answers) > 1:
            extra["obj_aliases"] = list(f.answers[1:])
        out[f.relation].append(
            trex_row(f"{f.subject_id}-{f.relation}", f.relation, f.subject, f.answers[0], sentences, **extra)
        )
    return {r: out[r] for r in LAMA_TEMPLATES if r in out}


def _evidence(texts: dict[str, str], mentions: tuple[Mention, ...]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(subject id, relation) -> (answer as written, its sentence with the answer as [MASK]) for every mention of a
    fact in a document about its subject (ids `SUBJECT-k`); each masked sentence once."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for m in mentions:
        subject, dash, _ = m.doc_id.rpartition("-")
        if not dash:
            continue  # a town's article: it states other subjects' facts
        text = texts[m.doc_id]
        start = text.rfind(". ", 0, m.start) + 2 if text.rfind(". ", 0, m.start) >= 0 else 0
        end = text.find(". ", m.end)
        end = len(text) if end < 0 else end + 1
        masked = text[start : m.start] + MASK + text[m.end : end]
        pair = (m.text, masked)
        if pair not in out[(subject, m.relation)]:
            out[(subject, m.relation)].append(pair)
    return out
