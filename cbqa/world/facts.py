"""Facts: (subject, relation, answers) triples read off the entities; questions and the corpus state them."""

from __future__ import annotations

from dataclasses import dataclass

from cbqa.world.entities import Entities, format_date, format_date_alt


@dataclass(frozen=True)
class Fact:
    subject_id: str
    subject: str
    subject_kind: str  # "person" | "company" | "university"
    relation: str
    answers: tuple[str, ...]  # canonical answer first, then aliases
    group: str  # "train" | "dev" | "test": which split may ask about the subject


def read_facts(ents: Entities) -> list[Fact]:
    """All facts, ordered by subject id and a fixed relation order."""
    place = {p.id: p.name for p in ents.places}
    org = {o.id: o.name for o in ents.orgs}
    person = {p.id: p.name for p in ents.people}
    facts: list[Fact] = []
    for p in ents.people:
        values = {
            "birth_date": (format_date(p.birth_date), format_date_alt(p.birth_date)),
            "birthplace": (place[p.birthplace_id],),
            "residence": (place[p.residence_id],),
            "employer": (org[p.employer_id],),
            "alma_mater": (org[p.alma_mater_id],),
            "occupation": (p.occupation,),
        }
        facts += [Fact(p.id, p.name, "person", rel, ans, p.group) for rel, ans in values.items()]
    for o in ents.orgs:
        values = {
            "founder": (person[o.founder_id],),
            "founding_year": (str(o.founding_year),),
            "headquarters": (place[o.headquarters_id],),
        }
        facts += [Fact(o.id, o.name, o.kind, rel, ans, o.group) for rel, ans in values.items()]
    return sorted(facts, key=lambda f: f.subject_id)  # stable: keeps the relation order within a subject
