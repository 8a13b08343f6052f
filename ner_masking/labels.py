"""Which spaCy entity labels count as salient spans.

REALM masks named entities and dates; Roberts et al. (2020) follow it. We keep OntoNotes' name and time
labels by default and leave the numeric ones (counts, amounts, percentages) out: a masked "three" or
"20%" is rarely a piece of world knowledge a closed-book model should memorise, but users may opt in.
"""

from __future__ import annotations

from collections.abc import Iterable

# OntoNotes 5 labels as predicted by spaCy's English pipelines.
NAME_LABELS: tuple[str, ...] = (
    "PERSON",
    "NORP",
    "FAC",
    "ORG",
    "GPE",
    "LOC",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
)
TIME_LABELS: tuple[str, ...] = ("DATE", "TIME")
NUMERIC_LABELS: tuple[str, ...] = ("CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY")

DEFAULT_LABELS: tuple[str, ...] = NAME_LABELS + TIME_LABELS
ALL_LABELS: tuple[str, ...] = DEFAULT_LABELS + NUMERIC_LABELS

# Group names usable wherever a label list is accepted (CLI `--labels default CARDINAL`).
LABEL_GROUPS: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_LABELS,
    "names": NAME_LABELS,
    "time": TIME_LABELS,
    "numeric": NUMERIC_LABELS,
    "all": ALL_LABELS,
}


def expand_labels(items: Iterable[str]) -> tuple[str, ...]:
    """Expand group names and comma lists into a de-duplicated label tuple, keeping first-seen order.

    Labels are case-sensitive, as in spaCy; labels outside OntoNotes are kept as given (custom NER
    pipelines have their own label sets).
    """
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            group = LABEL_GROUPS.get(part.lower())
            for label in group if group is not None else (part,):
                if label not in out:
                    out.append(label)
    return tuple(out)
