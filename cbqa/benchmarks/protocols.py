"""The standard closed-book QA benchmarks and their protocols, as google-research's t5_closed_book_qa defines them
(t5_cbqa/tasks.py and preprocessors.py; T5's t5/evaluation/qa_utils.py for the normalisers):

| dataset | train | validation (checkpoint choice) | test | prefix | normaliser |
|---|---|---|---|---|---|
| natural_questions_open | train[:79168] | train[79168:] | validation (3,610) | `nq question: ` | squad |
| web_questions | train[:3417] | train[3417:] | test (2,032) | `wq question: ` | squad |
| trivia_qa (unfiltered.nocontext) | train[:78785] | train[78785:] | validation (11,313) | `trivia_qa question: ` | triviaqa |

The `full` protocol is their "_test" variant: the whole train split (TriviaQA: train + validation, tested on the
hidden test set, whose answers are not public), no held-out validation. The model trains on the first answer (TriviaQA:
`answer.value`) and is scored over all of them (TriviaQA: the aliases).

Two more, with protocols of their own (no T5 prefix exists for them):
- entity_questions (Sciavolino et al. 2021): per relation, their train / dev / test files; every row keeps its
  relation, so a benchmark reports EM per relation;
- efficientqa (Min et al. 2021): trained on NQ-open's train split, validated on EfficientQA's dev set (1,800) and
  tested on its test set (1,769), asked as NQ (`nq question: `).

T5 read the datasets through TFDS, which stores a split in an order of its own (examples shuffled by key hash when the
dataset is built), so its `train[:3417]` is not the first 3,417 questions of the original file. Here the order is
the source's (the original files, or the Hugging Face dataset's); the prepare manifest records a fingerprint of the
held-out ids so a user can tell which order a held-out split came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["heldout", "full"]
PROTOCOLS = ("heldout", "full")


@dataclass(frozen=True)
class Part:
    """Rows `start:stop` of a source split (None: from the beginning / to the end), in source order."""

    split: str
    start: int | None = None
    stop: int | None = None

    def describe(self) -> str:
        if self.start is None and self.stop is None:
            return self.split
        return f"{self.split}[{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}]"


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face hub dataset: its repository, config, and our source split -> its split name."""

    path: str
    config: str | None
    splits: dict[str, str]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    short: str  # the task's name in training (val_em/SHORT), as configs/paper names it
    title: str
    prefix: str
    normaliser: str
    # our split (train / validation / test) -> the source-split parts it is made of, per protocol
    protocols: dict[str, dict[str, tuple[Part, ...]]]
    # source split -> file names to look for in --source DIR (first found wins); a name with `*` is a glob whose
    # files are read in sorted order, each tagged with its relation (EntityQuestions)
    files: dict[str, tuple[str, ...]]
    hub: HubSource | None = None
    sizes: dict[str, int] = field(default_factory=dict)  # expected rows per source split (checked)
    hidden: tuple[str, ...] = ()  # source splits whose answers are not public (TriviaQA's test)
    # Roberts et al.'s column for this dataset's test set under each protocol (the published rows beside a run's)
    published_column: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _split_at(at: int, source: str = "train") -> tuple[tuple[Part, ...], tuple[Part, ...]]:
    return (Part(source, None, at),), (Part(source, at, None),)


_NQ_TRAIN, _NQ_VAL = _split_at(79168)
_WQ_TRAIN, _WQ_VAL = _split_at(3417)
_TQA_TRAIN, _TQA_VAL = _split_at(78785)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="natural_questions_open",
            short="nq",
            title="Natural Questions (open)",
            prefix="nq question: ",
            normaliser="squad",
            protocols={
                "heldout": {"train": _NQ_TRAIN, "validation": _NQ_VAL, "test": (Part("test"),)},
                "full": {"train": (Part("train"),), "validation": (), "test": (Part("test"),)},
            },
            files={"train": ("NQ-open.train.jsonl",), "test": ("NQ-open.dev.jsonl", "nq-test.qa.csv")},
            hub=HubSource("google-research-datasets/nq_open", "nq_open", {"train": "train", "test": "validation"}),
            sizes={"train": 87925, "test": 3610},
            published_column={"heldout": "NQ", "full": "NQ"},
        ),
        DatasetSpec(
            name="web_questions",
            short="wq",
            title="WebQuestions",
            prefix="wq question: ",
            normaliser="squad",
            protocols={
                "heldout": {"train": _WQ_TRAIN, "validation": _WQ_VAL, "test": (Part("test"),)},
                "full": {"train": (Part("train"),), "validation": (), "test": (Part("test"),)},
            },
            files={
                "train": ("train.jsonl", "webquestions.examples.train.json"),
                "test": ("test.jsonl", "webquestions.examples.test.json"),
            },
            hub=HubSource("stanfordnlp/web_questions", None, {"train": "train", "test": "test"}),
            sizes={"train": 3778, "test": 2032},
            published_column={"heldout": "WQ", "full": "WQ"},
        ),
        DatasetSpec(
            name="trivia_qa",
            short="tqa",
            title="TriviaQA (unfiltered, no context)",
            prefix="trivia_qa question: ",
            normaliser="triviaqa",
            protocols={
                "heldout": {"train": _TQA_TRAIN, "validation": _TQA_VAL, "test": (Part("validation"),)},
                "full": {"train": (Part("train"), Part("validation")), "validation": (), "test": (Part("test"),)},
            },
            files={
                "train": ("unfiltered-web-train.json", "triviaqa-unfiltered/unfiltered-web-train.json"),
                "validation": ("unfiltered-web-dev.json", "triviaqa-unfiltered/unfiltered-web-dev.json"),
                "test": (
                    "unfiltered-web-test-without-answers.json",
                    "triviaqa-unfiltered/unfiltered-web-test-without-answers.json",
                ),
            },
            hub=HubSource(
                "mandarjoshi/trivia_qa",
                "unfiltered.nocontext",
                {"train": "train", "validation": "validation", "test": "test"},
            ),
            sizes={"train": 87622, "validation": 11313, "test": 10832},
            hidden=("test",),
            published_column={"heldout": "TQA dev", "full": "TQA test"},
            note="the full protocol's test set is TriviaQA's hidden test: predictions only, scored by its leaderboard",
        ),
        DatasetSpec(
            name="entity_questions",
            short="eq",
            title="EntityQuestions",
            prefix="question: ",
            normaliser="squad",
            protocols={
                "heldout": {"train": (Part("train"),), "validation": (Part("dev"),), "test": (Part("test"),)},
                "full": {"train": (Part("train"), Part("dev")), "validation": (), "test": (Part("test"),)},
            },
            files={"train": ("train/*.train.json",), "dev": ("dev/*.dev.json",), "test": ("test/*.test.json",)},
            note="every row keeps its relation (P17, ...); --relation keeps some",
        ),
        DatasetSpec(
            name="efficientqa",
            short="eqa",
            title="EfficientQA",
            prefix="nq question: ",
            normaliser="squad",
            protocols={
                "heldout": {"train": (Part("train"),), "validation": (Part("dev"),), "test": (Part("test"),)},
                "full": {"train": (Part("train"),), "validation": (), "test": (Part("test"),)},
            },
            files={
                "train": ("NQ-open.train.jsonl",),
                "dev": ("NQ-open.efficientqa.dev.1.1.jsonl",),
                "test": ("NQ-open.efficientqa.test.1.1.jsonl",),
            },
            sizes={"train": 87925, "dev": 1800, "test": 1769},
            note="trained on NQ-open's train split; EfficientQA's dev set chooses the checkpoint",
        ),
    )
}


def dataset(name: str) -> DatasetSpec:
    from cbqa.core.errors import CbqaError

    if name not in DATASETS:
        raise CbqaError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def source_splits(spec: DatasetSpec, protocol: str) -> list[str]:
    """The source splits a protocol reads, in first-use order."""
    parts = [p.split for ours in spec.protocols[protocol].values() for p in ours]
    return list(dict.fromkeys(parts))
