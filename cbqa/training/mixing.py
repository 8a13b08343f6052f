"""Multi-task mixing (T5 paper, section 3.5) and the epoch plan of the training stream — numpy arithmetic, no torch.

examples-proportional: r_m = min(e_m, K) / sum_n min(e_n, K)
temperature-scaled:    r_m ∝ (min(e_m, K) / sum_n min(e_n, K)) ** (1 / T)    (T = 1 is examples-proportional)

The plan of one epoch on one rank is held in numpy arrays (never a Python list per item): how many examples of
each task every batch holds (`batch_composition`, each task within one example of its rate in every batch), and
which items a task draws (`draw_order`: fresh permutations of its items, cycled when the task is up-sampled, the
same for every rank, which takes every `world_size`-th draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cbqa.core.errors import CbqaError


def mixing_rates(
    sizes: Sequence[int], method: str = "proportional", limit: int | None = None, temperature: float = 1.0
) -> list[float]:
    if not sizes or any(s < 0 for s in sizes):
        raise CbqaError(f"task sizes must be non-negative and non-empty, got {list(sizes)}")
    capped = [min(s, limit) if limit else s for s in sizes]
    total = sum(capped)
    if total == 0:
        raise CbqaError("all tasks are empty")
    props = [c / total for c in capped]
    if method == "proportional":
        return props
    if method == "temperature":
        if temperature <= 0:
            raise CbqaError(f"mixing temperature must be > 0, got {temperature}")
        scaled = [p ** (1.0 / temperature) if p > 0 else 0.0 for p in props]
        z = sum(scaled)
        return [s / z for s in scaled]
    raise CbqaError(f"unknown mixing method {method!r} (proportional | temperature)")


def batch_composition(rates: Sequence[float], batch_size: int, n_batches: int) -> np.ndarray:
    """(n_batches, n_tasks) example counts: every row sums to `batch_size`; task t gets floor(r_t B) or one more,
    the extra slots going to the tasks furthest behind their cumulative share (so over many batches each task's
    count tracks r_t B per batch)."""
    r = np.asarray(rates, dtype=np.float64)
    if batch_size < 1 or n_batches < 0:
        raise CbqaError(f"batch size must be >= 1 and batches >= 0, got {batch_size}, {n_batches}")
    ideal = r * batch_size
    base = np.floor(ideal + 1e-9).astype(np.int64)
    extra = batch_size - int(base.sum())
    out = np.zeros((n_batches, len(r)), dtype=np.int64)
    given = np.zeros(len(r), dtype=np.float64)
    eligible = ideal - base > 1e-9  # only tasks with a fractional share may take an extra slot
    for b in range(n_batches):
        row = base.copy()
        if extra:
            deficit = np.where(eligible, ideal * (b + 1) - (given + base), -np.inf)
            row[np.argsort(-deficit, kind="stable")[:extra]] += 1
        out[b] = row
        given += row
    return out


def draw_order(size: int, count: int, seed: int, epoch: int, task: int) -> np.ndarray:
    """`count` item indices of a task of `size` items for one epoch: whole fresh permutations, cycled as needed."""
    if count <= 0 or size <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch, task, 0x5EED])
    reps = math.ceil(count / size)
    dtype = np.int32 if size < 2**31 else np.int64  # 4 bytes per draw: an epoch of 21M passages is 84 MB per rank
    return np.concatenate([rng.permutation(size).astype(dtype) for _ in range(reps)])[:count]
