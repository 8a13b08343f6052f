"""Where a reader's right answers come from: copied from the passages it read, or produced without them.

Lewis et al. (2021) show that open-book models, too, often answer test questions by repeating training answers.
For a reader whose predictions carry the passages it read (`cbqa reader predict` writes `passages` and `read`), each
exact-match answer is either **copied** (it occurs in a passage read: SQuAD-normalised tokens as a contiguous
sequence of a passage's normalised tokens) or **not in the passages** (a training answer recalled, or a guess).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cbqa.core.metrics import DEFAULT_NORMALISER, max_em, normalize_answer


def occurs_in(answer: str, texts: Iterable[str]) -> bool:
    """Does the normalised answer occur, token for token, in one of the normalised texts?"""
    needle = normalize_answer(answer)
    if not needle:
        return False
    padded = f" {needle} "
    return any(padded in f" {normalize_answer(t)} " for t in texts)


def passages_read(extra: Mapping[str, Any]) -> list[str] | None:
    """The passage texts (and titles) a prediction row says its reader read; None for a system without passages."""
    passages = extra.get("passages")
    if not isinstance(passages, list):
        return None
    read = extra.get("read")
    shown = passages[: read if isinstance(read, int) and read >= 0 else len(passages)]
    return [str(p.get(key, "")) for p in shown if isinstance(p, dict) for key in ("text", "title")]


def copy_breakdown(
    predictions: Sequence[str],
    golds: Sequence[Sequence[str]],
    passages: Sequence[Sequence[str]],
    normaliser: str = DEFAULT_NORMALISER,
) -> dict[str, float | int | None]:
    """EM points (percent of n) from answers copied from the passages read and from answers not in them, and the
    copied share of the EM (percent; None without a right answer). A right answer is one `normaliser`'s EM calls
    right (the EM it splits); whether it occurs in a passage is always tested SQuAD-normalised."""
    n = len(predictions)
    right = [max_em(p, g, normaliser) > 0 for p, g in zip(predictions, golds, strict=True)]
    copied = [r and occurs_in(p, texts) for r, p, texts in zip(right, predictions, passages, strict=True)]
    n_right, n_copied = sum(right), sum(copied)
    return {
        "em_copied": 100.0 * n_copied / n if n else None,
        "em_not_in_passages": 100.0 * (n_right - n_copied) / n if n else None,
        "copied_share": 100.0 * n_copied / n_right if n_right else None,
    }
