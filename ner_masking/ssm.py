"""Salient span masking policies: `ssm`, `typed_ssm`, `ssm_all` (REALM; Roberts et al. 2020) and `ssm_t5cbqa` (the
format of Roberts et al.'s own code: `nem: ` ... `_X_` ..., the span as the target, one example per span)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cbqa.core.errors import CbqaError
from ner_masking.masked import MaskedExample, sentinel
from ner_masking.spans import (
    Tokenize,
    budget_window,
    candidate_spans,
    fit_to_tokens,
    label_filter,
    replace_spans,
    sentence_bounds,
    sentence_index,
)
from ner_masking.store import SpanDoc
from ner_masking.titles import shown_by_title, words_key

CONTEXTS = ("sentence", "passage")
BUDGET_UNITS = ("words", "chars")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise CbqaError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise CbqaError(f"{name} must be true or false, got {value!r}")


def _candidates(
    doc: SpanDoc, labels: tuple[str, ...] | None, exclude: tuple[str, ...], title: bool
) -> list[tuple[int, int, str]]:
    spans = candidate_spans(doc, labels, exclude)
    if title and doc.title:
        key = words_key(doc.title)
        spans = [s for s in spans if not shown_by_title(key, doc.text[s[0] : s[1]])]
    return spans


def _title_prefix(doc: SpanDoc, title: bool) -> str:
    return f"{doc.title.strip()}. " if title and doc.title else ""


def _with_title(doc: SpanDoc, context: str, title: bool) -> str:
    if not title or not doc.title:
        return context
    return f"{_title_prefix(doc, title)}{context.strip()}"


def _check_budget(obj: Any) -> None:
    if obj.max_tokens is not None:
        object.__setattr__(obj, "max_tokens", int(obj.max_tokens))
        if obj.max_tokens < 4:
            raise CbqaError(f"max_tokens must be >= 4, got {obj.max_tokens}")
        if obj.tokens_of is None:
            raise CbqaError("max_tokens needs tokens_of (the model tokenizer's offsets); training sets both")


def _fit(
    obj: Any, doc: SpanDoc, lo: int, hi: int, spans: list[tuple[int, int]], marks: list[str], rng: random.Random
) -> tuple[int, int]:
    if obj.max_tokens is None:
        return lo, hi
    return fit_to_tokens(
        doc.text, lo, hi, spans, marks, _title_prefix(doc, obj.title), obj.max_tokens, obj.tokens_of, rng
    )


def _labels_fields(obj: Any) -> None:
    object.__setattr__(obj, "labels", label_filter(obj.labels))
    object.__setattr__(obj, "exclude_labels", label_filter(obj.exclude_labels) or ())


@dataclass(frozen=True)
class SSM:
    """Mask one salient span, drawn uniformly from the document's candidate spans on every call.

    Input is the span's sentence (or, with context="passage", a window of whole words of at most
    `budget` words/chars around it) with the span replaced by <extra_id_0>; target is
    "<extra_id_0> span <extra_id_1>". `labels` limits candidates (None: every stored label);
    `exclude_labels` removes some (e.g. PERSON).

    `title=True` puts the document's title before the context ("Laura Emerson. She lives in
    <extra_id_0>."): in encyclopedic text the title is the subject that pronouns and surnames refer
    to, so a one-sentence context still says whose fact is masked. Spans whose text occurs in the
    title are then not candidates, since the input would show the answer.

    `max_tokens` + `tokens_of` (set by training from the model's tokenizer and `max_input_len`) narrow a context
    that would take more tokens than the model reads, around the span, so no example loses its sentinel to
    truncation; a context that fits is left exactly as without them.
    """

    labels: tuple[str, ...] | None = None
    exclude_labels: tuple[str, ...] = ()
    context: str = "sentence"
    budget: int = 128
    budget_unit: str = "words"
    title: bool = False
    max_tokens: int | None = None
    tokens_of: Tokenize | None = field(default=None, compare=False, repr=False)

    name = "ssm"

    def __post_init__(self) -> None:
        _labels_fields(self)
        _check_choice("context", self.context, CONTEXTS)
        _check_choice("budget_unit", self.budget_unit, BUDGET_UNITS)
        object.__setattr__(self, "budget", int(self.budget))
        object.__setattr__(self, "title", _as_bool("title", self.title))
        if self.budget < 1:
            raise CbqaError(f"budget must be >= 1, got {self.budget}")
        _check_budget(self)

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None:
        spans = _candidates(doc, self.labels, self.exclude_labels, self.title)
        if not spans:
            return None
        start, end, label = spans[rng.randrange(len(spans))]
        if self.context == "sentence":
            lo, hi = sentence_bounds(doc, start, end)
        else:
            lo, hi = budget_window(doc.text, start, end, self.budget, self.budget_unit, rng)
        lo, hi = _fit(self, doc, lo, hi, [(start, end)], [sentinel(0)], rng)
        return MaskedExample(
            input_text=_with_title(doc, replace_spans(doc.text, lo, hi, [(start, end)], [sentinel(0)]), self.title),
            target_text=f"{sentinel(0)} {doc.text[start:end]} {sentinel(1)}",
            label=label,
            policy=self.name,
        )


@dataclass(frozen=True)
class TypedSSM(SSM):
    """SSM restricted to the given labels (required), e.g. only DATE, or only PERSON/ORG/GPE."""

    name = "typed_ssm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.labels:
            raise CbqaError("typed_ssm needs labels, e.g. labels=DATE or labels=[PERSON, ORG, GPE]")


@dataclass(frozen=True)
class SSMAll:
    """Mask every candidate span of one sentence (drawn uniformly among sentences that have one),
    one sentinel each: target "<extra_id_0> a <extra_id_1> b <extra_id_2>". The label is the
    masked spans' labels joined with "+" in order of first appearance."""

    labels: tuple[str, ...] | None = None
    exclude_labels: tuple[str, ...] = ()
    title: bool = False  # as for SSM: the document title before the sentence
    max_tokens: int | None = None  # as for SSM
    tokens_of: Tokenize | None = field(default=None, compare=False, repr=False)

    name = "ssm_all"

    def __post_init__(self) -> None:
        _labels_fields(self)
        object.__setattr__(self, "title", _as_bool("title", self.title))
        _check_budget(self)

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None:
        by_sentence: dict[int, list[tuple[int, int, str]]] = {}
        for span in _candidates(doc, self.labels, self.exclude_labels, self.title):
            by_sentence.setdefault(sentence_index(doc, span[0]), []).append(span)
        if not by_sentence:
            return None
        keys = sorted(by_sentence)
        spans = by_sentence[keys[rng.randrange(len(keys))]]
        lo, hi = sentence_bounds(doc, spans[0][0], spans[-1][1])
        marks = [sentinel(i) for i in range(len(spans))]
        lo, hi = _fit(self, doc, lo, hi, [(s, e) for s, e, _ in spans], marks, rng)
        target = " ".join(f"{m} {doc.text[s:e]}" for m, (s, e, _) in zip(marks, spans, strict=True))
        labels = list(dict.fromkeys(lab for _, _, lab in spans))
        return MaskedExample(
            input_text=_with_title(
                doc, replace_spans(doc.text, lo, hi, [(s, e) for s, e, _ in spans], marks), self.title
            ),
            target_text=f"{target} {sentinel(len(spans))}",
            label="+".join(labels),
            policy=self.name,
        )


@dataclass(frozen=True)
class SSMT5CBQA:
    """Salient span masking in the format of Roberts et al. (2020), t5_closed_book_qa's `mask_salient_spans`:
    input `nem: ` + the span's sentence with the span replaced by `_X_`, target the span's text (no sentinels), one
    example per salient span of a sentence.

    "One example per span" is the training task's doing: for a policy with `per_span` (this one), `cbqa pretrain`'s
    masked task expands each document into one item per candidate span (`spans(doc)`, in order), so an epoch makes
    every (sentence, span) example exactly once, as T5's preprocessor does, and the data path still draws items, not
    documents. Called as a plain policy (`policy(doc, rng)`: previews, mixtures), it draws one candidate span of the
    document uniformly. `labels` / `exclude_labels` limit the candidates as for `ssm`; `max_tokens` + `tokens_of`
    (set by training) narrow a sentence too long for the model around its span, as `ssm` does.
    """

    labels: tuple[str, ...] | None = None
    exclude_labels: tuple[str, ...] = ()
    prefix: str = "nem: "
    mask: str = "_X_"
    max_tokens: int | None = None
    tokens_of: Tokenize | None = field(default=None, compare=False, repr=False)

    name = "ssm_t5cbqa"
    per_span = True  # training makes one item per candidate span (see the class doc)
    title = False  # (no title before the sentence: the paper's inputs are the sentence alone)

    def __post_init__(self) -> None:
        _labels_fields(self)
        _check_budget(self)

    def spans(self, doc: SpanDoc) -> list[tuple[int, int, str]]:
        """The document's candidate spans, in stored order: item k of a document is its k-th."""
        return candidate_spans(doc, self.labels, self.exclude_labels)

    def example_for(self, doc: SpanDoc, span: tuple[int, int, str], rng: random.Random) -> MaskedExample:
        start, end, label = span
        lo, hi = sentence_bounds(doc, start, end)
        if self.max_tokens is not None:
            lo, hi = fit_to_tokens(
                doc.text, lo, hi, [(start, end)], [self.mask], self.prefix, self.max_tokens, self.tokens_of, rng
            )
        return MaskedExample(
            input_text=self.prefix + replace_spans(doc.text, lo, hi, [(start, end)], [self.mask]),
            target_text=doc.text[start:end],
            label=label,
            policy=self.name,
        )

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None:
        spans = self.spans(doc)
        if not spans:
            return None
        return self.example_for(doc, spans[rng.randrange(len(spans))], rng)
