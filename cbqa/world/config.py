"""The knobs of the toy world, validated up front so a bad size fails with one clear line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.world import names

PERSON_RELATIONS = ("birth_date", "birthplace", "residence", "employer", "alma_mater", "occupation")
ORG_RELATIONS = ("founder", "founding_year", "headquarters")
RELATIONS = PERSON_RELATIONS + ORG_RELATIONS
# Relations whose answer may be shared by many subjects, drawn from the seen or the unseen pool.
POOLED_RELATIONS = ("birthplace", "residence", "employer", "alma_mater", "occupation", "headquarters")
# Occupations ("architect") are common nouns that NER does not tag, so salient span masking cannot target
# them; they are stated in the corpus but asked about only on request (--relations).
DEFAULT_RELATIONS = tuple(r for r in RELATIONS if r != "occupation")

CATEGORIES = ("question_overlap", "answer_overlap_only", "no_overlap")


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and split proportions of a generated world. Same config -> byte-identical files."""

    seed: int = 0
    people: int = 100
    orgs: int = 20  # companies and universities together (about 60:40)
    places: int = 25  # cities
    bios_per_entity: int = 3  # paragraphs per person and per organisation, each from other templates
    train_people_fraction: float = 0.5  # people (and organisations) whose facts QA-train asks about
    dev_fraction: float = 0.2  # share of the held-out people and organisations that go to dev, not test
    # Target share of each category in test (and dev): question_overlap, answer_overlap_only, no_overlap.
    mix: tuple[float, float, float] = (0.25, 0.25, 0.5)
    train_paraphrases: int = 1  # question templates asked per fact in train (the rest are left for test)
    # Chance that a held-out entity's city / organisation / occupation comes from the pool train answers
    # use (-> answer_overlap_only) rather than a held-out pool (-> no_overlap). None: derived from `mix`.
    seen_answer_rate: float | None = None
    relations: tuple[str, ...] = field(default=DEFAULT_RELATIONS)  # relations asked as questions

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise CbqaError(msg)

        need(self.people >= 10, f"--people must be at least 10, got {self.people}")
        need(self.people <= names.capacity("person"), f"--people must be at most {names.capacity('person')}")
        need(self.orgs >= 4, f"--orgs must be at least 4 (2 companies, 2 universities), got {self.orgs}")
        need(self.places >= 4, f"--places must be at least 4, got {self.places}")
        max_places = names.capacity("city") * 9 // 10  # leave slack for drawing distinct names
        need(self.places <= max_places, f"--places must be at most {max_places}, got {self.places}")
        need(self.orgs <= names.capacity("stem") // 2, f"--orgs must be at most {names.capacity('stem') // 2}")
        need(self.bios_per_entity >= 1, f"--bios-per-entity must be at least 1, got {self.bios_per_entity}")
        need(0 < self.train_people_fraction < 1, "--train-people-fraction must lie strictly between 0 and 1")
        need(0 < self.dev_fraction < 1, "--dev-fraction must lie strictly between 0 and 1")
        held_out = self.people - round(self.people * self.train_people_fraction)
        need(2 * self.orgs <= self.people, "--orgs must be at most half of --people (each has its own founder)")
        need(held_out >= 4, "too few held-out people: lower --train-people-fraction or raise --people")
        need(len(self.mix) == 3 and all(m > 0 for m in self.mix), "--mix needs three positive shares")
        need(1 <= self.train_paraphrases <= 3, "--train-paraphrases must be 1, 2 or 3 (4 templates per relation)")
        if self.seen_answer_rate is not None:
            need(0 <= self.seen_answer_rate <= 1, "--seen-answer-rate must lie between 0 and 1")
        unknown = [r for r in self.relations if r not in RELATIONS]
        need(not unknown, f"unknown relation(s) {unknown}; choose from {', '.join(RELATIONS)}")
        need(bool(self.relations), "--relations must name at least one relation")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mix"] = dict(zip(CATEGORIES, self.mix))
        d["relations"] = list(self.relations)
        return d
