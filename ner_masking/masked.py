"""What a masking policy returns, and the policy protocol."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Protocol

from ner_masking.store import SpanDoc


@dataclass(frozen=True)
class MaskedExample:
    """A T5 (input, target) pair. `label` is the masked span's entity label where there is one;
    `policy` names the policy that made it (useful in mixtures and previews)."""

    input_text: str
    target_text: str
    label: str | None
    policy: str = ""


class Policy(Protocol):
    """Turns a document into one masked example, or None when the document has nothing to mask.

    Implementations draw every random choice from `rng`, so a seeded rng reproduces an epoch, and
    calling again with the rng's next state gives a fresh masking (dynamic masking)."""

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None: ...


def sentinel(i: int) -> str:
    """T5's i-th sentinel as text; the tokenizer maps it to its token (never vocab-size arithmetic)."""
    return f"<extra_id_{i}>"


_SENTINEL = re.compile(r"<extra_id_\d+>")


def unmask(target: str) -> str:
    """The span text of a target: `<extra_id_0> Paris <extra_id_1>` -> `Paris` (sentinels dropped)."""
    return _SENTINEL.sub(" ", target).strip()
