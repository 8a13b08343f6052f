"""LAMA probe files (Petroni et al. 2019) as released, read into facts; the toy world writes the same layout.

- T-REx, one fact a line: `{"uuid", "sub_label", "obj_label", "predicate_id": "P19", "evidences": [{"sub_surface",
  "obj_surface", "masked_sentence": "... [MASK] ..."}, ...], ...}`.
- Google-RE, one fact a line: `{"sub_label", "obj_label", "obj_aliases", "pred": "/people/person/place_of_birth",
  "masked_sentences": ["... [MASK] ..."], "evidences": [{"url", "considered_sentences"}], ...}`; the relation is the
  last part of `pred`.
- relations.jsonl: `{"relation": "P19", "template": "[X] was born in [Y] .", "label", "description", "type"}`. LAMA
  keeps the Google-RE templates in its run script instead; they are `GOOGLE_RE_TEMPLATES` here.

Other keys are kept (`LamaFact.extra`): the toy world adds the `split` of each subject. A bad line is one
`DataError` at `file:line`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, model_validator

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_rows

MASK = "[MASK]"
SUBJECT, OBJECT = "[X]", "[Y]"
# LAMA's run script (scripts/run_experiments.py), not its relations.jsonl, holds these three.
GOOGLE_RE_TEMPLATES = {
    "place_of_birth": "[X] was born in [Y] .",
    "date_of_birth": "[X] (born [Y]).",
    "place_of_death": "[X] died in [Y] .",
}


@dataclass(frozen=True)
class LamaFact:
    relation: str  # T-REx predicate id ("P19") or the last part of a Google-RE `pred` ("place_of_birth")
    subject: str
    object: str
    aliases: tuple[str, ...] = ()  # other names of the object (Google-RE's obj_aliases)
    sentences: tuple[str, ...] = ()  # evidence sentences with the object masked as [MASK]
    uuid: str = ""
    where: str = ""  # file:line, for messages
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def split(self) -> str | None:
        value = self.extra.get("split")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class LamaRelation:
    relation: str
    template: str  # "[X] was born in [Y] ."
    label: str = ""
    type: str = ""  # "1-1", "N-1", "N-M"


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")
    sub_label: StrictStr
    obj_label: StrictStr
    predicate_id: StrictStr | None = None  # T-REx
    pred: StrictStr | None = None  # Google-RE
    evidences: list[Any] | None = None
    masked_sentences: list[StrictStr] | None = None
    obj_aliases: list[StrictStr] | None = None
    uuid: StrictStr | int | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_a_relation(cls, data: Any) -> Any:
        if isinstance(data, dict) and "template" in data and "sub_label" not in data:
            raise ValueError("a relation line (relation, template), not a fact: pass relations.jsonl as --relations")
        return data


class _RelationRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    relation: StrictStr
    template: StrictStr
    label: StrictStr = ""
    type: StrictStr = ""


def read_lama_facts(path: str | Path) -> list[LamaFact]:
    """The facts of one LAMA file, T-REx or Google-RE layout (by line: a file may mix them)."""
    path = Path(path)
    out: list[LamaFact] = []
    for line, _, row in read_rows(path, _Row):
        fail = lambda reason: DataError(path, line, reason)  # noqa: B023 (used within this iteration)
        subject, obj = row.sub_label.strip(), row.obj_label.strip()
        if not subject:
            raise fail("'sub_label' is empty")
        if not obj:
            raise fail("'obj_label' is empty")
        if row.predicate_id is not None:
            relation = row.predicate_id.strip()
            sentences = _trex_sentences(row.evidences or [], fail)
        elif row.pred is not None:
            relation = row.pred.rstrip("/").rsplit("/", 1)[-1].strip()
            sentences = list(row.masked_sentences or [])
        else:
            raise fail("missing 'predicate_id' (T-REx) or 'pred' (Google-RE): which relation is this fact of?")
        if not relation:
            raise fail("the relation ('predicate_id' or 'pred') is empty")
        extra = {k: v for k, v in (row.model_extra or {}).items() if k not in ("evidences", "masked_sentences", "pred")}
        out.append(
            LamaFact(
                relation=relation,
                subject=subject,
                object=obj,
                aliases=tuple(a for a in row.obj_aliases or () if a.strip() and a != obj),
                sentences=tuple(sentences),
                uuid=str(row.uuid) if row.uuid is not None else "",
                where=f"{path}:{line}",
                extra=extra,
            )
        )
    if not out:
        raise DataError(path, None, "holds no fact (an empty LAMA file)")
    return out


def _trex_sentences(evidences: list[Any], fail) -> list[str]:
    out = []
    for i, ev in enumerate(evidences):
        if not isinstance(ev, dict):
            raise fail(f"'evidences[{i}]' must be an object, got {type(ev).__name__}")
        sentence = ev.get("masked_sentence")
        if not isinstance(sentence, str):
            got = "nothing" if sentence is None else type(sentence).__name__
            raise fail(f"'evidences[{i}].masked_sentence' must be a string, got {got}")
        out.append(sentence)
    return out


def read_lama_relations(path: str | Path) -> dict[str, LamaRelation]:
    """LAMA's relations.jsonl: relation -> template (each must hold [X] and [Y] once)."""
    path = Path(path)
    out: dict[str, LamaRelation] = {}
    for line, _, row in read_rows(path, _RelationRow):
        name = row.relation.strip()
        if not name:
            raise DataError(path, line, "'relation' is empty")
        check_template(row.template, path, line)
        if name in out:
            raise DataError(path, line, f"relation {name!r} is defined twice")
        out[name] = LamaRelation(name, row.template, row.label, row.type)
    return out


def check_template(template: str, path: str | Path, line: int | None) -> None:
    for slot in (SUBJECT, OBJECT):
        if template.count(slot) != 1:
            raise DataError(path, line, f"template {template!r} must hold {slot} exactly once")


def read_lama(
    paths: Sequence[str | Path], relations: str | Path | None = None
) -> tuple[list[LamaFact], dict[str, LamaRelation]]:
    """Every fact of `paths`, and the templates: the Google-RE ones, then `relations` (a relations.jsonl) over them."""
    facts = [f for p in paths for f in read_lama_facts(p)]
    templates = {name: LamaRelation(name, t) for name, t in GOOGLE_RE_TEMPLATES.items()}
    if relations is not None:
        templates.update(read_lama_relations(relations))
    return facts, templates


def trex_row(
    uuid: str, relation: str, subject: str, obj: str, sentences: Iterable[tuple[str, str, str]] = (), **extra: Any
) -> dict[str, Any]:
    """A T-REx-layout line; `sentences` are (subject surface, object surface, sentence with the object as [MASK])."""
    evidences = [{"sub_surface": s, "obj_surface": o, "masked_sentence": m} for s, o, m in sentences]
    return {
        "uuid": uuid,
        "sub_label": subject,
        "obj_label": obj,
        "predicate_id": relation,
        "evidences": evidences,
        **extra,
    }
