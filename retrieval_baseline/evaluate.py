"""Top-k answer recall (DPR's retrieval accuracy): the share of questions with an answer-bearing passage in the top k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import read_jsonl
from retrieval_baseline.has_answer import AnswerMatcher
from retrieval_baseline.hits import Hit

DEFAULT_KS: tuple[int, ...] = (1, 5, 20, 100)


@dataclass
class RetrievedQuestion:
    id: str
    question: str
    answers: list[str]
    passages: Sequence[Hit]  # a list, or the lazy `Hits` view a search returns
    flags: list[bool] | None = None  # has_answer per passage, filled in by `with_flags`

    def with_flags(self) -> RetrievedQuestion:
        if self.flags is None:
            self.flags = answer_flags(self.passages, self.answers)
        return self


@dataclass(frozen=True)
class RecallResult:
    name: str
    n: int
    depth: int  # most passages retrieved for any question; recall beyond it is not measured
    recall: dict[int, float | None]  # percent; None where k > depth
    overlap: float | None = None  # percent of the reference run's top-k ids also in this run's top-k

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "n": self.n,
            "depth": self.depth,
            "recall": {f"top{k}": v for k, v in self.recall.items()},
        }
        if self.overlap is not None:
            row["overlap"] = self.overlap
        return row


def answer_flags(passages: Sequence[Hit | str], answers: Sequence[str]) -> list[bool]:
    """Per passage (best first): does it contain an answer (DPR has_answer on the passage text)?"""
    match = AnswerMatcher(answers)
    return [match(p.text if isinstance(p, Hit) else p) for p in passages]


def first_hit_ranks(retrieved: Sequence[Sequence[Hit | str]], answers: Sequence[Sequence[str]]) -> list[int | None]:
    """1-based rank of the first answer-bearing passage per question (None: none retrieved)."""
    if len(retrieved) != len(answers):
        raise ValueError(f"{len(retrieved)} retrieval lists but {len(answers)} answer lists")
    ranks: list[int | None] = []
    for passages, golds in zip(retrieved, answers):
        flags = answer_flags(passages, golds)
        ranks.append(flags.index(True) + 1 if True in flags else None)
    return ranks


def recall_at_k(
    retrieved: Sequence[Sequence[Hit | str]], answers: Sequence[Sequence[str]], ks: Sequence[int] = DEFAULT_KS
) -> dict[int, float]:
    """Percent of questions whose top-k passages (Hits or passage texts) contain an answer, for each k."""
    return _recall(first_hit_ranks(retrieved, answers), ks)


def _recall(ranks: Sequence[int | None], ks: Sequence[int]) -> dict[int, float]:
    n = max(len(ranks), 1)
    return {k: 100.0 * sum(r is not None and r <= k for r in ranks) / n for k in ks}


def evaluate(name: str, questions: Sequence[RetrievedQuestion], ks: Sequence[int] = DEFAULT_KS) -> RecallResult:
    depth = max((len(q.passages) for q in questions), default=0)
    measured = [k for k in ks if k <= depth]
    flags = [q.with_flags().flags or [] for q in questions]
    rec = _recall([f.index(True) + 1 if True in f else None for f in flags], measured)
    return RecallResult(name, len(questions), depth, {k: rec.get(k) for k in ks})


def topk_overlap(run: Sequence[RetrievedQuestion], reference: Sequence[RetrievedQuestion], k: int) -> float:
    """Mean |top-k(run) & top-k(reference)| / k over questions, in percent: how well an approximate index
    (IVF / HNSW / PQ) reproduces exact (flat) search. Questions are matched by id."""
    ref = {q.id: q for q in reference}
    missing = [q.id for q in run if q.id not in ref]
    if missing or len(run) != len(ref):
        raise CbqaError(
            f"runs hold different questions ({len(run)} vs {len(ref)}; e.g. {missing[:3]} not in the reference)"
        )
    if not run:
        return 0.0
    total = 0.0
    for q in run:
        want = {h.id for h in ref[q.id].passages[:k]}
        total += len(want & {h.id for h in q.passages[:k]}) / max(len(want), 1)
    return 100.0 * total / len(run)


def read_retrieved(path: str | Path) -> list[RetrievedQuestion]:
    """Read `cbqa retrieve` output: one row per question with `answers` and `passages` [{id,title,text,score}]."""
    out = []
    for line, obj in read_jsonl(path):
        answers, passages = obj.get("answers", obj.get("answer")), obj.get("passages", obj.get("ctxs"))
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DataError(path, line, "'answers' must be a list of strings")
        if not isinstance(passages, list):
            raise DataError(path, line, "'passages' must be a list of {id, title, text, score}")
        try:
            hits = [Hit.from_json(p) for p in passages]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(path, line, "each passage needs at least 'id' and 'text'") from None
        out.append(RetrievedQuestion(str(obj.get("id", line)), str(obj.get("question", "")), answers, hits))
    return out


def recall_table(results: Sequence[RecallResult], ks: Sequence[int] = DEFAULT_KS, overlap_label: str | None = None):
    from rich.table import Table

    table = Table(title="Top-k answer recall (%)")
    table.add_column("retriever")
    table.add_column("questions", justify="right")
    for k in ks:
        table.add_column(f"top-{k}", justify="right")
    if overlap_label:
        table.add_column(overlap_label, justify="right")
    for r in results:
        cells = ["—" if r.recall.get(k) is None else f"{r.recall[k]:.1f}" for k in ks]
        if overlap_label:
            cells.append("—" if r.overlap is None else f"{r.overlap:.1f}")
        table.add_row(r.name, str(r.n), *cells)
    return table
