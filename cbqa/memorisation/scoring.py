"""Log-likelihood of many targets given one input, batched: the encoder runs once per input and its states are
shared (expanded, not copied) across a batch of targets, so ranking 10^5 candidate secrets costs decoder passes only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch


@torch.inference_mode()
def target_log_likelihoods(
    net,
    tok,
    source: str,
    targets: Sequence[str],
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Sum of token log-probabilities (natural log) of each target, EOS included, given `source`; float64 array."""
    enc = tok([source], return_tensors="pt").to(device)
    hidden = net.get_encoder()(**enc).last_hidden_state
    out = np.empty(len(targets), dtype=np.float64)
    for lo in range(0, len(targets), batch_size):
        chunk = list(targets[lo : lo + batch_size])
        labels = tok(chunk, return_tensors="pt", padding=True).input_ids.to(device)
        n = labels.shape[0]
        logits = net(
            encoder_outputs=(hidden.expand(n, -1, -1),),
            attention_mask=enc.attention_mask.expand(n, -1),
            decoder_input_ids=net.prepare_decoder_input_ids_from_labels(labels=labels),
        ).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        logp = logp.masked_fill(labels == tok.pad_token_id, 0.0)
        out[lo : lo + n] = logp.sum(dim=1).double().cpu().numpy()
        if progress:
            progress(n)
    return out


@torch.inference_mode()
def pair_log_likelihoods(
    net, tok, sources: Sequence[str], targets: Sequence[str], batch_size: int = 64, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of token log-probabilities, number of target tokens) of each (source, target) pair."""
    sums, counts = np.empty(len(sources)), np.empty(len(sources), dtype=np.int64)
    for lo in range(0, len(sources), batch_size):
        enc = tok(list(sources[lo : lo + batch_size]), return_tensors="pt", padding=True).to(device)
        labels = tok(list(targets[lo : lo + batch_size]), return_tensors="pt", padding=True).input_ids.to(device)
        logits = net(**enc, decoder_input_ids=net.prepare_decoder_input_ids_from_labels(labels=labels)).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        keep = labels != tok.pad_token_id
        n = labels.shape[0]
        sums[lo : lo + n] = logp.masked_fill(~keep, 0.0).sum(dim=1).double().cpu().numpy()
        counts[lo : lo + n] = keep.sum(dim=1).cpu().numpy()
    return sums, counts


@torch.inference_mode()
def grid_log_likelihoods(
    net,
    tok,
    sources: Sequence[str],
    targets: Sequence[str],
    batch_size: int | None = None,
    reuse_encoder: bool = True,
    eos: bool = True,
    max_input_len: int | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts): `sums[i, j]` the sum of token log-probabilities (natural log) of `targets[j]` given
    `sources[i]`, float64 [S, T]; `counts[j]` the number of tokens of `targets[j]`. The target tokens end with EOS,
    unless `eos=False` (a span target `<extra_id_0> ... <extra_id_1>` ends at its closing sentinel).

    Every (source, target) pair is scored, in batches of about `batch_size` pairs (default: as many as keep the
    logits near 32 MB): several sources with all the targets (or one source with a slice of them), the targets taken
    by token length so that none is padded. With
    `reuse_encoder` (the default) what depends on the source alone is computed once per source: the encoder, the
    decoder's cross-attention keys and values, and the decoder over the targets' common first tokens (for cloze
    targets `<extra_id_0> ...`: the start token and the sentinel), kept in the decoder's cache and repeated for the
    source's targets (`EncoderDecoderCache.batch_repeat_interleave`, as beam search does). `reuse_encoder=False` runs
    the same batches with every pair run whole, the encoder recomputed each time (what the reuse saves:
    bench/cloze_rank.py); the scores agree to float rounding."""
    encoder = net.get_encoder()
    pad = tok.pad_token_id
    enc = tok(
        list(sources), padding=True, truncation=max_input_len is not None, max_length=max_input_len, return_tensors="pt"
    )
    labels_all = tok(list(targets), padding=True, add_special_tokens=eos, return_tensors="pt").input_ids
    counts = (labels_all != pad).sum(dim=1).numpy().astype(np.int64)
    n_src, n_tgt = len(sources), len(targets)
    sums = np.empty((n_src, n_tgt), dtype=np.float64)
    if not n_src or not n_tgt:
        return sums, counts
    if batch_size is None:
        batch_size = max(16, min(4096, 2**23 // (net.config.vocab_size * labels_all.shape[1])))
    # Targets by token length, so a batch pads none of them: one slice per length, at most `batch_size` long.
    order = np.argsort(counts, kind="stable")
    slices = [
        group[lo : lo + batch_size]
        for length in np.unique(counts)
        for group in [order[counts[order] == length]]
        for lo in range(0, len(group), batch_size)
    ]
    sources_per_batch = max(1, batch_size // n_tgt)
    for s0 in range(0, n_src, sources_per_batch):
        mask = enc.attention_mask[s0 : s0 + sources_per_batch]
        width = int(mask.sum(dim=1).max())
        ids, mask = enc.input_ids[s0 : s0 + sources_per_batch, :width].to(device), mask[:, :width].to(device)
        n = ids.shape[0]
        head = _Head.of(net, encoder, ids, mask, labels_all, counts) if reuse_encoder else None
        for part in slices:
            labels = labels_all[torch.from_numpy(part), : int(counts[part[0]])].to(device)
            if head is not None:
                logp = head.log_probs(net, labels)
            else:
                logp = _pairwise_log_probs(net, encoder, ids, mask, labels)
            sums[s0 : s0 + n, part] = logp.double().sum(dim=1).view(n, len(part)).cpu().numpy()
            if progress:
                progress(n * len(part))
    return sums, counts


def _token_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    return logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _pairwise_log_probs(net, encoder, ids, mask, labels) -> torch.Tensor:
    """[n * m, L] log-probabilities of every target token, each (source, target) pair run whole."""
    n, m = ids.shape[0], labels.shape[0]
    rows = torch.arange(n, device=ids.device).repeat_interleave(m)
    states = encoder(input_ids=ids[rows], attention_mask=mask[rows]).last_hidden_state
    labels = labels.repeat(n, 1)
    logits = net(
        encoder_outputs=(states,),
        attention_mask=mask[rows],
        decoder_input_ids=net.prepare_decoder_input_ids_from_labels(labels=labels),
        use_cache=False,
    ).logits
    return _token_log_probs(logits, labels)


class _Head:
    """What n sources share across all their targets: the encoder states, and the decoder run over the targets'
    common first inputs (the start token at least; for span targets `<extra_id_0>` too), its cache (self-attention
    over that prefix, cross-attention keys and values) and its predictions."""

    def __init__(self, hidden, mask, length: int, logp, cache) -> None:
        self.hidden, self.mask, self.length, self.logp, self.cache = hidden, mask, length, logp, cache

    @classmethod
    def of(cls, net, encoder, ids, mask, labels_all, counts) -> _Head:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        decoder_inputs = net.prepare_decoder_input_ids_from_labels(labels=labels_all.to(ids.device))
        same = (decoder_inputs == decoder_inputs[:1]).all(dim=0)
        length = max(1, min(int(same.long().cumprod(dim=0).sum()), int(counts.min())))
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        n = ids.shape[0]
        logits = net(
            encoder_outputs=(hidden,),
            attention_mask=mask,
            decoder_input_ids=decoder_inputs[:1, :length].expand(n, length),
            use_cache=True,
            **{_cache_kwarg(net): cache},
        ).logits
        return cls(hidden, mask, length, torch.log_softmax(logits.float(), dim=-1), cache)

    def log_probs(self, net, labels) -> torch.Tensor:
        """[n * m, L] log-probabilities of the m targets' tokens (one length L) given each of the n sources: the
        prefix's from its predictions, the rest from one decoder pass over a copy of its cache per pair."""
        import copy

        n, (m, length) = self.hidden.shape[0], labels.shape
        p = self.length
        first = self.logp[:, None].expand(n, m, p, -1).gather(-1, labels[None, :, :p, None].expand(n, m, p, 1))
        first = first.reshape(n * m, p)
        if length == p:
            return first
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(m)
        rows = torch.arange(n, device=labels.device).repeat_interleave(m)
        rest = net.prepare_decoder_input_ids_from_labels(labels=labels)[:, p:]
        logits = net(
            encoder_outputs=(self.hidden[rows],),
            attention_mask=self.mask[rows],
            decoder_input_ids=rest.repeat(n, 1),
            use_cache=True,
            **{_cache_kwarg(net): cache},
        ).logits
        return torch.cat([first, _token_log_probs(logits, labels[:, p:].repeat(n, 1))], dim=1)


@functools.cache
def _cache_kwarg_of(forward) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def _cache_kwarg(net) -> str:
    """The name transformers gives the decoder cache argument: `cache` (5.x, deprecating the older name), or
    `past_key_values`."""
    return _cache_kwarg_of(type(net).forward)
