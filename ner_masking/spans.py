"""Span and sentence look-ups shared by the salient span policies."""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Iterable, Sequence

from ner_masking.labels import expand_labels
from ner_masking.store import SpanDoc

_WORD = re.compile(r"\S+")

# A tokenizer as policies see it: text -> [(start, end), ...] character offsets of its tokens, no special tokens.
Tokenize = Callable[[str], list[tuple[int, int]]]


def label_filter(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """Normalise a labels option from YAML (list) or the CLI ("DATE,GPE" or a group name)."""
    if value is None:
        return None
    return expand_labels([value] if isinstance(value, str) else value)


def candidate_spans(
    doc: SpanDoc, labels: tuple[str, ...] | None, exclude: tuple[str, ...]
) -> list[tuple[int, int, str]]:
    return [s for s in doc.spans if s[1] > s[0] and (labels is None or s[2] in labels) and s[2] not in exclude]


def sentence_bounds(doc: SpanDoc, start: int, end: int) -> tuple[int, int]:
    """Characters of the sentence(s) holding [start, end); all the text if the doc has no sentences."""
    if not doc.sentences:
        return 0, len(doc.text)
    i, j = sentence_index(doc, start), sentence_index(doc, end - 1)
    lo = doc.sentences[i][0] if i >= 0 else start
    hi = doc.sentences[j][1] if j >= 0 else end
    return min(lo, start), max(hi, end)


def sentence_index(doc: SpanDoc, start: int) -> int:
    """Index of the sentence a character belongs to (-1 outside every sentence)."""
    i = bisect.bisect_right([s for s, _ in doc.sentences], start) - 1
    return i if i >= 0 and doc.sentences[i][1] > start else -1


def word_offsets(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def budget_window(
    text: str,
    start: int,
    end: int,
    budget: int,
    unit: str,
    rng: random.Random,
    units: Sequence[tuple[int, int]] | None = None,
) -> tuple[int, int]:
    """A window of whole words around [start, end) holding at most `budget` words or characters
    (more only if the words the span touches alone exceed the budget).

    `units` replaces the words by other sorted, disjoint character ranges (a tokenizer's tokens), counted like words.
    Where the text is longer than the budget, how much of it goes left of the span is drawn from
    `rng`, so the span is not always in the middle (a positional cue the model could learn).
    """
    words = list(units) if units is not None else word_offsets(text)
    # Words are sorted and disjoint, so both their starts and their ends are sorted: bisect, don't scan.
    n_before = bisect.bisect_right(words, start, key=lambda w: w[1])
    first_after = bisect.bisect_left(words, end, key=lambda w: w[0])
    before, after = words[:n_before], words[first_after:]
    touched = words[n_before:first_after]  # words the span overlaps, kept whole
    lo, hi = (min(start, touched[0][0]), max(end, touched[-1][1])) if touched else (start, end)
    if unit in ("words", "tokens"):
        extra = max(budget - len(touched), 0)
        left = rng.randint(min(max(0, extra - len(after)), min(extra, len(before))), min(extra, len(before)))
        right = min(extra - left, len(after))
        return (before[-left][0] if left else lo), (after[right - 1][1] if right else hi)
    extra = max(budget - (hi - lo), 0)
    room_left = lo - (before[0][0] if before else lo)
    room_right = (after[-1][1] if after else hi) - hi
    left = rng.randint(min(max(0, extra - room_right), min(extra, room_left)), min(extra, room_left))
    i = bisect.bisect_left(before, lo - left, key=lambda w: w[0])  # first word starting inside the room
    new_lo = before[i][0] if i < len(before) else lo
    right = extra - (lo - new_lo)
    j = bisect.bisect_right(after, hi + right, key=lambda w: w[1])  # words ending inside the room
    new_hi = after[j - 1][1] if j else hi
    return new_lo, new_hi


def replace_spans(text: str, lo: int, hi: int, spans: Sequence[tuple[int, int]], marks: Sequence[str]) -> str:
    """text[lo:hi] with each (sorted, disjoint) span replaced by its mark."""
    parts, pos = [], lo
    for (s, e), mark in zip(spans, marks, strict=True):
        parts += [text[pos:s], mark]
        pos = e
    parts.append(text[pos:hi])
    return "".join(parts)


def fit_to_tokens(
    text: str,
    lo: int,
    hi: int,
    spans: Sequence[tuple[int, int]],
    marks: Sequence[str],
    prefix: str,
    max_tokens: int,
    tokenize: Tokenize,
    rng: random.Random,
) -> tuple[int, int]:
    """Narrow the context [lo, hi) around `spans` so that `prefix` + the context with the spans replaced by `marks`
    takes at most `max_tokens` tokens. Returns [lo, hi) unchanged (drawing nothing from `rng`) when it already fits,
    so examples that fit are exactly those of a policy without the budget. Where narrowing cannot help (the spans
    themselves are longer than the budget), the spans' own extent is returned and the collator counts the example.
    """
    masked = prefix + replace_spans(text, lo, hi, spans, marks)
    # Every token covers at least one character, bar the word-initial "▁" of the first word: a short text fits.
    if len(masked) + 1 <= max_tokens or len(tokenize(masked)) <= max_tokens:
        return lo, hi
    first, last = spans[0][0], spans[-1][1]
    fixed = len(tokenize(prefix)) + len(marks) if prefix else len(marks)
    units = [(lo + a, lo + b) for a, b in tokenize(text[lo:hi]) if b > a]
    span_units = sum(1 for a, b in units if a < last and b > first)
    budget = max_tokens - fixed + span_units - 2  # 2 spare tokens: pieces can merge differently once cut
    for _ in range(4):  # re-check with the real tokenizer; shrink by what still overflows
        new_lo, new_hi = budget_window(text, first, last, max(budget, span_units), "tokens", rng, units)
        new_lo, new_hi = max(new_lo, lo), min(new_hi, hi)
        over = len(tokenize(prefix + replace_spans(text, new_lo, new_hi, spans, marks))) - max_tokens
        if over <= 0 or budget <= span_units:
            return new_lo, new_hi
        budget -= over
    return new_lo, new_hi
