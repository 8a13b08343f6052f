"""T5's span corruption objective (Raffel et al. 2020), over whitespace words or caller-given units.

The noise arithmetic is that of T5's `random_spans_noise_mask` (t5/data/preprocessors.py), including
its float32 rounding (tf.round rounds half to even, as Python's round does):

    num_noise_tokens = round(length * noise_density), clipped to [1, length - 1]   (length >= 2)
    num_noise_spans  = max(round(num_noise_tokens / mean_noise_span_length), 1)

then noise and non-noise lengths are each split into num_noise_spans random non-empty segments and
interleaved starting with non-noise, so the text always ends with a noise span and the target carries
no closing sentinel, exactly as in T5.
"""

from __future__ import annotations

import bisect
import random
import struct
from dataclasses import dataclass, field

from cbqa.core.errors import CbqaError
from ner_masking.masked import MaskedExample, sentinel
from ner_masking.spans import Tokenize, replace_spans, word_offsets
from ner_masking.store import SpanDoc


def _f32(x: float) -> float:
    # Round a double to the nearest float32: T5 computes these products and quotients in float32.
    return struct.unpack("f", struct.pack("f", x))[0]


def noise_counts(length: int, noise_density: float = 0.15, mean_noise_span_length: float = 3.0) -> tuple[int, int]:
    """(num_noise_tokens, num_noise_spans) for a sequence of `length` units, as T5 computes them."""
    length = max(length, 2)
    num_noise = round(_f32(_f32(float(length)) * _f32(noise_density)))
    num_noise = min(max(num_noise, 1), length - 1)
    num_spans = round(_f32(_f32(float(num_noise)) / _f32(mean_noise_span_length)))
    return num_noise, max(num_spans, 1)


def _random_segmentation(num_items: int, num_segments: int, rng: random.Random) -> list[int]:
    """Split num_items into num_segments non-empty lengths, uniformly over compositions (as T5's
    shuffle of segment starts does)."""
    cuts = sorted(rng.sample(range(1, num_items), num_segments - 1))
    bounds = [0, *cuts, num_items]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def noise_spans(
    length: int, rng: random.Random, noise_density: float = 0.15, mean_noise_span_length: float = 3.0
) -> list[tuple[int, int]]:
    """T5's noise spans for `length` >= 2 units as [start, end) unit ranges (noise and non-noise
    lengths segmented at random and interleaved, starting with non-noise)."""
    num_noise, num_spans = noise_counts(length, noise_density, mean_noise_span_length)
    noise_lengths = _random_segmentation(num_noise, num_spans, rng)
    nonnoise_lengths = _random_segmentation(length - num_noise, num_spans, rng)
    spans, pos = [], 0
    for keep, drop in zip(nonnoise_lengths, noise_lengths, strict=True):
        spans.append((pos + keep, pos + keep + drop))
        pos += keep + drop
    return spans


def _roll(spans: list[tuple[int, int]], shift: int, length: int) -> list[tuple[int, int]]:
    """Noise spans after rotating the mask right by `shift`; a span wrapping past the end is split."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        s, e = start + shift, end + shift
        if e <= length:
            out.append((s, e))
        elif s >= length:
            out.append((s - length, e - length))
        else:
            out += [(s, length), (0, e - length)]
    out.sort()
    merged: list[tuple[int, int]] = []
    for s, e in out:  # pieces that now touch (a split span meeting the first one) form one span
        if merged and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


@dataclass(frozen=True)
class SpanCorruption:
    """T5 span corruption of the whole document (or of a random window of `max_units` units).

    Units are whitespace words by default; pass `tokenize(text) -> [(start, end), ...]` (e.g. a
    tokenizer's offsets) to corrupt subword pieces instead. Text between units is kept as is.
    `random_roll` rotates the mask by a random offset (T5's later option), so that short texts, which
    T5's arithmetic gives a single noise span at their very end, are not masked the same way each epoch.
    `context="sentence"` corrupts one sentence of the document (drawn uniformly among those of two units or more; the
    whole text when the document has no sentences) instead of the document: T5 span corruption over the same
    sentences salient span masking reads, as t5_closed_book_qa's `span_corrupted_wikipedia` (preset
    `span_corruption_t5cbqa`). The input is then that sentence alone.
    `max_tokens` (with `tokens_of`, both set by training from the model's tokenizer) cuts a window whose text would take
    more tokens than the model reads, from its end, before masking: corrupting only shortens the text, so the input
    then fits with every sentinel; with `max_target_tokens`, a target that would be longer (dense text) is made again
    from a shorter window. A window that fits is left exactly as without them.
    """

    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    max_units: int | None = None
    random_roll: bool = False
    context: str = "document"
    tokenize: Tokenize | None = None
    max_tokens: int | None = None
    max_target_tokens: int | None = None
    tokens_of: Tokenize | None = field(default=None, compare=False, repr=False)

    name = "span_corruption"

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_density", float(self.noise_density))
        object.__setattr__(self, "mean_noise_span_length", float(self.mean_noise_span_length))
        if not 0.0 < self.noise_density < 1.0:
            raise CbqaError(f"noise_density must be in (0, 1), got {self.noise_density}")
        if self.mean_noise_span_length < 1.0:
            raise CbqaError(f"mean_noise_span_length must be >= 1, got {self.mean_noise_span_length}")
        if self.context not in ("document", "sentence"):
            raise CbqaError(f"context must be one of document, sentence, got {self.context!r}")
        if self.max_units is not None and int(self.max_units) < 2:
            raise CbqaError(f"max_units must be >= 2, got {self.max_units}")
        if (self.max_tokens is not None or self.max_target_tokens is not None) and self.tokens_of is None:
            raise CbqaError("max_tokens needs tokens_of (the model tokenizer's offsets); training sets both")

    def _units_within(self, text: str, units: list[tuple[int, int]]) -> int:
        """How many leading units fit in `max_tokens` tokens (2 spare for pieces that merge differently once cut)."""
        base, limit = units[0][0], int(self.max_tokens) - 2
        window = text[base : units[-1][1]]
        if len(window) + 1 <= limit:
            return len(units)
        token_starts = [a for a, b in self.tokens_of(window) if b > a]
        if len(token_starts) <= limit:
            return len(units)
        # tokens starting before a unit's end belong to the units up to it
        return bisect.bisect_right([bisect.bisect_left(token_starts, e - base) for _, e in units], limit)

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None:
        if self.max_target_tokens is None:
            return self._corrupt(doc, rng, None)[0]
        # With a target budget: a target that would be too long (dense text: many tokens per unit) is made again from
        # a shorter window, with the same random draws, so the example stays a function of the rng's seed.
        state, cap = rng.getstate(), None
        for _ in range(4):
            example, n_units = self._corrupt(doc, rng, cap)
            if example is None:
                return None
            need = len(self.tokens_of(example.target_text)) + 1  # + EOS
            if need <= self.max_target_tokens or n_units <= 2:
                return example
            cap = max(2, n_units * self.max_target_tokens // need)
            rng.setstate(state)
        return example

    def _units(self, text: str, lo: int, hi: int) -> list[tuple[int, int]]:
        piece = text[lo:hi]
        units = self.tokenize(piece) if self.tokenize is not None else word_offsets(piece)
        return [(lo + a, lo + b) for a, b in units]

    def _corrupt(self, doc: SpanDoc, rng: random.Random, cap: int | None) -> tuple[MaskedExample | None, int]:
        if self.context == "sentence":
            sentences = doc.sentences or [(0, len(doc.text))]
            choices = [u for u in (self._units(doc.text, a, b) for a, b in sentences) if len(u) >= 2]
            if not choices:
                return None, 0
            units = choices[rng.randrange(len(choices))]
        else:
            units = self.tokenize(doc.text) if self.tokenize is not None else word_offsets(doc.text)
        if self.max_units is not None and len(units) > int(self.max_units):
            first = rng.randrange(len(units) - int(self.max_units) + 1)
            units = units[first : first + int(self.max_units)]
        if self.max_tokens is not None and units:
            units = units[: self._units_within(doc.text, units)]
        if cap is not None:
            units = units[:cap]
        if len(units) < 2:  # T5 would mask nothing in a one-unit text
            return None, len(units)
        spans = noise_spans(len(units), rng, self.noise_density, self.mean_noise_span_length)
        if self.random_roll:
            spans = _roll(spans, rng.randrange(len(units)), len(units))
        runs = [(units[a][0], units[b - 1][1]) for a, b in spans]
        marks = [sentinel(i) for i in range(len(runs))]
        target = " ".join(f"{m} {doc.text[s:e]}" for m, (s, e) in zip(marks, runs, strict=True))
        if spans[-1][1] < len(units):  # only where the text ends on kept units (never with T5's own mask)
            target += f" {sentinel(len(runs))}"
        example = MaskedExample(
            input_text=replace_spans(doc.text, units[0][0], units[-1][1], runs, marks),
            target_text=target,
            label=None,
            policy=self.name,
        )
        return example, len(units)
