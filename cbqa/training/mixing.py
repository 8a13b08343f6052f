"""Multi-task mixing rates (T5 paper, section 3.5) — pure arithmetic, no torch.

examples-proportional: r_m = min(e_m, K) / sum_n min(e_n, K)
temperature-scaled:    r_m ∝ (min(e_m, K) / sum_n min(e_n, K)) ** (1 / T)    (T = 1 is examples-proportional)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def mixing_rates(sizes: Sequence[int], method: str = "proportional", limit: int | None = None, temperature: float = 1.0) -> list[float]:
    if not sizes or any(s < 0 for s in sizes):
        raise ValueError(f"task sizes must be non-negative and non-empty, got {list(sizes)}")
    capped = [min(s, limit) if limit else s for s in sizes]
    total = sum(capped)
    if total == 0:
        raise ValueError("all tasks are empty")
    props = [c / total for c in capped]
    if method == "proportional":
        return props
    if method == "temperature":
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        scaled = [p ** (1.0 / temperature) if p > 0 else 0.0 for p in props]
        z = sum(scaled)
        return [s / z for s in scaled]
    raise ValueError(f"unknown mixing method {method!r} (proportional | temperature)")


def epoch_schedule(
    sizes: Sequence[int], rates: Sequence[float], num_samples: int, seed: int, epoch: int
) -> list[tuple[int, int]]:
    """The (task, item) pairs of one epoch: each task gets round(rate * num_samples) draws, walking a fresh
    permutation of its items (cycled when a task is up-sampled), and the whole list is shuffled."""
    rng = random.Random(f"{seed}-{epoch}")
    counts = [int(math.floor(r * num_samples + 0.5)) if sizes[t] else 0 for t, r in enumerate(rates)]
    pairs: list[tuple[int, int]] = []
    for t, (size, count) in enumerate(zip(sizes, counts)):
        order: list[int] = []
        while len(order) < count:
            perm = list(range(size))
            rng.shuffle(perm)
            order.extend(perm)
        pairs.extend((t, i) for i in order[:count])
    rng.shuffle(pairs)
    return pairs
