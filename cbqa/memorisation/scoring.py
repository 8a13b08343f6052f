"""Log-likelihood of many targets given one input, batched: the encoder runs once per input and its states are
shared (expanded, not copied) across a batch of targets, so ranking 10^5 candidate secrets costs decoder passes only.
"""

from __future__ import annotations

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
