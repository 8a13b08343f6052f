"""The `salient_span_marker` spaCy component: picks the salient spans of a Doc into `doc.spans[key]`.

It runs after `ner` (and a sentence splitter) and keeps the entities whose label is salient, resolving
overlaps (possible when the source is a span group, e.g. from a `span_ruler`), optionally merging
spans that touch, and dropping spans that cross a sentence boundary (a masked span must sit inside the
sentence the SSM policy shows the model). Registered both with `@Language.factory` and through the
`spacy_factories` entry point, so `nlp.add_pipe("salient_span_marker")` works without importing us.

The `rule_sentencizer` component sets sentence starts by the project's one sentence rule (sentences.py), so the
sentences a spans store holds are the ones corpus overlap computes without spaCy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ner_masking.labels import DEFAULT_LABELS
from ner_masking.sentences import sentence_spans

DEFAULT_SPANS_KEY = "salient"


class SalientSpanMarker:
    def __init__(
        self,
        name: str,
        labels: Iterable[str],
        spans_key: str,
        source: str,
        merge_adjacent: bool,
        drop_cross_sentence: bool,
    ) -> None:
        self.name = name
        self.labels = tuple(labels)
        self._label_set = frozenset(self.labels)
        self.spans_key = spans_key
        self.source = source
        self.merge_adjacent = merge_adjacent
        self.drop_cross_sentence = drop_cross_sentence

    def __call__(self, doc: Doc) -> Doc:
        candidates = [s for s in self._source_spans(doc) if s.label_ in self._label_set]
        # Longest span wins an overlap, then the earliest (spaCy's usual rule); sorted by start after.
        spans = filter_spans(candidates)
        if self.merge_adjacent:
            spans = _merge_touching(doc, spans)
        if self.drop_cross_sentence and doc.has_annotation("SENT_START"):
            spans = [s for s in spans if not _crosses_sentence(s)]
        doc.spans[self.spans_key] = spans
        return doc

    def _source_spans(self, doc: Doc) -> Sequence[Span]:
        if self.source == "ents":
            return doc.ents
        return doc.spans.get(self.source, ())


def _crosses_sentence(span: Span) -> bool:
    # A token other than the first starting a sentence means the span runs over a boundary.
    return any(tok.is_sent_start for tok in span[1:])


def _merge_touching(doc: Doc, spans: list[Span]) -> list[Span]:
    """Merge runs of spans with no token between them; the run takes the label of its longest part."""
    runs: list[list[Span]] = []
    for span in spans:
        if runs and runs[-1][-1].end == span.start:
            runs[-1].append(span)
        else:
            runs.append([span])
    merged: list[Span] = []
    for run in runs:
        if len(run) == 1:
            merged.append(run[0])
            continue
        label = max(run, key=len).label_  # max() keeps the first of equal lengths
        merged.append(Span(doc, run[0].start, run[-1].end, label=label))
    return merged


@Language.factory(
    "salient_span_marker",
    default_config={
        "labels": list(DEFAULT_LABELS),
        "spans_key": DEFAULT_SPANS_KEY,
        "source": "ents",
        "merge_adjacent": False,
        "drop_cross_sentence": True,
    },
)
def make_salient_span_marker(
    nlp: Language,
    name: str,
    labels: list[str],
    spans_key: str,
    source: str,
    merge_adjacent: bool,
    drop_cross_sentence: bool,
) -> SalientSpanMarker:
    """Build the component. `source` is "ents" (doc.ents) or the key of a span group to read from."""
    return SalientSpanMarker(name, labels, spans_key, source, merge_adjacent, drop_cross_sentence)


class RuleSentencizer:
    """Marks `token.is_sent_start` where `ner_masking.sentences.sentence_spans` starts a sentence."""

    def __call__(self, doc: Doc) -> Doc:
        starts = {s for s, _ in sentence_spans(doc.text)}
        for tok in doc:
            tok.is_sent_start = tok.i == 0 or tok.idx in starts
        return doc


@Language.factory("rule_sentencizer")
def make_rule_sentencizer(nlp: Language, name: str) -> RuleSentencizer:
    """Build the component (no options: the rule is the project's one rule)."""
    return RuleSentencizer()
