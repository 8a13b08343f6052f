"""Encyclopedia-style paragraphs about the world's people, organisations and towns.

Each person and organisation gets several paragraphs; paragraph k of an entity draws every sentence from
another template than paragraph k-1, and the sentences after the opening one come in a shuffled order, so
each fact is stated in several phrasings. Rendering records where each fact's answer lands in the text
(`Mention`), which gives exact gold spans for the NER check and for masking tests.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from dataclasses import dataclass

from cbqa.core.formats import Document
from cbqa.world.entities import Entities, Organization, Person, format_date, format_date_alt

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Mention:
    """A fact's answer (or a subject's name) as it occurs in a document: character offsets into its text."""

    doc_id: str
    start: int
    end: int
    text: str
    relation: str  # the relation whose answer this is, or person_name / org_name for a subject's name


# Slot name -> relation it states; other slots (pronouns, names of others) are plain text.
_TRACKED = {
    "name": "person_name",
    "org": "org_name",
    "date": "birth_date",
    "date_alt": "birth_date",
    "birthplace": "birthplace",
    "residence": "residence",
    "employer": "employer",
    "alma_mater": "alma_mater",
    "a_occ": "occupation",
    "founded": "org_name",  # the organisation a person founded
    "year": "founding_year",
    "founder": "founder",
    "city": "headquarters",
}

# Opening sentences of a biography; each covers some facts, the rest get a sentence of their own.
PERSON_OPENINGS = (
    ("{name} (born {date}) is {a_occ}.", {"birth_date", "occupation"}),
    ("{name} is {a_occ} who was born in {birthplace} on {date}.", {"occupation", "birthplace", "birth_date"}),
    ("{name} was born on {date_alt} in {birthplace}.", {"birth_date", "birthplace"}),
    ("{name}, who was born in {birthplace}, is {a_occ} at {employer}.", {"birthplace", "occupation", "employer"}),
)
PERSON_SENTENCES = {
    "birth_date": (
        "{S} was born on {date}.",
        "{S_pos} date of birth is {date}.",
        "According to public records, {s} was born on {date}.",
        "The date of {his} birth is {date}.",
    ),
    "birthplace": (
        "{S} was born in {birthplace}.",
        "{S_pos} birthplace is {birthplace}.",
        "{S} grew up in {birthplace}, the town where {he} was born.",
        "{S} was born and raised in {birthplace}.",
    ),
    "residence": (
        "{S} lives in {residence}.",
        "{S} now lives in {residence}.",
        "{S_pos} home is in {residence}.",
        "{S} has made {his} home in {residence}.",
    ),
    "employer": (
        "{S} works for {employer}.",
        "{S} is employed by {employer}.",
        "{S} has worked at {employer} for many years.",
        "{S_pos} employer is {employer}.",
    ),
    "alma_mater": (
        "{S} studied at {alma_mater}.",
        "{S} graduated from {alma_mater}.",
        "{S_pos} alma mater is {alma_mater}.",
        "{S} is a graduate of {alma_mater}.",
    ),
    "occupation": (
        "{S} is {a_occ}.",
        "{S} works as {a_occ}.",
        "By profession, {s} is {a_occ}.",
        "{S} trained as {a_occ}.",
    ),
    "founded": (
        "{S} founded {founded} in {year}.",
        "In {year}, {s} founded {founded}.",
        "{S} is the founder of {founded}, which {he} established in {year}.",
        "{S} set up {founded} in {year}.",
    ),
}
ORG_OPENINGS = {
    "company": (
        "{org} is a company headquartered in {city}.",
        "{org} is a company based in {city}.",
        "{org} is a firm with its headquarters in {city}.",
        "The headquarters of {org} are in {city}.",
    ),
    "university": (
        "{org} is a university in {city}.",
        "{org} is a public university located in {city}.",
        "{org} is a university whose main campus is in {city}.",
        "The main campus of {org} is in {city}.",
    ),
}
ORG_FOUNDING = (
    "It was founded by {founder} in {year}.",
    "{founder} founded {org} in {year}.",
    "The {kind} was established in {year} by {founder}.",
    "{org} was founded in {year}; its founder was {founder}.",
)
ORG_PEOPLE = {
    "company": ("Its employees include {people}.", "Notable people who work at {org} include {people}."),
    "university": ("Its alumni include {people}.", "Notable graduates of {org} include {people}."),
}


def fill(template: str, values: dict[str, str], doc_id: str, offset: int) -> tuple[str, list[Mention]]:
    """Format `template`, recording a Mention for every tracked slot (offsets shifted by `offset`)."""
    parts: list[str] = []
    mentions: list[Mention] = []
    pos = offset
    for literal, field, _, _ in _FORMATTER.parse(template):
        parts.append(literal)
        pos += len(literal)
        if field is None:
            continue
        value = values[field]
        if field in _TRACKED:
            mentions.append(Mention(doc_id, pos, pos + len(value), value, _TRACKED[field]))
        parts.append(value)
        pos += len(value)
    return "".join(parts), mentions


def _paragraph(sentences: list[tuple[str, dict[str, str]]], doc_id: str) -> tuple[str, list[Mention]]:
    texts: list[str] = []
    mentions: list[Mention] = []
    pos = 0
    for template, values in sentences:
        text, ms = fill(template, values, doc_id, pos)
        texts.append(text)
        mentions += ms
        pos += len(text) + 1  # the joining space
    return " ".join(texts), mentions


def _article(occupation: str) -> str:
    return ("an " if occupation[0] in "aeiou" else "a ") + occupation


def _names_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class _Renderer:
    def __init__(self, ents: Entities, rng: random.Random, bios: int) -> None:
        self.rng, self.bios = rng, bios
        self.place = {p.id: p.name for p in ents.places}
        self.org = {o.id: o for o in ents.orgs}
        self.person = {p.id: p for p in ents.people}
        self.founded = {o.founder_id: o for o in ents.orgs}
        self.staff: dict[str, list[str]] = defaultdict(list)
        for p in ents.people:
            self.staff[p.employer_id].append(p.id)
            self.staff[p.alma_mater_id].append(p.id)

    def _refs(self, p: Person) -> dict[str, str]:
        """Ways to refer to a person after the opening sentence: full name, surname or pronoun."""
        male = p.gender == "male"
        he, his = ("he", "his") if male else ("she", "her")
        choice = self.rng.choice(("name", "surname", "pronoun"))
        ref = {"name": p.name, "surname": p.name.split()[-1], "pronoun": he.capitalize()}[choice]
        pos = his.capitalize() if choice == "pronoun" else f"{ref}'s"
        mid = he if choice == "pronoun" else ref
        return {"S": ref, "S_pos": pos, "s": mid, "he": he, "his": his}

    def person_docs(self, p: Person) -> list[tuple[Document, list[Mention]]]:
        values = {
            "name": p.name,
            "date": format_date(p.birth_date),
            "date_alt": format_date_alt(p.birth_date),
            "birthplace": self.place[p.birthplace_id],
            "residence": self.place[p.residence_id],
            "employer": self.org[p.employer_id].name,
            "alma_mater": self.org[p.alma_mater_id].name,
            "a_occ": _article(p.occupation),
        }
        topics = ["birth_date", "birthplace", "residence", "employer", "alma_mater", "occupation"]
        if p.id in self.founded:
            o = self.founded[p.id]
            values |= {"founded": o.name, "year": str(o.founding_year)}
            topics.append("founded")
        first, shift = self.rng.randrange(len(PERSON_OPENINGS)), self.rng.randrange(4)
        out = []
        for k in range(self.bios):
            opening, covered = PERSON_OPENINGS[(first + k) % len(PERSON_OPENINGS)]
            rest = [t for t in topics if t not in covered]
            self.rng.shuffle(rest)
            sentences = [(opening, values)]
            sentences += [(PERSON_SENTENCES[t][(shift + k) % 4], values | self._refs(p)) for t in rest]
            doc_id = f"{p.id}-{k + 1}"
            text, mentions = _paragraph(sentences, doc_id)
            out.append((Document(doc_id, text, p.name), mentions))
        return out

    def org_docs(self, o: Organization) -> list[tuple[Document, list[Mention]]]:
        founder = self.person[o.founder_id]
        values = {
            "org": o.name,
            "city": self.place[o.headquarters_id],
            "founder": founder.name,
            "year": str(o.founding_year),
            "kind": o.kind,
        }
        staff = sorted(set(self.staff[o.id]))
        first, shift = self.rng.randrange(4), self.rng.randrange(4)
        out = []
        for k in range(self.bios):
            sentences = [(ORG_OPENINGS[o.kind][(first + k) % 4], values), (ORG_FOUNDING[(shift + k) % 4], values)]
            if staff:
                sample = self.rng.sample(staff, min(3, len(staff)))
                people = _names_list([self.person[i].name for i in sorted(sample)])
                sentences.append((ORG_PEOPLE[o.kind][k % 2], values | {"people": people}))
            doc_id = f"{o.id}-{k + 1}"
            text, mentions = _paragraph(sentences, doc_id)
            out.append((Document(doc_id, text, o.name), mentions))
        return out


def render_corpus(ents: Entities, rng: random.Random, bios: int) -> tuple[list[Document], list[Mention]]:
    r = _Renderer(ents, rng, bios)
    docs: list[Document] = []
    mentions: list[Mention] = []
    for pair in [d for p in ents.people for d in r.person_docs(p)] + [d for o in ents.orgs for d in r.org_docs(o)]:
        docs.append(pair[0])
        mentions += pair[1]
    for city in ents.places:
        doc, ms = _city_doc(city.id, city.name, ents, rng)
        docs.append(doc)
        mentions += ms
    return docs, mentions


def _city_doc(city_id: str, name: str, ents: Entities, rng: random.Random) -> tuple[Document, list[Mention]]:
    """A short article naming people born in the town and organisations based there (a third phrasing of
    birthplace and headquarters facts)."""
    born = [p.name for p in ents.people if p.birthplace_id == city_id]
    based = [o.name for o in ents.orgs if o.headquarters_id == city_id]
    sentences: list[tuple[str, dict[str, str]]] = []
    if born:
        people = _names_list(sorted(rng.sample(born, min(6, len(born)))))
        values = {"birthplace": name, "people": people}
        sentences.append(("Notable people born in {birthplace} include {people}.", values))
    if based:
        orgs = _names_list(sorted(based))
        verb = "is" if len(based) == 1 else "are"
        sentences.append((f"{{orgs}} {verb} based in {{city}}.", {"orgs": orgs, "city": name}))
    if not sentences:
        sentences.append(("Few records mention the town of {city}.", {"city": name}))
    doc_id = city_id
    text, mentions = _paragraph(sentences, doc_id)
    return Document(doc_id, text, name), mentions
