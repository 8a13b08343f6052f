"""Fusion-in-Decoder training tasks: questions read over their retrieved passages.

- `reader`: a `cbqa retrieve` output (question, answers, top passages); the example is the question with its top-K
  passages (`--data.passages K`), target the first answer.
- `reading`: a `cbqa reader reading-examples` output (`cbqa.reading`): sentences of spans-store documents with the
  passages retrieved for them. Every epoch draws one salient span of the sentence afresh (seeded per epoch and item,
  as masked tasks do); the question is a cloze, `Title: the sentence with <extra_id_0> for the span`, and the target
  is the span. When another passage holds the span too, the passages holding the sentence itself are left out, so
  the reader has to find the fact in another wording (a paraphrase), not match the sentence it was asked about.
  Options (`policy_options`): `keep_source: true` always keeps them; `swap: P` (0 to 1, default 0): with probability
  P the span is replaced, in every passage shown and in the target, by another span of the same label from the
  reading file (one the passages shown do not hold) — counterfactual augmentation (Longpre et al. 2021, "Entity-Based
  Knowledge Conflicts in Question Answering"): a model that has stored the corpus (a reader started from an SSM
  model) can answer an unswapped cloze from memory, a swapped one only by reading.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from cbqa.errors import CbqaError, DataError
from cbqa.training.tasks import Example, TaskConfig
from retrieval_baseline.hits import Hit
from retrieval_baseline.reader import hits_of, retrieved_rows
from retrieval_baseline.reader_input import fid_inputs

SENTINEL = "<extra_id_0>"
READING_OPTIONS = frozenset({"keep_source", "swap"})


def reader_example(question: str, answers: Sequence[str], hits: Sequence[Hit], k: int) -> Example:
    """A question read over its top-k passages (answers may be empty for a question to answer)."""
    q = " ".join(question.split())
    answers = tuple(answers)
    return Example(f"question: {q}", answers[0] if answers else "", answers, tuple(fid_inputs(q, hits, k)))


class ReaderTask:
    """Questions with answers and retrieved passages (`cbqa retrieve --out`)."""

    def __init__(self, cfg: TaskConfig, passages: int) -> None:
        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'reader' needs 'file' (a `cbqa retrieve` output)")
        self.cfg, self.k, self.fallbacks = cfg, passages, 0
        self.items: list[tuple[str, tuple[str, ...], list[Hit]]] = []
        for line, row in retrieved_rows(cfg.file):
            if cfg.split is not None and row.get("split") != cfg.split:
                continue
            answers = row.get("answers")
            if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
                raise DataError(cfg.file, line, "'answers' must be a non-empty list of strings to train a reader on")
            self.items.append((str(row["question"]), tuple(answers), hits_of(row)))
        if not self.items:
            raise CbqaError(f"task {cfg.name!r}: no questions in {cfg.file}" + (f" with split {cfg.split!r}" if cfg.split else ""))

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        question, answers, hits = self.items[i]
        return reader_example(question, answers, hits, self.k)


class ReadingTask:
    """Cloze questions over spans-store sentences, read over the passages retrieved for each sentence."""

    def __init__(self, cfg: TaskConfig, passages: int) -> None:
        from cbqa.data.jsonl import read_jsonl

        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'reading' needs 'file' (a `cbqa reader reading-examples` output)")
        unknown = set(cfg.policy_options) - READING_OPTIONS
        if unknown:
            raise CbqaError(f"task {cfg.name!r}: unknown reading option(s) {sorted(unknown)} ({', '.join(READING_OPTIONS)})")
        self.cfg, self.k, self.fallbacks = cfg, passages, 0
        self.keep_source = bool(cfg.policy_options.get("keep_source", False))
        self.swap = cfg.policy_options.get("swap", 0.0)
        if not isinstance(self.swap, (int, float)) or not 0.0 <= self.swap <= 1.0:
            raise CbqaError(f"task {cfg.name!r}: reading option 'swap' must be a probability in [0, 1], got {self.swap!r}")
        self.items: list[tuple[str, str, list[tuple[int, int, str]], list[Hit]]] = []
        for line, row in read_jsonl(cfg.file):
            try:
                sentence, title = str(row["sentence"]), str(row.get("title") or "")
                spans = [(int(sp[0]), int(sp[1]), str(sp[2]) if len(sp) > 2 else "") for sp in row["spans"]]
                hits = [Hit.from_json(p) for p in row["passages"]]
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(cfg.file, line, f"not a reading example ({type(e).__name__}: {e}); expected "
                                "{sentence, title, spans: [[start, end, label], ...], passages: [...]}") from None  # fmt: skip
            if not spans or any(not 0 <= s < e <= len(sentence) for s, e, _ in spans):
                raise DataError(cfg.file, line, "'spans' must be non-empty [start, end] offsets into 'sentence'")
            self.items.append((title, sentence, spans, hits))
        if not self.items:
            raise CbqaError(f"task {cfg.name!r}: no reading examples in {cfg.file}")
        # Substitutes for `swap`: the distinct span texts of each label, in a fixed order.
        pool: dict[str, set[str]] = {}
        for _, sentence, spans, _ in self.items:
            for s, e, label in spans:
                pool.setdefault(label, set()).add(sentence[s:e])
        self.substitutes = {label: sorted(texts) for label, texts in pool.items()}

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        title, sentence, spans, hits = self.items[i]
        s, e, label = spans[rng.randrange(len(spans))]
        span = sentence[s:e]
        cloze = f"{sentence[:s]}{SENTINEL}{sentence[e:]}"
        question = f"{title}: {cloze}" if title else cloze
        shown = self.context(sentence, span, hits)[: self.k]
        if self.swap and rng.random() < self.swap:
            shown, span = swap_span(shown, span, self.substitutes.get(label, []), rng)
        return Example(f"question: {' '.join(question.split())}", span, (span,), tuple(fid_inputs(question, shown, self.k)))

    def context(self, sentence: str, span: str, hits: list[Hit]) -> list[Hit]:
        """The passages shown: without those holding the sentence itself when another one holds the span."""
        if self.keep_source:
            return hits
        others = [h for h in hits if sentence not in h.text]
        return others if any(span in h.text for h in others[: self.k]) else hits


def swap_span(hits: Sequence[Hit], span: str, candidates: Sequence[str], rng: random.Random,
              tries: int = 8) -> tuple[list[Hit], str]:  # fmt: skip
    """`hits` with every whole-word occurrence of `span` (text and title) replaced by a candidate that none of them
    holds, and that candidate; unchanged (and `span`) when no passage holds the span or no candidate fits."""
    pattern = re.compile(rf"(?<!\w){re.escape(span)}(?!\w)")
    if not candidates or not any(pattern.search(h.text) or pattern.search(h.title) for h in hits):
        return list(hits), span
    for _ in range(tries):
        sub = candidates[rng.randrange(len(candidates))]
        if sub != span and span not in sub and not any(sub in h.text or sub in h.title for h in hits):
            fill = lambda text: pattern.sub(lambda _m: sub, text)  # noqa: E731
            return [Hit(h.id, fill(h.title), fill(h.text), h.score) for h in hits], sub
    return list(hits), span


def build_passage_task(cfg: TaskConfig, passages: int) -> ReaderTask | ReadingTask:
    if passages < 1:
        raise CbqaError(f"task {cfg.name!r}: kind {cfg.kind!r} reads retrieved passages with Fusion-in-Decoder; "
                        "give --data.passages K (and --model.reader fid)")  # fmt: skip
    return (ReaderTask if cfg.kind == "reader" else ReadingTask)(cfg, passages)
