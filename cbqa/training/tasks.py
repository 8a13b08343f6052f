"""Training tasks as text-to-text examples.

A task turns item `i` into `Example(input_text, target_text, answers, passages)`:
- `qa`: closed-book QA, input `question: ...`, target the first answer (evaluation uses all answers);
- `masked`: a masking policy from `ner_masking` applied to one document of a spans store, afresh each epoch. The
  store stays memory-mapped; the task holds only the numpy array of the rows its policy can mask (found from the
  store's per-document label bits, not by a Python pass over the documents), so set-up does not grow with the corpus.
  A per-span policy (`ssm_t5cbqa`, Roberts et al.'s format) makes one item per candidate span instead: item i is the
  k-th span of a document, found by bisecting the cumulative span counts of the rows (one integer per row, counted
  with numpy), so an epoch masks every (sentence, span) once;
- `reader` and `reading`: Fusion-in-Decoder reader tasks (a question over its retrieved passages), built by the
  reader's data module (`cbqa.reader.training`, `cbqa reader finetune`), not here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.metrics import DEFAULT_NORMALISER, Normaliser
from ner_masking.masked import unmask

# How far a masked task looks for another document when its policy finds nothing to mask in the drawn one (e.g.
# SSM with `title: true` where every span is shown by the title); each such substitution is counted.
_FALLBACK_TRIES = 64


TaskKind = Literal["qa", "masked", "reader", "reading"]


@dataclass(frozen=True)
class Example:
    input_text: str
    target_text: str
    answers: tuple[str, ...] = ()
    # Fusion-in-Decoder: one encoder input per passage (`question: Q context: title: T text: X`, best first); empty
    # for a plain text-to-text example, whose encoder input is `input_text`.
    passages: tuple[str, ...] = ()


@dataclass
class TaskConfig:
    """One task of a (possibly multi-task) training mixture."""

    name: str = "qa"
    kind: TaskKind = "qa"
    # qa: QA file (any format cbqa reads); reader: `cbqa retrieve` output (questions, answers, passages);
    # reading: `cbqa reader reading-examples` output (sentences of a spans store with their retrieved passages)
    file: str | None = None
    split: str | None = None  # qa: keep rows with this `split`
    spans: str | None = None  # masked: spans store directory written by `cbqa ner`
    policy: str = "ssm"  # masked: ssm | span_corruption | typed_ssm | ssm_all | mixture, or a preset
    policy_options: dict[str, Any] = field(default_factory=dict)
    prefix: str | None = None  # default: "question: " for qa, "" for masked (T5's unsupervised objective has none)
    # qa: this task's own validation set (any QA format), read with this task's prefix; EM logged as val_em/NAME
    val_file: str | None = None
    val_split: str | None = None  # keep val_file rows with this `split`
    # qa: how this task's validation answers are normalised for val_em/NAME (squad | triviaqa; default squad), as the
    # dataset is scored: TriviaQA's checkpoint is chosen by TriviaQA's EM
    normaliser: Normaliser | None = None

    def answer_normaliser(self) -> str:
        return self.normaliser or DEFAULT_NORMALISER

    def input_prefix(self) -> str:
        if self.prefix is not None:
            return self.prefix
        return "question: " if self.kind == "qa" else ""


def qa_example(question: str, answers: list[str], prefix: str = "question: ") -> Example:
    return Example(prefix + question.strip(), answers[0], tuple(answers))


class TokenOffsets:
    """A tokenizer as masking policies see it: text -> character offsets of its tokens (a picklable callable)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> list[tuple[int, int]]:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            return list(backend.encode(text, add_special_tokens=False).offsets)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(o) for o in enc["offset_mapping"]]


class QATask:
    def __init__(self, cfg: TaskConfig) -> None:
        from cbqa.core.formats import read_qa

        if not cfg.file:
            raise CbqaError(f"task {cfg.name!r}: kind 'qa' needs 'file'")
        self.cfg = cfg
        self.items = read_qa(cfg.file, split=cfg.split)
        self.prefix = cfg.input_prefix()
        self.fallbacks = 0

    def __len__(self) -> int:
        return len(self.items)

    def example(self, i: int, rng: random.Random) -> Example:
        ex = self.items[i]
        return qa_example(ex.question, ex.answers, self.prefix)


class MaskedTask:
    """A masking policy over a spans store. With a tokenizer and `max_input_len`, a second copy of the policy gets a
    token budget so that prefix + masked input + EOS always fit the model's input (ner_masking.policies.
    with_token_budget); the stream uses it (`fitted_example`) only for the examples the plain policy makes too long,
    so the common case costs no extra tokenization and is exactly the plain policy's example."""

    def __init__(
        self,
        cfg: TaskConfig,
        tokenizer: Any = None,
        max_input_len: int | None = None,
        max_target_len: int | None = None,
    ) -> None:
        from ner_masking.eligibility import eligible_rows
        from ner_masking.policies import make_policy, with_token_budget
        from ner_masking.store import load_span_store

        if not cfg.spans:
            raise CbqaError(f"task {cfg.name!r}: kind 'masked' needs 'spans' (a directory written by `cbqa ner`)")
        self.cfg = cfg
        self.prefix = cfg.input_prefix()
        self.store = load_span_store(cfg.spans)
        self.policy = make_policy(cfg.policy, **cfg.policy_options)
        self.fitted_policy = self.policy
        if tokenizer is not None and max_input_len:
            offsets = TokenOffsets(tokenizer)
            budget = max_input_len - 1 - len(offsets(self.prefix))  # room for the prefix and EOS
            self.fitted_policy = with_token_budget(self.policy, offsets, budget, max_target_len)
        self.rows: np.ndarray = eligible_rows(self.policy, self.store)
        if not len(self.rows):
            raise CbqaError(f"task {cfg.name!r}: policy {cfg.policy!r} finds nothing to mask in {cfg.spans}")
        self.fallbacks = 0
        self.span_ends: np.ndarray | None = None  # per-span policy: cumulative candidate spans of `rows`
        if getattr(self.policy, "per_span", False):
            from ner_masking.eligibility import span_counts

            self.span_ends = np.cumsum(span_counts(self.policy, self.store)[self.rows], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.span_ends[-1]) if self.span_ends is not None else len(self.rows)

    def example(self, i: int, rng: random.Random) -> Example:
        return self._example(self.policy, i, rng)

    def fitted_example(self, i: int, rng: random.Random) -> Example:
        """Item `i` made with the token budget (for an example the plain policy made too long)."""
        return self._example(self.fitted_policy, i, rng)

    def _example(self, policy: Any, i: int, rng: random.Random) -> Example:
        if self.span_ends is not None:  # item i: the k-th candidate span of row j
            j = int(np.searchsorted(self.span_ends, i, side="right"))
            k = i - (int(self.span_ends[j - 1]) if j else 0)
            doc = self.store.doc(int(self.rows[j]))
            m = policy.example_for(doc, policy.spans(doc)[k], rng)
            return Example(self.prefix + m.input_text, m.target_text, (unmask(m.target_text),))
        for k in range(_FALLBACK_TRIES):
            m = policy(self.store.doc(int(self.rows[(i + k) % len(self.rows)])), rng)
            if m is not None:
                self.fallbacks += k > 0
                return Example(self.prefix + m.input_text, m.target_text, (unmask(m.target_text),))
        raise CbqaError(
            f"task {self.cfg.name!r}: policy {self.cfg.policy!r} found nothing to mask in "
            f"{_FALLBACK_TRIES} documents in a row of {self.cfg.spans}"
        )


PASSAGE_KINDS = ("reader", "reading")  # Fusion-in-Decoder tasks: built by the reader's data module


def build_task(
    cfg: TaskConfig, tokenizer: Any = None, max_input_len: int | None = None, max_target_len: int | None = None
) -> QATask | MaskedTask:
    if cfg.kind == "qa":
        return QATask(cfg)
    if cfg.kind == "masked":
        return MaskedTask(cfg, tokenizer, max_input_len, max_target_len)
    if cfg.kind in PASSAGE_KINDS:
        raise CbqaError(
            f"task {cfg.name!r}: kind {cfg.kind!r} trains a reader over retrieved passages: `cbqa reader finetune`"
        )
    raise CbqaError(f"task {cfg.name!r}: unknown kind {cfg.kind!r} ({' | '.join(get_args(TaskKind))})")
