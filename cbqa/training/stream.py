"""The training stream: mixed, masked, tokenized, length-bucketed batches, correct on many processes.

Why a stream of our own (an `IterableDataset`) rather than Lightning's sampler wrapping or `datasets`/`litdata`
streaming (docs/ssm.md has the longer answer): Lightning's distributed wrapper copies `list(sampler)` in every rank,
a Python list per item of the epoch; a generic streaming dataset splits *items* by node, but here every batch must
hold each task at its mixing rate, masks are drawn per (epoch, item) *after* the split, and batches are bucketed by
the length of the masked, tokenized inputs, which exist only after masking.

The plan (cbqa.training.mixing) is numpy arithmetic that every process computes alike:
- an epoch has `batches_per_epoch` batches per rank; batch b holds `composition[b, t]` examples of task t;
- task t draws its items in `draw_order` (fresh permutations per epoch); rank r takes every `world_size`-th draw,
  so ranks see disjoint items (apart from the padding that makes their batch counts equal);
- batches are grouped in windows of `window` batches; a window's examples are masked (rng seeded by
  seed/epoch/task/item, so the same item gets the same mask on any rank and any worker, and a new one every epoch),
  tokenized, sorted by length within each task, and cut into the window's batches, whose order is then shuffled —
  batches of similar lengths, each still at the mixing rates;
- dataloader worker q of `num_workers` builds windows q, q + num_workers, ...; PyTorch's loader hands out their
  batches round-robin, so batch k of the stream comes from worker k % num_workers;
- the stream is endless (epochs follow each other; training stops at `max_steps`), and starts at `start_batch`,
  which is how a resumed run continues exactly where it stopped (with the same number of workers and ranks).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from cbqa.training.mixing import batch_composition, draw_order
from cbqa.training.tasks import Example


def batches_of_steps(trainer: Any) -> int:
    """The stream's batches (micro-batches, per rank) that the optimizer steps taken so far trained on: where a resumed
    run's stream starts, what a step's dropout seed counts from, and what a checkpoint must have processed to resume
    exactly (cbqa.training.checkpoints.at_step_boundary)."""
    return trainer.global_step * max(1, int(trainer.accumulate_grad_batches))


@dataclass(frozen=True)
class StreamPlan:
    sizes: tuple[int, ...]
    rates: tuple[float, ...]
    batch_size: int
    samples_per_epoch: int
    seed: int = 0
    world_size: int = 1
    rank: int = 0
    window: int = 32  # batches per length-bucketing window; 1 = no bucketing

    @cached_property
    def batches_per_epoch(self) -> int:
        return max(1, math.ceil(self.samples_per_epoch / (self.batch_size * self.world_size)))

    @cached_property
    def composition(self) -> np.ndarray:
        return batch_composition(self.rates, self.batch_size, self.batches_per_epoch)

    @cached_property
    def cumulative(self) -> np.ndarray:
        """(batches + 1, tasks): examples of each task before batch b in an epoch."""
        return np.vstack([np.zeros(len(self.sizes), np.int64), np.cumsum(self.composition, axis=0)])

    @cached_property
    def windows_per_epoch(self) -> int:
        return math.ceil(self.batches_per_epoch / self.window)

    def window_batches(self, w: int) -> range:
        """The epoch's batch indices in window `w` (the last window of an epoch may be shorter)."""
        return range(w * self.window, min((w + 1) * self.window, self.batches_per_epoch))

    def rank_draws(self, epoch: int, task: int) -> np.ndarray:
        """This rank's items of `task` in `epoch`: every world_size-th of the task's draws."""
        per_rank = int(self.cumulative[-1, task])
        order = draw_order(self.sizes[task], per_rank * self.world_size, self.seed, epoch, task)
        return order[self.rank :: self.world_size]


def _rng(seed: int, epoch: int, task: int, item: int) -> random.Random:
    # Per-(epoch, item) seed: masks are fresh each epoch, reproducible, and the same on any rank or worker. An int
    # seed (distinct for distinct tuples) costs a tenth of a string one.
    return random.Random(((abs(seed) * 1_000_003 + epoch) * 1_009 + task) * 10**12 + item)


@dataclass
class Encoded:
    input_ids: list[int]  # the encoder input; empty for a Fusion-in-Decoder example (see `passages`)
    labels: list[int]
    example: Example
    task: int
    item: int
    truncated: bool = False
    passages: list[list[int]] | None = None  # Fusion-in-Decoder: one encoder input per passage

    @property
    def length(self) -> int:
        """Input tokens the encoder reads."""
        return sum(map(len, self.passages)) if self.passages is not None else len(self.input_ids)

    def encoder_inputs(self) -> list[list[int]]:
        return self.passages if self.passages is not None else [self.input_ids]


_SENTINEL = re.compile(r"(<extra_id_\d+>)")


class Encoder:
    """Tokenizes examples; inputs or targets longer than the model takes are cut (keeping EOS) and flagged.

    For a T5 tokenizer with its sentencepiece model (`spiece.model`, as every T5 checkpoint and `cbqa tokenizer` have),
    text is encoded by sentencepiece itself, sentinels looked up by token: ~10x faster than the tokenizers library's
    unigram model on this machine, and the same ids — the first text of every call is checked against the
    tokenizer, and any difference switches this encoder to the tokenizer for good (with a warning).
    """

    def __init__(self, tokenizer: Any, max_input_len: int, max_target_len: int) -> None:
        self.tokenizer, self.max_input_len, self.max_target_len = tokenizer, max_input_len, max_target_len
        self._spm = _sentencepiece(tokenizer)
        self._eos = tokenizer.eos_token_id
        self._special: dict[str, int] = {}  # sentinel text -> id (the tokenizer's look-up is slow)

    def __getstate__(self) -> dict[str, Any]:  # a SentencePieceProcessor does not pickle: rebuilt in the worker
        return {k: v for k, v in self.__dict__.items() if k != "_spm"} | {
            "_spm": None,
            "_use_spm": self._spm is not None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        use = state.pop("_use_spm", False)
        self.__dict__.update(state)
        self._spm = _sentencepiece(self.tokenizer) if use else None

    def _tokenizer_ids(self, texts: Sequence[str]) -> list[list[int]]:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)  # a fast tokenizer's Rust core: no Python wrapping
        if backend is not None:
            return [e.ids for e in backend.encode_batch(list(texts), add_special_tokens=True)]
        return self.tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]

    def _spm_ids(self, texts: Sequence[str]) -> list[list[int]]:
        parts = [_SENTINEL.split(t) for t in texts]
        pieces = [p for ps in parts for k, p in enumerate(ps) if k % 2 == 0 and p]
        encoded = iter(self._spm.encode(pieces, num_threads=1))
        out = []
        for ps in parts:
            ids: list[int] = []
            for k, p in enumerate(ps):
                if k % 2:
                    if p not in self._special:
                        self._special[p] = self.tokenizer.convert_tokens_to_ids(p)
                    ids.append(self._special[p])
                elif p:
                    ids.extend(next(encoded))
            out.append(ids + [self._eos])
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        if self._spm is not None:
            ids = self._spm_ids(texts)
            if ids[0] == self._tokenizer_ids(texts[:1])[0]:
                return ids
            import warnings

            warnings.warn(
                "sentencepiece and the tokenizer disagree on a text; tokenizing with the tokenizer from now on",
                stacklevel=2,
            )
            self._spm = None
        return self._tokenizer_ids(texts)

    def ids(self, texts: Sequence[str], limit: int) -> tuple[list[list[int]], list[bool]]:
        ids = self.token_ids(texts)
        cut = [len(seq) > limit for seq in ids]
        return [seq[: limit - 1] + seq[-1:] if c else seq for seq, c in zip(ids, cut)], cut  # keep the closing EOS

    def encode(self, examples: Sequence[Example]) -> tuple[list[list[int]], list[list[int]], list[bool]]:
        inputs, cut_in = self.ids([e.input_text for e in examples], self.max_input_len)
        targets, cut_out = self.ids([e.target_text for e in examples], self.max_target_len)
        return inputs, targets, [a or b for a, b in zip(cut_in, cut_out)]

    def encoded(self, examples: Sequence[Example], task: int = 0, items: Sequence[int] | None = None) -> list[Encoded]:
        """Tokenized examples; a Fusion-in-Decoder example's passages are each cut to `max_input_len` (keeping EOS)."""
        items = list(range(len(examples))) if items is None else [int(i) for i in items]
        if not any(e.passages for e in examples):
            inputs, targets, cut = self.encode(examples)
            return [
                Encoded(x, y, e, task, i, c)
                for x, y, e, i, c in zip(inputs, targets, examples, items, cut, strict=True)
            ]
        targets, cut_out = self.ids([e.target_text for e in examples], self.max_target_len)
        texts = [list(e.passages) or [e.input_text] for e in examples]
        flat, cut_flat = self.ids([t for group in texts for t in group], self.max_input_len)
        out, at = [], 0
        for e, group, y, c, i in zip(examples, texts, targets, cut_out, items, strict=True):
            n = len(group)
            out.append(Encoded([], y, e, task, i, c or any(cut_flat[at : at + n]), flat[at : at + n]))
            at += n
        return out


def _sentencepiece(tokenizer: Any) -> Any:
    """The tokenizer's own sentencepiece model, when it is a T5 tokenizer that has one; else None."""
    path = getattr(tokenizer, "vocab_file", None)
    if not path or not str(path).endswith(".model") or not Path(path).is_file() or "T5" not in type(tokenizer).__name__:
        return None
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(path))


def pad_batch(inputs: Sequence[list[int]], targets: Sequence[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest in the batch; label padding is -100 so the loss ignores it."""
    li, lt = max(map(len, inputs)), max(map(len, targets))
    input_ids = torch.tensor([x + [pad_id] * (li - len(x)) for x in inputs], dtype=torch.long)
    attention = torch.tensor([[1] * len(x) + [0] * (li - len(x)) for x in inputs], dtype=torch.long)
    labels = torch.tensor([y + [-100] * (lt - len(y)) for y in targets], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def pad_passages(
    examples: Sequence[Sequence[Sequence[int]]], pad_id: int, k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of each example's passage inputs -> (input_ids, attention_mask) of shape (B, K, L).

    K is the most passages of any example (or `k`), L the longest passage input; missing passages are padding
    slots with an all-zero mask."""
    k = k or max(len(p) for p in examples)
    length = max((len(ids) for p in examples for ids in p), default=1)
    ids = torch.full((len(examples), k, length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), k, length), dtype=torch.long)
    for i, passages in enumerate(examples):
        if len(passages) > k:
            raise ValueError(f"example {i} has {len(passages)} passages, more than {k}")
        for j, seq in enumerate(passages):
            ids[i, j, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[i, j, : len(seq)] = 1
    return ids, mask


def collate(encoded: Sequence[Encoded], pad_id: int, fallbacks: int = 0) -> dict[str, Any]:
    """A padded batch: input_ids (B, L), or (B, K, L) when an example reads passages (Fusion-in-Decoder; a plain
    example in such a batch reads its own input as its one passage)."""
    if any(e.passages is not None for e in encoded):
        input_ids, attention = pad_passages([e.encoder_inputs() for e in encoded], pad_id)
        targets = [e.labels for e in encoded]
        lt = max(map(len, targets))
        labels = torch.tensor([y + [-100] * (lt - len(y)) for y in targets], dtype=torch.long)
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
    else:
        batch = pad_batch([e.input_ids for e in encoded], [e.labels for e in encoded], pad_id)
    real = sum(e.length for e in encoded)
    batch["answers"] = [list(e.example.answers) for e in encoded]
    # Per-batch data statistics, summed by the DataStats callback into the run summary (order: STAT_NAMES).
    truncated = sum(e.truncated for e in encoded)
    batch["stats"] = torch.tensor([len(encoded), real, batch["input_ids"].numel() - real, truncated, fallbacks])
    return batch


STAT_NAMES = ("examples", "input_tokens", "input_padding", "truncated", "policy_fallbacks")


class MixtureStream(IterableDataset):
    def __init__(
        self,
        tasks: Sequence[Any],
        plan: StreamPlan,
        encoder: Encoder,
        start_batch: int = 0,
        trace_dir: str | None = None,
    ) -> None:
        self.tasks, self.plan, self.encoder = list(tasks), plan, encoder
        self.start_batch, self.trace_dir = start_batch, trace_dir
        self._draws: dict[tuple[int, int], np.ndarray] = {}  # (epoch, task) -> this rank's draws, current epoch only

    def _rank_draws(self, epoch: int, task: int) -> np.ndarray:
        if (epoch, task) not in self._draws:
            self._draws = {k: v for k, v in self._draws.items() if k[0] == epoch}
            self._draws[(epoch, task)] = self.plan.rank_draws(epoch, task)
        return self._draws[(epoch, task)]

    # -- which windows and batches this process makes -----------------------------------------------------------
    def _windows(self, worker: int, workers: int) -> Iterator[tuple[int, int, int]]:
        """(epoch, window, batches of it to skip) that this worker builds, in order.

        Without a resume, worker q builds windows q, q + workers, ... and the loader hands out batch k of the stream
        from worker k % workers. A loader restarted at `start_batch` K hands its first batch out from worker 0 again,
        so its worker q takes the place of the uninterrupted run's worker (K + q) % workers, from that worker's
        ((K + q) // workers)-th batch on: the resumed stream continues with batch K exactly.
        """
        p = self.plan
        original = (self.start_batch + worker) % workers
        skip = (self.start_batch + worker) // workers  # that worker's batches the stream consumed already
        g = original
        while True:
            epoch, w = divmod(g, p.windows_per_epoch)
            n = len(p.window_batches(w))
            if skip >= n:
                skip -= n
            else:
                yield epoch, w, skip
                skip = 0
            g += workers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        trace = self._trace_file(worker)
        try:
            for epoch, w, skip in self._windows(worker, workers):
                yield from self._window(epoch, w, trace)[skip:]
        finally:
            if trace is not None:
                trace.close()

    # -- one window ---------------------------------------------------------------------------------------------
    def _window(self, epoch: int, w: int, trace: Any) -> list[dict[str, Any]]:
        p = self.plan
        batches = p.window_batches(w)
        b0, b1 = batches.start, batches.stop
        fallbacks_before = sum(t.fallbacks for t in self.tasks)
        per_task: list[list[Encoded]] = []
        for t, task in enumerate(self.tasks):
            items = self._rank_draws(epoch, t)[p.cumulative[b0, t] : p.cumulative[b1, t]]
            examples = [task.example(int(i), _rng(p.seed, epoch, t, int(i))) for i in items]
            if not examples:
                per_task.append([])
                continue
            enc = self.encoder.encoded(examples, t, items)
            if any(e.truncated for e in enc) and hasattr(task, "fitted_example"):
                # Too long for the model: made again with the token budget (the same rng seed, so still a function of
                # epoch and item), which narrows the context around the span instead of losing the sentinel.
                redo = [k for k, e in enumerate(enc) if e.truncated]
                again = self.encoder.encoded(
                    [task.fitted_example(int(items[k]), _rng(p.seed, epoch, t, int(items[k]))) for k in redo],
                    t,
                    [items[k] for k in redo],
                )
                for k, e in zip(redo, again, strict=True):
                    enc[k] = e
            if p.window > 1:  # bucketing: similar lengths side by side (stable, so equal lengths keep draw order)
                enc.sort(key=lambda e: e.length)
            per_task.append(enc)
        fallbacks = sum(t.fallbacks for t in self.tasks) - fallbacks_before
        out, taken = [], [0] * len(self.tasks)
        for b in batches:
            members: list[Encoded] = []
            for t, n in enumerate(p.composition[b]):
                members += per_task[t][taken[t] : taken[t] + int(n)]
                taken[t] += int(n)
            out.append(collate(members, self.encoder.tokenizer.pad_token_id, fallbacks if b == b0 else 0))
            if trace is not None:
                self._write_trace(trace, epoch, b, members)
        order = (
            np.random.default_rng([p.seed, epoch, w, 0xB0C]).permutation(len(out)) if p.window > 1 else range(len(out))
        )
        return [out[i] for i in order]

    # -- tracing (a debugging aid, and how the tests see what every rank and worker trained on) -------------------
    def _trace_file(self, worker: int) -> Any:
        if not self.trace_dir:
            return None
        Path(self.trace_dir).mkdir(parents=True, exist_ok=True)
        return open(Path(self.trace_dir) / f"rank{self.plan.rank}-worker{worker}.jsonl", "a", encoding="utf-8")

    def _write_trace(self, f: Any, epoch: int, batch: int, members: Sequence[Encoded]) -> None:
        for m in members:
            row = {
                "rank": self.plan.rank,
                "epoch": epoch,
                "batch": batch,
                "task": m.task,
                "item": m.item,
                "input": m.example.input_text,
                "target": m.example.target_text,
            }
            if m.example.passages:  # Fusion-in-Decoder: the passage inputs the example is read over
                row["passages"] = list(m.example.passages)
            f.write(json.dumps(row) + "\n")
        f.flush()
