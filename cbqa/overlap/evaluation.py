"""EM / F1 of one or more systems, overall and per overlap category.

Joining rules (documented in docs/overlap.md):
- With gold QA examples, predictions join to gold by `id`. A prediction id absent from gold is an error.
  Gold questions without a prediction are an error unless `allow_missing`, in which case the missing
  ones are left out and the coverage is reported (`n` counts scored questions only).
- Without gold, every prediction must carry its own `answers`.
- Overlap label rows join by `id`; every scored question must have a row.
- Systems are compared on the same questions: systems that scored different question sets are refused, unless
  `shared_only`, which scores each on the questions they all answered (and says so: `n` in every entry).

Answers are compared after a normaliser (`cbqa.core.metrics`: squad, the default, or triviaqa), and every entry of
the result says which one made it (`normaliser`), so a results file is never read with the wrong one in mind.

For a system whose predictions carry the passages it read (readers and the extractive floor: `passages`, `read`),
each entry also says where its exact matches come from (`cbqa.reader.copying.copy_breakdown`): `em_copied` and
`em_not_in_passages` (EM points) and `copied_share` (percent of its EM copied from the passages read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import read_jsonl
from cbqa.core.formats.predictions import Prediction, read_predictions
from cbqa.core.formats.qa import QAExample
from cbqa.core.metrics import DEFAULT_NORMALISER, score
from cbqa.overlap.categories import LABELS, TOTAL
from cbqa.reader.copying import copy_breakdown, passages_read

Result = dict[str, dict[str, dict[str, float | int | str | None]]]  # system -> category -> {em, f1, n, normaliser}


@dataclass(frozen=True)
class Coverage:
    scored: int
    gold: int


def load_predictions(path: str | Path, need_answers: bool) -> list[Prediction]:
    """Read a predictions file; with `need_answers`, a row without `answers` is an error naming its line."""
    preds = read_predictions(path)
    if need_answers:
        missing = {p.id for p in preds if p.answers is None}
        if missing:
            line = next(line for line, obj in read_jsonl(path) if str(obj.get("id")) in missing)
            raise DataError(path, line, "no 'answers' in this prediction; pass --gold FILE to score against a gold set")
    return preds


def _gold_answers(
    system: str, preds: Sequence[Prediction], gold: Sequence[QAExample] | None, allow_missing: bool
) -> tuple[list[Prediction], list[list[str]], Coverage]:
    if gold is None:
        if any(p.answers is None for p in preds):
            bad = next(p.id for p in preds if p.answers is None)
            raise CbqaError(f"{system}: prediction {bad!r} has no 'answers' and no gold set was given")
        return list(preds), [list(p.answers or []) for p in preds], Coverage(len(preds), len(preds))
    gold_by_id = {g.id: g for g in gold}
    unknown = [p.id for p in preds if p.id not in gold_by_id]
    if unknown:
        raise CbqaError(
            f"{system}: {len(unknown)} prediction id(s) not in the gold set, e.g. {unknown[0]!r}; "
            "are predictions and gold from the same file?"
        )
    by_id = {p.id: p for p in preds}
    missing = [g.id for g in gold if g.id not in by_id]
    if missing and not allow_missing:
        raise CbqaError(
            f"{system}: {len(missing)} of {len(gold)} gold questions have no prediction, e.g. {missing[0]!r} "
            "(use --allow-missing to score only the predicted ones)"
        )
    kept = [by_id[g.id] for g in gold if g.id in by_id]  # gold order
    return kept, [gold_by_id[p.id].answers for p in kept], Coverage(len(kept), len(gold))


def _labels_by_id(overlap_labels: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in overlap_labels:
        # A row's single `category` (e.g. no_overlap, which Lewis et al.'s label lists lack) counts as a label too.
        out[str(row["id"])] = set(row.get("labels", ())) | ({row["category"]} if row.get("category") else set())
    return out


def _entry(
    preds: Sequence[str],
    golds: Sequence[Sequence[str]],
    passages: Sequence[Sequence[str]] | None = None,
    normaliser: str = DEFAULT_NORMALISER,
) -> dict[str, float | int | str | None]:
    if not preds:
        return {"em": None, "f1": None, "n": 0, "normaliser": normaliser}
    entry: dict[str, float | int | str | None] = dict(score(preds, golds, normaliser).to_json())
    entry["normaliser"] = normaliser
    if passages is not None:
        entry.update(copy_breakdown(preds, golds, passages, normaliser))
    return entry


def _passages(preds: Sequence[Prediction]) -> list[list[str]] | None:
    """The passages each prediction was read from, when every prediction of the system says."""
    read = [passages_read(p.extra) for p in preds]
    return None if not read or any(r is None for r in read) else read  # type: ignore[return-value]


def evaluate_systems(
    preds_by_system: Mapping[str, Sequence[Prediction]],
    gold: Sequence[QAExample] | None = None,
    overlap_labels: Sequence[Mapping[str, Any]] | None = None,
    allow_missing: bool = False,
    normaliser: str = DEFAULT_NORMALISER,
    shared_only: bool = False,
) -> Result:
    """{system: {category: {"em", "f1", "n", "normaliser"}}} in percent; categories are `total` alone without
    labels. `normaliser`: squad | triviaqa (`cbqa.core.metrics`). Systems over different question sets are refused
    unless `shared_only` (each is then scored on the questions all of them answered)."""
    labels = _labels_by_id(overlap_labels) if overlap_labels is not None else None
    joined = {s: _gold_answers(s, p, gold, allow_missing) for s, p in preds_by_system.items()}
    shared = _shared_questions({s: [p.id for p in kept] for s, (kept, _, _) in joined.items()}, shared_only)
    result: Result = {}
    for system, (kept, golds, _) in joined.items():
        if shared is not None:
            keep = [i for i, p in enumerate(kept) if p.id in shared]
            kept, golds = [kept[i] for i in keep], [golds[i] for i in keep]
        passages = _passages(kept)
        if labels is None:
            result[system] = {TOTAL: _entry([p.prediction for p in kept], golds, passages, normaliser)}
            continue
        unlabelled = [p.id for p in kept if p.id not in labels]
        if unlabelled:
            raise CbqaError(
                f"{system}: {len(unlabelled)} scored question(s) have no overlap label row, e.g. {unlabelled[0]!r}"
            )
        per: dict[str, dict[str, float | int | None]] = {}
        for category in LABELS:
            # `total` is every scored question even if a labels file omits the label.
            sel = [i for i, p in enumerate(kept) if category == TOTAL or category in labels[p.id]]
            per[category] = _entry(
                [kept[i].prediction for i in sel],
                [golds[i] for i in sel],
                None if passages is None else [passages[i] for i in sel],
                normaliser,
            )
        result[system] = per
    return result


def _shared_questions(ids: Mapping[str, Sequence[str]], shared_only: bool) -> set[str] | None:
    """None when every system scored the same questions; else the questions they share (`shared_only`), or an error
    saying how the sets differ."""
    sets = {s: set(v) for s, v in ids.items()}
    if len({frozenset(v) for v in sets.values()}) <= 1:
        return None
    shared = set.intersection(*sets.values())
    if not shared_only:
        sizes = ", ".join(f"{s}: {len(v)}" for s, v in sets.items())
        raise CbqaError(
            f"the systems answered different questions ({sizes}; {len(shared)} in common): scores over different "
            "questions are not comparable; pass --allow-different-questions to score each on the shared ones"
        )
    return shared


def coverage(
    preds_by_system: Mapping[str, Sequence[Prediction]], gold: Sequence[QAExample] | None, allow_missing: bool
) -> dict[str, Coverage]:
    return {s: _gold_answers(s, p, gold, allow_missing)[2] for s, p in preds_by_system.items()}
