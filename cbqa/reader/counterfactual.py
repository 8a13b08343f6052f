"""Does the reader read? The counterfactual entity swap (Longpre et al. 2021 call it a knowledge conflict).

For each question whose gold answer occurs in the passages the reader reads, and is a spaCy entity there, every
occurrence of every gold alias in those passages (text and title) is replaced by another entity of the same label
(and, where one exists, of the same number of words) drawn from the entities of all the passages read, one the
question's passages do not already hold. The reader then answers from the changed passages. A reader that reads
outputs the substitute; one that recalls what it memorised in training outputs the original answer.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.core.formats.jsonl import write_json
from cbqa.core.metrics import max_em, normalize_answer
from cbqa.reader.floor import PassageNER, strip_possessive
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of, retrieved_rows


@dataclass(frozen=True)
class Swap:
    id: str
    question: str
    answers: list[str]
    label: str
    substitute: str
    passages: list[Hit]  # the changed passages, best first

    def outcome(self, prediction: str) -> str:
        if max_em(prediction, [self.substitute]):
            return "substitute"
        return "original" if max_em(prediction, self.answers) else "other"


def _pattern(aliases: Sequence[str]) -> re.Pattern[str] | None:
    present = sorted({a for a in aliases if a.strip()}, key=len, reverse=True)
    if not present:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(a) for a in present) + r")(?!\w)")


def plan_swaps(rows: Sequence[dict[str, Any]], k: int, ner: PassageNER, seed: int = 0) -> tuple[list[Swap], Counter]:
    """The swaps of every row that has one, and why the others have none (`skipped` counts)."""
    rng = random.Random(seed)
    read = [hits_of(r)[:k] for r in rows]
    ner.annotate([h.text for hits in read for h in hits])
    pool: dict[str, dict[str, str]] = {}  # label -> normalised text -> surface text (first seen)
    for hits in read:
        for h in hits:
            for s, e, label, _ in ner.entities(h.text):
                name = strip_possessive(h.text[s:e])  # (a substitute without the "'s" spaCy may take into a name)
                pool.setdefault(label, {}).setdefault(normalize_answer(name), name)
    swaps, skipped = [], Counter()
    for r, hits in zip(rows, read):
        answers = [str(a) for a in r.get("answers") or []]
        pattern = _pattern(answers)
        if pattern is None or not any(pattern.search(h.text) for h in hits):
            skipped["answer not in the passages read"] += 1
            continue
        gold = {normalize_answer(a) for a in answers} - {""}
        label = next(
            (lab for h in hits for s, e, lab, _ in ner.entities(h.text) if normalize_answer(h.text[s:e]) in gold), None
        )
        if label is None:
            skipped["answer is not an entity there"] += 1
            continue
        context = " ".join(f" {normalize_answer(h.title)} {normalize_answer(h.text)} " for h in hits)
        candidates = [t for n, t in sorted(pool.get(label, {}).items()) if n not in gold and f" {n} " not in context]
        words = {len(a.split()) for a in answers}
        same_shape = [t for t in candidates if len(t.split()) in words]
        if not candidates:
            skipped["no other entity of its label"] += 1
            continue
        substitute = rng.choice(same_shape or candidates)
        changed = [Hit(h.id, pattern.sub(substitute, h.title), pattern.sub(substitute, h.text), h.score) for h in hits]
        swaps.append(Swap(str(r["id"]), str(r["question"]), answers, label, substitute, changed))
    return swaps, skipped


def run_counterfactual(
    model: str,
    retrieved: str | Path,
    out: str | Path,
    num_beams: int = 4,
    device: str = "auto",
    spacy_model: str | None = None,
    seed: int = 0,
    categories: dict[str, str] | None = None,
    examples: int = 20,
) -> dict[str, Any]:
    """Swap, read, and write the summary (and every case) as JSON to `out`; returns the summary."""
    from cbqa.reader.answering import Reader

    reader = Reader(model, device=device)
    rows = [r for _, r in retrieved_rows(retrieved)]
    swaps, skipped = plan_swaps(rows, reader.passages_read, PassageNER(spacy_model), seed)
    answers = reader.read([s.question for s in swaps], [s.passages for s in swaps], num_beams=num_beams)
    cases = [
        {
            "id": s.id,
            "question": s.question,
            "answers": s.answers,
            "label": s.label,
            "substitute": s.substitute,
            "prediction": a[0].text,
            "outcome": s.outcome(a[0].text),
            **({"category": categories.get(s.id)} if categories else {}),
        }
        for s, a in zip(swaps, answers)
    ]
    summary: dict[str, Any] = {
        "model": str(model),
        "retrieved": str(retrieved),
        "questions": len(rows),
        "swapped": len(cases),
        "skipped": dict(skipped),
        "passages_read": reader.passages_read,
        **_shares(cases),
    }
    by: dict[str, dict[str, Any]] = {}
    for key in ("label", "category") if categories else ("label",):
        by[key] = {
            v: _shares([c for c in cases if str(c.get(key)) == v]) for v in sorted({str(c.get(key)) for c in cases})
        }
    summary["by"] = by
    summary["cases"] = cases
    write_json(out, summary)
    return summary


def _shares(cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n = len(cases)
    counts = Counter(c["outcome"] for c in cases)
    return {
        "n": n,
        **{k: (round(100.0 * counts[k] / n, 1) if n else None) for k in ("substitute", "original", "other")},
    }
