"""QA splits with known overlap: train asks about the train group; dev and test each mix paraphrases of
train questions (question_overlap), new questions whose answer train has seen (answer_overlap_only), and
questions about held-out entities whose answers train never gave (no_overlap)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cbqa.core.errors import CbqaError
from cbqa.core.formats import QAExample
from cbqa.world.config import CATEGORIES, WorldConfig
from cbqa.world.facts import Fact
from cbqa.world.labels import TrainIndex
from cbqa.world.questions import N_TEMPLATES, ask

HELD_OUT_SPLITS = ("test", "dev")  # test first: it gets the first pick of train facts to paraphrase


@dataclass(frozen=True)
class Planned:
    fact: Fact
    template: int
    split: str
    category: str | None  # None in train


def _example(p: Planned) -> QAExample:
    f = p.fact
    return QAExample(
        id=f"q-{f.subject_id}-{f.relation}-{p.template}",
        question=ask(f, p.template),
        answers=list(f.answers),
        split=p.split,
        extra={"relation": f.relation, "subject": f.subject, "subject_id": f.subject_id, "template": p.template},
    )


def _targets(available: dict[str, int], mix: tuple[float, float, float]) -> dict[str, int]:
    """How many of each category to take: all no_overlap questions, the others in proportion to the mix."""
    share = dict(zip(CATEGORIES, mix))
    total = available["no_overlap"] / share["no_overlap"]
    return {c: min(available[c], round(total * share[c])) if c != "no_overlap" else available[c] for c in CATEGORIES}


def plan_questions(
    facts: list[Fact], config: WorldConfig, rng: random.Random
) -> tuple[list[QAExample], dict[str, str]]:
    """QA rows of all splits, and the category each dev/test question was built to have (by id)."""
    asked = [f for f in facts if f.relation in config.relations]
    train_facts = [f for f in asked if f.group == "train"]
    train = [
        Planned(f, t, "train", None)
        for f in train_facts
        for t in sorted(rng.sample(range(N_TEMPLATES), config.train_paraphrases))
    ]
    train_templates = {(p.fact.subject_id, p.fact.relation): set() for p in train}
    for p in train:
        train_templates[(p.fact.subject_id, p.fact.relation)].add(p.template)
    index = TrainIndex(_example(p) for p in train)

    paraphrasable = list(train_facts)
    rng.shuffle(paraphrasable)
    planned = list(train)
    for split in HELD_OUT_SPLITS:
        held = [f for f in asked if f.group == split]
        by_cat: dict[str, list[Fact]] = {
            "answer_overlap_only": [f for f in held if index.answer_overlap(f.answers)],
            "no_overlap": [f for f in held if not index.answer_overlap(f.answers)],
            "question_overlap": paraphrasable,
        }
        want = _targets({c: len(v) for c, v in by_cat.items()}, config.mix)
        chosen_qo = paraphrasable[: want["question_overlap"]]
        paraphrasable = paraphrasable[want["question_overlap"] :]  # dev paraphrases other facts than test
        for f in chosen_qo:
            free = [t for t in range(N_TEMPLATES) if t not in train_templates[(f.subject_id, f.relation)]]
            planned.append(Planned(f, rng.choice(free), split, "question_overlap"))
        for cat in ("answer_overlap_only", "no_overlap"):
            for f in sorted(rng.sample(by_cat[cat], want[cat]), key=lambda f: (f.subject_id, f.relation)):
                planned.append(Planned(f, rng.randrange(N_TEMPLATES), split, cat))

    examples = [_example(p) for p in planned]
    intended = {ex.id: p.category for p, ex in zip(planned, examples) if p.category is not None}
    return examples, intended


def check_categories(categories: dict[str, str], splits: dict[str, str]) -> None:
    """Every held-out split must hold every category; a world too small for that is an error, not a gap.
    `categories` and `splits` map question ids to their computed category and split."""
    present = {(splits[i], c) for i, c in categories.items()}
    for split in HELD_OUT_SPLITS:
        for cat in CATEGORIES:
            if (split, cat) not in present:
                raise CbqaError(
                    f"the world is too small: {split} has no {cat} questions; raise --people / --orgs / --places"
                )
