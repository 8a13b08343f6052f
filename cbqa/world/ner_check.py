"""How often spaCy's NER tags the world's answers as entities with exactly the span the generator wrote.

Salient span masking can only teach facts whose answers the NER model finds, so this is the world's key
quality number. Each `Mention` the renderer recorded is looked up among the entities spaCy found in its
document: `exact` = an entity with the same start and end; `typed` = and with the expected label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cbqa.core.formats import Document
from cbqa.world.render import Mention

# Occupations ("architect") are common nouns: no NER label is expected for them.
EXPECTED_LABEL: dict[str, str | None] = {
    "birth_date": "DATE",
    "founding_year": "DATE",
    "birthplace": "GPE",
    "residence": "GPE",
    "headquarters": "GPE",
    "employer": "ORG",
    "alma_mater": "ORG",
    "org_name": "ORG",
    "founder": "PERSON",
    "person_name": "PERSON",
    "occupation": None,
}


@dataclass
class TagRate:
    relation: str
    expected: str | None
    mentions: int = 0
    exact: int = 0
    typed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "relation": self.relation,
            "expected_label": self.expected,
            "mentions": self.mentions,
            "exact_span": self.exact,
            "exact_span_and_label": self.typed,
            "exact_rate": self.exact / self.mentions if self.mentions else 0.0,
            "typed_rate": self.typed / self.mentions if self.mentions else 0.0,
        }


def tag_rates(
    docs: Iterable[tuple[str, list[tuple[int, int, str]]]], mentions: Iterable[Mention]
) -> dict[str, TagRate]:
    """Rates per relation from (doc id, entity spans as (start, end, label)) pairs; pure, for testing."""
    spans = {doc_id: {(s, e): label for s, e, label in ents} for doc_id, ents in docs}
    rates: dict[str, TagRate] = {}
    for m in mentions:
        rate = rates.setdefault(m.relation, TagRate(m.relation, EXPECTED_LABEL.get(m.relation)))
        rate.mentions += 1
        label = spans.get(m.doc_id, {}).get((m.start, m.end))
        if label is not None:
            rate.exact += 1
            rate.typed += label == rate.expected
    return dict(sorted(rates.items()))


def run_spacy(
    nlp: Any, documents: list[Document], on_progress: Callable[[int], None] | None = None
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    out = []
    for doc, d in zip(nlp.pipe(d.text for d in documents), documents):
        out.append((d.id, [(e.start_char, e.end_char, e.label_) for e in doc.ents]))
        if on_progress:
            on_progress(1)
    return out


def load_spacy(name: str) -> Any:
    from cbqa.core.errors import CbqaError

    try:
        import spacy

        return spacy.load(name, disable=["lemmatizer"])
    except Exception as e:  # missing pipeline, broken install: one clear line for the user
        raise CbqaError(f"cannot load spaCy pipeline {name!r}: {type(e).__name__}: {e}") from None
