"""Fusion-in-Decoder (Izacard & Grave 2021) on an unchanged Hugging Face T5.

Each of an example's K passages is encoded separately, together with the question (`question: Q context: title: T
text: X`); the K encoder outputs are concatenated along the sequence, and one decoder cross-attends all of them. So
self-attention costs K x L^2 instead of (K x L)^2, and the answer can combine evidence from every passage.

FiD adds no parameters: a FiD reader is a plain T5 checkpoint (or one with a copy head, `cbqa.reader.copy_head`, which then
copies from the tokens of all K passages) (`save_pretrained` / `from_pretrained` as usual) whose
inputs are shaped (batch, K, L) (`cbqa.training.stream.pad_passages` pads them). Padding slots (an example with fewer
than K passages) are fully masked, so the decoder never attends to them.
"""

from __future__ import annotations

from typing import Any

import torch


def fid_encode(t5: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(encoder outputs of shape (B, K*L, d), attention mask (B, K*L)) for inputs of shape (B, K, L)."""
    from transformers.modeling_outputs import BaseModelOutput

    if input_ids.dim() != 3:
        raise ValueError(f"FiD inputs are (batch, passages, tokens); got shape {tuple(input_ids.shape)}")
    b, k, n = input_ids.shape
    flat_mask = attention_mask.reshape(b * k, n)
    # A padding slot's self-attention would have no key at all (NaN with some attention kernels): let it see its first
    # (pad) token; the decoder never sees the slot, whose fused mask stays all zero.
    enc_mask = flat_mask.clone()
    enc_mask[:, 0] = torch.where(flat_mask.sum(dim=1) == 0, 1, flat_mask[:, 0])
    hidden = t5.get_encoder()(input_ids=input_ids.reshape(b * k, n), attention_mask=enc_mask)
    fused = hidden.last_hidden_state.reshape(b, k * n, -1)
    return BaseModelOutput(last_hidden_state=fused), attention_mask.reshape(b, k * n)


def fid_forward(t5: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None):
    """The model output (loss when `labels` are given) for FiD inputs (B, K, L)."""
    encoded, mask = fid_encode(t5, input_ids, attention_mask)
    return t5(encoder_outputs=encoded, attention_mask=mask, labels=labels, **_copy_source(t5, input_ids))


def fid_generate(t5: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any):
    """`t5.generate(...)` over FiD inputs (B, K, L): greedy or beam search, as for a plain T5."""
    encoded, mask = fid_encode(t5, input_ids, attention_mask)
    return t5.generate(encoder_outputs=encoded, attention_mask=mask, **_copy_source(t5, input_ids), **kwargs)


def _copy_source(t5: Any, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """A T5 with a copy head (`cbqa.reader.copy_head`) copies from the tokens of all K passages, flattened like the encoding."""
    from cbqa.reader.copy_head import is_pointer

    return {"source_ids": input_ids.reshape(input_ids.shape[0], -1)} if is_pointer(t5) else {}
