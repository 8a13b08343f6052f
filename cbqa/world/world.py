"""`generate_world(config) -> World`: entities, facts, corpus and QA splits with verified overlap labels."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document, QAExample
from cbqa.world.config import CATEGORIES, PERSON_RELATIONS, POOLED_RELATIONS, WorldConfig
from cbqa.world.entities import Entities, draw_entities
from cbqa.world.facts import Fact, read_facts
from cbqa.world.labels import TrainIndex
from cbqa.world.render import Mention, render_corpus
from cbqa.world.splits import HELD_OUT_SPLITS, check_categories, plan_questions

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class GoldLabel:
    id: str
    split: str
    category: str
    labels: tuple[str, ...]
    paraphrase_of: str | None
    answer_in_train: bool
    answer_in_corpus: bool
    subject: str
    relation: str


@dataclass(frozen=True)
class World:
    config: WorldConfig
    seen_answer_rate: float  # the rate actually used (derived from the mix unless given)
    entities: Entities
    facts: tuple[Fact, ...]
    documents: tuple[Document, ...]
    mentions: tuple[Mention, ...]
    questions: tuple[QAExample, ...]
    gold: tuple[GoldLabel, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """Questions per split and category (train has the single category "train")."""
        cat = {g.id: g.category for g in self.gold}
        c = Counter((q.split, cat.get(q.id, "train")) for q in self.questions)
        out: dict[str, dict[str, int]] = {"train": {"train": c[("train", "train")]}}
        for split in ("dev", "test"):
            out[split] = {k: c[(split, k)] for k in CATEGORIES}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "seen_answer_rate_used": self.seen_answer_rate,
            "counts": self.counts(),
            **self.entities.to_json(),
            "facts": [asdict(f) for f in self.facts],
        }


def derived_seen_rate(config: WorldConfig) -> float:
    """Chance a held-out entity's pooled attribute comes from the seen pool, chosen so that test holds about
    mix[answer_overlap_only] / mix[no_overlap] as many answer-overlap questions as no-overlap ones. Dates,
    years and founders are never pooled, hence the correction by the pooled share of relations; the 10%
    margin covers seen values no train question happens to use (the surplus is sampled away)."""
    _, b, c = config.mix

    def facts(relations: tuple[str, ...]) -> int:  # held-out facts asked, up to a common factor
        return sum(config.people if r in PERSON_RELATIONS else config.orgs for r in relations)

    pooled = facts(tuple(r for r in config.relations if r in POOLED_RELATIONS))
    if not pooled:
        return 0.0
    return min(1.0, 1.1 * b / (b + c) * facts(config.relations) / pooled)


class _CorpusLookup:
    """Whether a string occurs in the corpus: stated answers (mentions) answer at once, the rest by search."""

    def __init__(self, documents: tuple[Document, ...] | list[Document], mentions: list[Mention]) -> None:
        self.text = "\n".join(d.text for d in documents)
        self.known = {m.text for m in mentions}

    def __contains__(self, s: str) -> bool:
        return s in self.known or s in self.text


def _gold(questions: list[QAExample], intended: dict[str, str], corpus: _CorpusLookup) -> list[GoldLabel]:
    index = TrainIndex(q for q in questions if q.split == "train")
    gold = []
    for q in questions:
        if q.split not in HELD_OUT_SPLITS:
            continue
        label = index.label(q)
        if label.category != intended[q.id]:
            # The splits are built from the same overlap test, so this means a bug, not bad input.
            raise CbqaError(f"internal error: {q.id} built as {intended[q.id]} but labels as {label.category}")
        gold.append(
            GoldLabel(
                id=q.id,
                split=q.split or "",
                category=label.category,
                labels=label.labels,
                paraphrase_of=label.paraphrase_of,
                answer_in_train=label.answer_in_train,
                answer_in_corpus=any(a in corpus for a in q.answers),
                subject=q.extra["subject"],
                relation=q.extra["relation"],
            )
        )
    return gold


def generate_world(config: WorldConfig) -> World:
    config.validate()
    rng = random.Random(config.seed)
    seen_rate = derived_seen_rate(config) if config.seen_answer_rate is None else config.seen_answer_rate
    try:
        entities = draw_entities(config, rng, seen_rate)
    except ValueError as e:  # a name pool ran dry
        raise CbqaError(str(e)) from None
    facts = read_facts(entities)
    documents, mentions = render_corpus(entities, rng, config.bios_per_entity)
    questions, intended = plan_questions(facts, config, rng)
    order = {s: i for i, s in enumerate(SPLITS)}
    questions.sort(key=lambda q: (order[q.split or ""], q.id))
    gold = _gold(questions, intended, _CorpusLookup(documents, mentions))
    check_categories({g.id: g.category for g in gold}, {g.id: g.split for g in gold})
    return World(
        config, seen_rate, entities, tuple(facts), tuple(documents), tuple(mentions), tuple(questions), tuple(gold)
    )
