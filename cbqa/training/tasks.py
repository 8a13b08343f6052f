"""Training tasks as text-to-text examples.

A task turns its source items into `Example(input_text, target_text, answers)`:
- `qa`: closed-book QA, input `question: ...`, target the first answer (evaluation uses all answers);
- `masked`: a masking policy from `ner_masking` applied to a stored spans document, afresh each epoch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ner_masking.masked import unmask


@dataclass(frozen=True)
class Example:
    input_text: str
    target_text: str
    answers: tuple[str, ...] = ()


@dataclass
class TaskConfig:
    """One task of a (possibly multi-task) training mixture."""

    name: str = "qa"
    kind: str = "qa"  # qa | masked
    file: str | None = None  # qa: QA file (any format cbqa reads)
    split: str | None = None  # qa: keep rows with this `split`
    spans: str | None = None  # masked: spans store directory written by `cbqa ner`
    policy: str = "ssm"  # masked: ssm | span_corruption | typed_ssm | ssm_all | mixture
    policy_options: dict[str, Any] = field(default_factory=dict)
    prefix: str | None = None  # default: "question: " for qa, "" for masked (T5's unsupervised objective has none)

    def input_prefix(self) -> str:
        if self.prefix is not None:
            return self.prefix
        return "question: " if self.kind == "qa" else ""


def qa_example(question: str, answers: list[str], prefix: str = "question: ") -> Example:
    return Example(prefix + question.strip(), answers[0], tuple(answers))


class QATask:
    def __init__(self, cfg: TaskConfig) -> None:
        from cbqa.data import read_qa
        from cbqa.errors import CbqaError

        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'qa' needs 'file'")
        self.cfg = cfg
        self.items = read_qa(cfg.file, split=cfg.split)
        self.prefix = cfg.input_prefix()

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        ex = self.items[i]
        return qa_example(ex.question, ex.answers, self.prefix)


class MaskedTask:
    def __init__(self, cfg: TaskConfig) -> None:
        from ner_masking.policies import make_policy
        from ner_masking.store import load_span_store

        from cbqa.errors import CbqaError

        if not cfg.spans:
            raise CbqaError(f"task {cfg.name!r}: kind 'masked' needs 'spans' (a directory written by `cbqa ner`)")
        self.cfg = cfg
        self.policy = make_policy(cfg.policy, **cfg.policy_options)
        docs = list(load_span_store(cfg.spans).docs())
        # Keep the documents the policy can mask at all (e.g. typed_ssm drops docs without the chosen labels).
        self.items = [d for d in docs if self.policy(d, random.Random(0)) is not None]
        if not self.items:
            raise CbqaError(f"task {cfg.name!r}: policy {cfg.policy!r} finds nothing to mask in {cfg.spans}")
        self.prefix = cfg.input_prefix()

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        m = self.policy(self.items[i], rng)
        if m is None:  # cannot happen for kept docs with deterministic candidates; fall back to a fresh draw
            m = self.policy(self.items[i], random.Random(0))
        return Example(self.prefix + m.input_text, m.target_text, (unmask(m.target_text),))


def build_task(cfg: TaskConfig) -> QATask | MaskedTask:
    from cbqa.errors import CbqaError

    if cfg.kind == "qa":
        return QATask(cfg)
    if cfg.kind == "masked":
        return MaskedTask(cfg)
    raise CbqaError(f"task {cfg.name!r}: unknown kind {cfg.kind!r} (qa | masked)")
