"""Fusion-in-Decoder training tasks: questions read over their retrieved passages.

- `reader`: a `cbqa retrieve` output (question, answers, top passages); the example is the question with its top-K
  passages (`--data.reader.passages K`), target the first answer. Option `swap: P`: with probability P the answer is
  replaced, in the passages shown and in the target, by the answer of another training question of the same kind
  (`answer_kind`: "which town", "what year", "who", and digits or not) that no passage shown holds. A few hundred questions then give a fresh reading example at every draw instead of a few
  hundred answers to memorise; a reader started from a closed-book model cannot answer a swapped one from memory.
  Option `draw_from: N` (N > K): the K passages are drawn afresh at each draw from the question's top N, kept in rank
  order, so a question is read over other paraphrases of its fact (and sometimes without it) from one draw to the next.
- `reading`: a `cbqa reader reading-examples` output (`cbqa.reader.reading_examples`): sentences of spans-store documents with the
  passages retrieved for them. Every epoch draws one salient span of the sentence afresh (seeded per epoch and item,
  as masked tasks do); the question is a cloze, `Title: the sentence with <extra_id_0> for the span`, and the target
  is the span. When another passage holds the span too, the passages holding the sentence itself are left out, so
  the reader has to find the fact in another wording (a paraphrase), not match the sentence it was asked about.
  Options (`policy_options`): `keep_source: true` always keeps them; `swap: P` (0 to 1, default 0): with probability
  P the span is replaced, in every passage shown and in the target, by another span of the same label from the
  reading file (one the passages shown do not hold) — counterfactual augmentation (Longpre et al. 2021, "Entity-Based
  Knowledge Conflicts in Question Answering"): a model that has stored the corpus (a reader started from an SSM
  model) can answer an unswapped cloze from memory, a swapped one only by reading.

Both tasks take an `Anonymiser` (`--data.reader.anonymise true`, `cbqa.reader.anonymise`): every spaCy entity of the passages shown,
and its mentions in the question, becomes a placeholder numbered for each draw (`<extra_id_7>`; `anonymise_numbering`), and so does the target
when it is one of them: the reader learns where an answer sits, not which strings are answers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.reader.anonymise import Anonymiser
from cbqa.reader.inputs import fid_inputs
from cbqa.training.tasks import Example, TaskConfig
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of, retrieved_rows

SENTINEL = "<extra_id_0>"
READING_OPTIONS = frozenset({"keep_source", "swap", "novel"})


def reader_example(
    question: str,
    answers: Sequence[str],
    hits: Sequence[Hit],
    k: int,
    anonymiser: Anonymiser | None = None,
    rng: random.Random | None = None,
) -> Example:
    """A question read over its top-k passages (answers may be empty for a question to answer); with `anonymiser`,
    its entities replaced by placeholders numbered by `rng`, the answers given as the reader should write them."""
    q = " ".join(question.split())
    answers = tuple(answers)
    if anonymiser is not None:
        a = anonymiser(q, hits[:k], rng or random.Random(0))
        q, hits, answers = a.question, a.hits, a.answers(answers) if answers else answers
    return Example(f"question: {q}", answers[0] if answers else "", answers, tuple(fid_inputs(q, hits, k)))


class ReaderTask:
    """Questions with answers and retrieved passages (`cbqa retrieve --out`)."""

    def __init__(self, cfg: TaskConfig, passages: int, anonymiser: Anonymiser | None = None) -> None:
        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'reader' needs 'file' (a `cbqa retrieve` output)")
        unknown = set(cfg.policy_options) - {"swap", "novel", "draw_from"}
        if unknown:
            raise CbqaError(f"task {cfg.name!r}: unknown reader option(s) {sorted(unknown)} (swap, novel, draw_from)")
        self.cfg, self.k, self.fallbacks = cfg, passages, 0
        draw_from = cfg.policy_options.get("draw_from", passages)
        if isinstance(draw_from, bool) or not isinstance(draw_from, int) or draw_from < passages:
            raise CbqaError(
                f"task {cfg.name!r}: option 'draw_from' must be an integer >= --data.reader.passages ({passages}), got {draw_from!r}"
            )
        self.draw_from = draw_from
        self.swap = _probability(cfg, cfg.policy_options.get("swap", 0.0))
        self.novel = bool(cfg.policy_options.get("novel", False))
        self.items: list[tuple[str, tuple[str, ...], list[Hit]]] = []
        for line, row in retrieved_rows(cfg.file):
            if cfg.split is not None and row.get("split") != cfg.split:
                continue
            answers = row.get("answers")
            if (
                not isinstance(answers, list)
                or not answers
                or not all(isinstance(a, str) and a.strip() for a in answers)
            ):
                raise DataError(cfg.file, line, "'answers' must be a non-empty list of strings to train a reader on")
            self.items.append((str(row["question"]), tuple(answers), hits_of(row)))
        if not self.items:
            raise CbqaError(
                f"task {cfg.name!r}: no questions in {cfg.file}" + (f" with split {cfg.split!r}" if cfg.split else "")
            )
        self.kinds = [answer_kind(question, answers[0]) for question, answers, _ in self.items]
        groups: dict[str, set[str]] = {}
        for kind, (_, answers, _) in zip(self.kinds, self.items):
            groups.setdefault(kind, set()).add(answers[0])
        self.substitutes = {kind: sorted(texts) for kind, texts in groups.items()}
        self.anonymiser = anonymiser
        if anonymiser is not None:  # spaCy over every passage shown, once, before any draw
            anonymiser.annotate([h for _, _, hits in self.items for h in hits[: self.draw_from]])

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        question, answers, hits = self.items[i]
        if self.draw_from > self.k and len(hits) > self.k:
            hits = [hits[j] for j in sorted(rng.sample(range(min(self.draw_from, len(hits))), self.k))]
        if self.swap and rng.random() < self.swap:
            pool = self.substitutes[self.kinds[i]]
            shown, sub = swap_span(hits[: self.k], answers[0], pool, rng, novel=self.novel)
            if sub != answers[0]:
                return reader_example(question, (sub,), shown, self.k, self.anonymiser, rng)
        return reader_example(question, answers, hits, self.k, self.anonymiser, rng)


def question_kind(question: str) -> str:
    """What a question asks for, roughly: its first wh-word, with the word after it for which/what/how ("which town",
    "what year", "who"); the first two words when it has none."""
    words = _WORDS.findall(question.lower())
    for i, word in enumerate(words):
        if word in _WH:
            return " ".join(words[i : i + 2]) if word in ("which", "what", "how") else word
    return " ".join(words[:2])


def answer_kind(question: str, answer: str) -> str:
    """The substitutes' group of a training answer: its question's kind, and whether it holds digits (a date or a
    year vs a name, for kinds as loose as "what is")."""
    return f"{question_kind(question)}|{any(c.isdigit() for c in answer)}"


_WORDS = re.compile(r"\w+")
_WH = frozenset({"who", "whom", "whose", "what", "which", "where", "when", "how", "why"})


def _probability(cfg: TaskConfig, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise CbqaError(f"task {cfg.name!r}: option 'swap' must be a probability in [0, 1], got {value!r}")
    return float(value)


class ReadingTask:
    """Cloze questions over spans-store sentences, read over the passages retrieved for each sentence."""

    def __init__(self, cfg: TaskConfig, passages: int, anonymiser: Anonymiser | None = None) -> None:
        from cbqa.core.formats.jsonl import read_jsonl

        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'reading' needs 'file' (a `cbqa reader reading-examples` output)")
        unknown = set(cfg.policy_options) - READING_OPTIONS
        if unknown:
            raise CbqaError(
                f"task {cfg.name!r}: unknown reading option(s) {sorted(unknown)} ({', '.join(READING_OPTIONS)})"
            )
        self.cfg, self.k, self.fallbacks = cfg, passages, 0
        self.keep_source = bool(cfg.policy_options.get("keep_source", False))
        self.swap = _probability(cfg, cfg.policy_options.get("swap", 0.0))
        self.novel = bool(cfg.policy_options.get("novel", False))
        self.items: list[tuple[str, str, list[tuple[int, int, str]], list[Hit]]] = []
        for line, row in read_jsonl(cfg.file):
            try:
                sentence, title = str(row["sentence"]), str(row.get("title") or "")
                spans = [(int(sp[0]), int(sp[1]), str(sp[2]) if len(sp) > 2 else "") for sp in row["spans"]]
                hits = [Hit.from_json(p) for p in row["passages"]]
            except (KeyError, TypeError, ValueError) as e:
                raise DataError(
                    cfg.file,
                    line,
                    f"not a reading example ({type(e).__name__}: {e}); expected "
                    "{sentence, title, spans: [[start, end, label], ...], passages: [...]}",
                ) from None
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
        self.anonymiser = anonymiser
        if anonymiser is not None:
            anonymiser.annotate([h for _, _, _, hits in self.items for h in hits])

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
            shown, span = swap_span(shown, span, self.substitutes.get(label, []), rng, novel=self.novel)
        return reader_example(question, (span,), shown, self.k, self.anonymiser, rng)

    def context(self, sentence: str, span: str, hits: list[Hit]) -> list[Hit]:
        """The passages shown: without those holding the sentence itself when another one holds the span."""
        if self.keep_source:
            return hits
        others = [h for h in hits if sentence not in h.text]
        return others if any(span in h.text for h in others[: self.k]) else hits


def swap_span(
    hits: Sequence[Hit], span: str, candidates: Sequence[str], rng: random.Random, tries: int = 8, novel: bool = False
) -> tuple[list[Hit], str]:
    """`hits` with every whole-word occurrence of `span` (text and title) replaced by a candidate that none of them
    holds, and that candidate; unchanged (and `span`) when no passage holds the span or no candidate fits.
    `novel`: the substitute is a new string made from the candidates (`novel_entity`), not one of them."""
    pattern = re.compile(rf"(?<!\w){re.escape(span)}(?!\w)")
    if not candidates or not any(pattern.search(h.text) or pattern.search(h.title) for h in hits):
        return list(hits), span
    for _ in range(tries):
        sub = novel_entity(span, candidates, rng) if novel else candidates[rng.randrange(len(candidates))]
        if sub != span and span not in sub and not any(sub in h.text or sub in h.title for h in hits):
            fill = lambda text: pattern.sub(lambda _m: sub, text)  # noqa: B023 (called within this iteration)
            return [Hit(h.id, fill(h.title), fill(h.text), h.score) for h in hits], sub
    return list(hits), span


def build_passage_task(
    cfg: TaskConfig, passages: int, anonymiser: Anonymiser | None = None
) -> ReaderTask | ReadingTask:
    if passages < 1:
        raise CbqaError(
            f"task {cfg.name!r}: kind {cfg.kind!r} reads retrieved passages with Fusion-in-Decoder; "
            "give --data.reader.passages K (`cbqa reader finetune`)"
        )
    return (ReaderTask if cfg.kind == "reader" else ReadingTask)(cfg, passages, anonymiser)


def novel_entity(span: str, candidates: Sequence[str], rng: random.Random) -> str:
    """A new entity string shaped like `span`: each word taken from the same position of a random candidate with as
    many words (a capitalised word sometimes spliced from two of them: "Hart" + "bridge"), each digit random.

    Substitutes drawn from a fixed pool let a reader get away with choosing among a few hundred strings it has seen
    as targets; a string it has never seen can only be produced by copying it from the passages."""
    words = span.split()
    shaped = [c.split() for c in candidates if len(c.split()) == len(words)] or [words]
    out = []
    for i, word in enumerate(words):
        if any(ch.isdigit() for ch in word):
            out.append(
                "".join(str(rng.randrange(1 if j == 0 else 0, 10)) if ch.isdigit() else ch for j, ch in enumerate(word))
            )
            continue
        a, b = shaped[rng.randrange(len(shaped))][i], shaped[rng.randrange(len(shaped))][i]
        if len(a) >= 4 and len(b) >= 4 and a[:1].isupper() and rng.random() < 0.5:
            a = a[: rng.randrange(2, len(a) - 1)] + b[rng.randrange(2, len(b) - 1) :]
        out.append(a)
    return " ".join(out)
