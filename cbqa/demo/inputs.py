"""What a study reads: a corpus, QA train / dev / test, and (for the toy world) the true overlap labels.

The demo generates them (`cbqa world` into OUT/world/). A study of one's own data takes a corpus and either one QA
file whose rows carry a `split` (train / dev / test, as ../shared/data/squad_v1.1_dev has it), three QA files (train,
dev, test), or one QA file without splits that `split_seed` splits 80 / 10 / 10 after a seeded shuffle. Either way
the splits are written to OUT/data/{train,dev,test}.jsonl in cbqa's QA format (every answer kept) with
OUT/data/split.json: where they came from, the rule, the counts, and — for QA rows that name the passage they were
written from (`passage_id`) — how many test questions were written from a passage that training questions were
written from too (their answer-bearing passage is shared: closed-book test-train overlap by construction).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.core.formats import QAExample, read_qa, write_qa
from cbqa.core.formats.jsonl import write_json

SPLITS = ("train", "dev", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class StudyInputs:
    corpus: Path
    train: Path
    dev: Path
    test: Path
    gold_overlap: Path | None = None

    def split(self, name: str) -> Path:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]


def split_own_data(qa: tuple[str, ...], out: Path, split_seed: int | None) -> dict[str, Any]:
    """Write OUT/{train,dev,test}.jsonl and OUT/split.json from the user's QA file(s); returns the split record."""
    if len(qa) == 3:
        rows = {name: read_qa(path) for name, path in zip(SPLITS, qa)}
        rule = "three files, as given"
    elif len(qa) == 1 and split_seed is None:
        every = read_qa(qa[0])
        rows = {name: [r for r in every if r.split == name] for name in SPLITS}
        if not all(rows.values()):
            found = sorted({str(r.split) for r in every})
            raise CbqaError(
                f"{qa[0]}: rows need a `split` of train, dev and test (found {found}); or give --split-seed N to "
                "split them 80/10/10, or three files"
            )
        rule = "the rows' `split` field"
    elif len(qa) == 1:
        every = read_qa(qa[0])
        order = list(range(len(every)))
        random.Random(split_seed).shuffle(order)
        cut1, cut2 = round(SPLIT_FRACTIONS[0] * len(order)), round(sum(SPLIT_FRACTIONS[:2]) * len(order))
        parts = (order[:cut1], order[cut1:cut2], order[cut2:])
        rows = {name: [every[i] for i in sorted(part)] for name, part in zip(SPLITS, parts)}
        rule = f"shuffled with random.Random({split_seed}), then 80% / 10% / 10%, each split in file order"
    else:
        raise CbqaError(
            f"--qa takes one file (with a split field, or --split-seed) or three (train dev test), got {len(qa)}"
        )
    for name in SPLITS:
        if not rows[name]:
            raise CbqaError(f"the {name} split has no questions ({rule})")
        write_qa(out / f"{name}.jsonl", rows[name])
    record = {
        "from": [str(Path(p).resolve()) for p in qa],
        "rule": rule,
        "seed": split_seed,
        "counts": {name: len(rows[name]) for name in SPLITS},
        "test_sharing_a_training_passage": shared_passages(rows["train"], rows["test"]),
    }
    write_json(out / "split.json", record)
    return record


def shared_passages(train: list[QAExample], test: list[QAExample]) -> dict[str, Any] | None:
    """How many test questions were written from a passage some training question was written from (rows with a
    `passage_id`); None when the rows do not say."""
    seen = {r.extra.get("passage_id") for r in train} - {None}
    ids = [r.extra.get("passage_id") for r in test]
    if not seen or any(i is None for i in ids):
        return None
    shared = sum(i in seen for i in ids)
    return {"questions": shared, "of": len(ids), "percent": round(100 * shared / len(ids), 1)}
