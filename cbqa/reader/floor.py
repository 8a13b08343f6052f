"""The extractive floor: answer with an entity of the retrieved passages whose type fits the question. No training.

- **Answer type** from the question (`answer_labels`): a type noun in it ("which *town*", "what *year*", "the
  *founder*"), else its wh-word (when -> DATE/TIME, where -> GPE/LOC/FAC, who -> PERSON/ORG/NORP, how many/much ->
  numbers); spaCy's OntoNotes labels. No type found: any entity.
- **Candidates**: spaCy entities (`ner_masking`'s pipeline, every label) of the top-K passages with a fitting label,
  minus those the question itself contains (the subject).
- **Score** (`scoring`): `rank` (the floor): the retrieval-weighted vote, the sum of 1/rank of the passages a candidate
  occurs in (once per mention), ties to the earliest mention; `sentence`: first the number of question content words
  in the mention's sentence, then the vote (a stronger heuristic that also reads the question's other words).

A learned reader should beat both; how far it does is the measure of what reading adds to finding an entity of the
right type in the right passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cbqa.core.formats import Prediction, write_predictions
from cbqa.core.metrics import normalize_answer
from cbqa.reader.copying import occurs_in
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of, retrieved_rows

Scoring = Literal["rank", "sentence"]

DATE = ("DATE", "TIME")
PLACE = ("GPE", "LOC", "FAC")
ORG = ("ORG",)
PERSON = ("PERSON",)
NUMBER = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
# Type nouns (checked first, in question order) and wh-words (then), each with the labels an answer may have.
TYPE_NOUNS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("year", "years", "date", "day", "month", "century", "decade", "birthday"), DATE),
    **dict.fromkeys(
        (
            "town",
            "city",
            "country",
            "state",
            "place",
            "county",
            "region",
            "continent",
            "nation",
            "village",
            "island",
            "river",
            "mountain",
            "birthplace",
            "headquarters",
            "hometown",
        ),
        PLACE,
    ),
    **dict.fromkeys(
        (
            "company",
            "firm",
            "university",
            "college",
            "school",
            "organisation",
            "organization",
            "team",
            "band",
            "club",
            "party",
            "employer",
            "institution",
            "business",
            "agency",
            "corporation",
            "mater",
        ),
        ORG,
    ),
    **dict.fromkeys(
        (
            "person",
            "man",
            "woman",
            "founder",
            "actor",
            "actress",
            "author",
            "writer",
            "president",
            "player",
            "singer",
            "leader",
            "king",
            "queen",
            "inventor",
            "director",
        ),
        PERSON + ("NORP",),
    ),
    **dict.fromkeys(("number", "amount", "population", "percentage"), NUMBER),
}
WH_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bhow (many|much)\b", NUMBER),
    (r"\bwhen\b", DATE),
    (r"\bwhere\b", PLACE),
    (r"\bwho(m|se)?\b", PERSON + ORG + ("NORP",)),
)
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    """a an the of in on at to for from by with and or is are was were be been being do does did has have
had what which who whom whose when where why how that this these those it its his her their he she they there as into
than then so such not no yes can could would should will shall may might must about over under""".split()
)


def answer_labels(question: str) -> tuple[str, ...] | None:
    """The entity labels an answer to `question` may have; None when the question does not say."""
    words = _WORD.findall(question.lower())
    for w in words:
        if w in TYPE_NOUNS:
            return TYPE_NOUNS[w]
    q = " ".join(words)
    for pattern, labels in WH_WORDS:
        if re.search(pattern, q):
            return labels
    return None


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


@dataclass(frozen=True)
class Mention:
    text: str
    label: str
    rank: int  # 1-based rank of its passage
    start: int
    sentence: str


# A trailing possessive: spaCy sometimes takes it into a name's span (`Ada Berg's` in `Ada Berg's alma mater is ...`).
POSSESSIVE = re.compile(r"(?:'s|\u2019s|'|\u2019)$")


def strip_possessive(name: str) -> str:
    """`Ada Berg's` -> `Ada Berg` (one name, not two: for placeholders and counterfactual substitutes alike)."""
    return POSSESSIVE.sub("", name).strip()


class PassageNER:
    """spaCy entities (and sentences) of passages, computed once per passage text."""

    def __init__(self, spacy_model: str | None = None, nlp: Any = None) -> None:
        if nlp is None:
            from ner_masking.labels import ALL_LABELS
            from ner_masking.pipeline import DEFAULT_SPACY_MODEL, build_pipeline

            nlp = build_pipeline(spacy_model or DEFAULT_SPACY_MODEL, labels=ALL_LABELS)
        self.nlp = nlp
        self._cache: dict[str, list[tuple[int, int, str, str]]] = {}

    def annotate(self, texts: Sequence[str]) -> None:
        from ner_masking.pipeline import doc_to_span_doc

        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, doc in zip(todo, self.nlp.pipe(todo, batch_size=64), strict=True):
            d = doc_to_span_doc(doc, "")
            sentences = d.sentences or [(0, len(text))]
            found = []
            for s, e, label in d.spans:
                a, b = next(((a, b) for a, b in sentences if a <= s < b), (0, len(text)))
                found.append((s, e, label, text[a:b]))
            self._cache[text] = found

    def entities(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, label, sentence) of each entity of `text`."""
        if text not in self._cache:
            self.annotate([text])
        return self._cache[text]

    def mentions(self, hits: Sequence[Hit]) -> list[Mention]:
        return [
            Mention(h.text[s:e], label, rank, s, sentence)
            for rank, h in enumerate(hits, 1)
            for s, e, label, sentence in self.entities(h.text)
        ]


def extract(question: str, mentions: Sequence[Mention], scoring: Scoring = "rank") -> Mention | None:
    """The best-scoring mention whose label fits the question and whose text the question does not contain."""
    labels = answer_labels(question)
    q_norm = f" {normalize_answer(question)} "
    q_words = content_words(question)
    best: dict[str, tuple[float, float, int, int, Mention]] = {}
    for m in mentions:
        key = normalize_answer(m.text)
        if not key or (labels is not None and m.label not in labels) or f" {key} " in q_norm:
            continue
        overlap = len(q_words & (content_words(m.sentence) - content_words(m.text))) if scoring == "sentence" else 0
        vote = 1.0 / m.rank
        if key in best:
            o, v, rank, start, first = best[key]
            best[key] = (max(o, overlap), v + vote, rank, start, first)
        else:
            best[key] = (overlap, vote, m.rank, m.start, m)
    if not best:
        return None
    return max(best.values(), key=lambda t: (t[0], t[1], -t[2], -t[3]))[4]


def floor_predictions(
    retrieved: str | Path,
    out: str | Path,
    k: int,
    scoring: Scoring = "rank",
    spacy_model: str | None = None,
    ner: PassageNER | None = None,
) -> int:
    """Predictions of the extractive floor over the top-k passages of each retrieved question (an empty answer when
    no entity fits); rows carry the passages read, like a reader's."""
    rows = [r for _, r in retrieved_rows(retrieved)]
    ner = ner or PassageNER(spacy_model)
    ner.annotate([h.text for r in rows for h in hits_of(r)[:k]])
    preds = []
    for r in rows:
        hits = hits_of(r)[:k]
        m = extract(r["question"], ner.mentions(hits), scoring)
        answer = m.text if m else ""
        preds.append(
            Prediction(
                str(r["id"]),
                r["question"],
                answer,
                r.get("answers") or None,
                {
                    "passages": r["passages"][:k],
                    "read": k,
                    "label": m.label if m else None,
                    "answer_labels": list(answer_labels(r["question"]) or []),
                    "copied": occurs_in(answer, [h.text for h in hits]),
                },
            )
        )
    return write_predictions(out, preds)
