"""Reciprocal rank fusion (Cormack et al. 2009): score(d) = sum over rankings of 1 / (k + rank(d)), rank from 1."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60  # the constant from the RRF paper, also Pyserini's default for fusion


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, top: int | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse best-first rankings of ids into one best-first list of (id, fused score).

    Ties keep the order in which ids were first seen (earlier rankings first), so the result is deterministic.
    """
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    fused = sorted(scores.items(), key=lambda kv: -kv[1])  # sorted() is stable: first-seen wins ties
    return fused if top is None else fused[:top]
