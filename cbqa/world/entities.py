"""The entities of the toy world and how they are drawn.

The world is built so that the QA splits can have every overlap category by construction. Entities fall into
groups: `train` people and organisations are asked about in QA-train; `dev` and `test` ones are held out
(asked about only in that split). Answer values (cities, organisations, occupations) come from two pools:
`seen` values are what train answers are made of; `unseen` values are used only by held-out entities. A
held-out person whose employer is drawn from the seen pool yields an answer_overlap_only question; one
whose employer comes from the unseen pool yields a no_overlap question.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import asdict, dataclass
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.world import names
from cbqa.world.config import WorldConfig

MONTHS = "January February March April May June July August September October November December".split()
BIRTH_YEARS = (1940, 1985)
LAST_FOUNDING_YEAR = 2015


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    pool: str  # "seen" | "unseen"


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    kind: str  # "company" | "university"
    group: str  # "train" | "dev" | "test"
    pool: str  # "seen" | "unseen": whether it may be a train answer (employer / alma mater)
    founder_id: str
    founding_year: int
    headquarters_id: str


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    gender: str  # "male" | "female": picks pronouns in the biographies
    group: str
    birth_date: str  # ISO date
    birthplace_id: str
    residence_id: str  # the town the person lives in now, never the birthplace
    employer_id: str
    alma_mater_id: str
    occupation: str


@dataclass(frozen=True)
class Entities:
    people: tuple[Person, ...]
    orgs: tuple[Organization, ...]
    places: tuple[Place, ...]
    occupations: dict[str, str]  # occupation -> pool

    def to_json(self) -> dict[str, Any]:
        return {
            "people": [asdict(p) for p in self.people],
            "organizations": [asdict(o) for o in self.orgs],
            "places": [asdict(p) for p in self.places],
            "occupations": [{"name": k, "pool": v} for k, v in sorted(self.occupations.items())],
        }


def format_date(iso: str) -> str:
    """'1954-03-03' -> 'March 3, 1954' (the canonical answer)."""
    d = dt.date.fromisoformat(iso)
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def format_date_alt(iso: str) -> str:
    """'1954-03-03' -> '3 March 1954' (the alias, and the corpus's second phrasing)."""
    d = dt.date.fromisoformat(iso)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _split_count(n: int, fraction: float) -> int:
    """Members of the first part when n things are split by fraction, leaving both parts non-empty."""
    return max(1, min(n - 1, round(n * fraction)))


def _groups(n: int, config: WorldConfig, rng: random.Random) -> list[str]:
    n_train = _split_count(n, config.train_people_fraction)
    n_dev = _split_count(n - n_train, config.dev_fraction)
    groups = ["train"] * n_train + ["dev"] * n_dev + ["test"] * (n - n_train - n_dev)
    rng.shuffle(groups)
    return groups


def _pools(n: int, config: WorldConfig, rng: random.Random) -> list[str]:
    n_seen = _split_count(n, config.train_people_fraction)
    pools = ["seen"] * n_seen + ["unseen"] * (n - n_seen)
    rng.shuffle(pools)
    return pools


def _held_out_groups(n: int, config: WorldConfig, rng: random.Random) -> list[str]:
    """'dev' / 'test' labels for n held-out organisations; test always gets at least one."""
    n_dev = min(n - 1, round(n * config.dev_fraction)) if n else 0
    groups = ["dev"] * n_dev + ["test"] * (n - n_dev)
    rng.shuffle(groups)
    return groups


def _pick(rng: random.Random, items: list[Any], group: str, seen_rate: float) -> Any:
    """An attribute value for an entity of `group`: train entities take seen values only."""
    seen = [x for x in items if x[1] == "seen"]
    unseen = [x for x in items if x[1] == "unseen"]
    if group == "train" or rng.random() < seen_rate:
        return rng.choice(seen)[0]
    return rng.choice(unseen)[0]


def _birth_dates(n: int, rng: random.Random) -> list[str]:
    """Distinct birth dates, so no two people share a date answer."""
    out: list[str] = []
    taken: set[str] = set()
    while len(out) < n:
        d = dt.date(rng.randint(*BIRTH_YEARS), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
        if d not in taken:
            taken.add(d)
            out.append(d)
    return out


def draw_entities(config: WorldConfig, rng: random.Random, seen_rate: float) -> Entities:
    registry = names.NameRegistry()
    places = tuple(
        Place(f"c{i:04d}", names.city_name(rng, registry), pool)
        for i, pool in enumerate(_pools(config.places, config, rng), start=1)
    )
    n_uni = max(2, round(config.orgs * 0.4))
    kinds = ["company"] * (config.orgs - n_uni) + ["university"] * n_uni
    occupations = dict(zip(names.OCCUPATIONS, _pools(len(names.OCCUPATIONS), config, rng)))

    genders = [rng.choice(("male", "female")) for _ in range(config.people)]
    person_groups = _groups(config.people, config, rng)
    dates = _birth_dates(config.people, rng)
    person_names = [names.person_name(rng, registry, g) for g in genders]

    # Organisations: seen ones are the train group; unseen ones are held out (dev or test).
    org_rows: list[dict[str, Any]] = []
    for kind in ("company", "university"):
        n_kind = kinds.count(kind)
        pools = _pools(n_kind, config, rng)
        held = _held_out_groups(pools.count("unseen"), config, rng)
        for pool in pools:
            name = names.company_name(rng, registry) if kind == "company" else names.university_name(rng, registry)
            group = "train" if pool == "seen" else held.pop()
            org_rows.append({"name": name, "kind": kind, "pool": pool, "group": group})

    place_items = [(p.id, p.pool) for p in places]
    # Founders: each organisation's founder is a distinct person of the same side (train / held out), born
    # early enough to found it by LAST_FOUNDING_YEAR.
    free = {
        "train": [i for i, g in enumerate(person_groups) if g == "train"],
        "held": [i for i, g in enumerate(person_groups) if g != "train"],
    }
    for side in ("train", "held"):
        rng.shuffle(free[side])
        needed = sum((row["group"] == "train") == (side == "train") for row in org_rows)
        if needed > len(free[side]):
            raise CbqaError(
                f"{needed} organisations need distinct {side} founders but only {len(free[side])} "
                "such people exist: lower --orgs or raise --people"
            )
    used_years: set[int] = set()
    orgs: list[Organization] = []
    for i, row in enumerate(org_rows, start=1):
        founder = free["train" if row["group"] == "train" else "held"].pop()
        born = int(dates[founder][:4])
        year = rng.randint(born + 25, min(born + 45, LAST_FOUNDING_YEAR))
        for _ in range(50):  # prefer distinct founding years, so a year answer rarely repeats
            if year not in used_years:
                break
            year = rng.randint(born + 25, min(born + 45, LAST_FOUNDING_YEAR))
        used_years.add(year)
        hq = _pick(rng, place_items, row["group"], seen_rate)
        orgs.append(
            Organization(
                f"o{i:04d}", row["name"], row["kind"], row["group"], row["pool"], f"p{founder + 1:04d}", year, hq
            )
        )

    companies = [(o.id, o.pool) for o in orgs if o.kind == "company"]
    universities = [(o.id, o.pool) for o in orgs if o.kind == "university"]
    occupation_items = sorted(occupations.items())
    people = []
    for i in range(config.people):
        group = person_groups[i]
        birthplace = _pick(rng, place_items, group, seen_rate)
        residence = birthplace
        while residence == birthplace:  # pools hold at least two towns each (places >= 4)
            residence = _pick(rng, place_items, group, seen_rate)
        people.append(
            Person(
                id=f"p{i + 1:04d}",
                name=person_names[i],
                gender=genders[i],
                group=group,
                birth_date=dates[i],
                birthplace_id=birthplace,
                residence_id=residence,
                employer_id=_pick(rng, companies, group, seen_rate),
                alma_mater_id=_pick(rng, universities, group, seen_rate),
                occupation=_pick(rng, occupation_items, group, seen_rate),
            )
        )
    return Entities(tuple(people), tuple(orgs), places, occupations)
