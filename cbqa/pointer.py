"""A T5 that can copy: a pointer-generator head (See et al. 2017, "Get To The Point") over the encoder's tokens.

Why: a reader's answer is a span of the passages it reads. A plain T5 has to learn to reproduce that span token by
token through its vocabulary; a small model trained for minutes learns instead to emit answers it saw as targets
(the demo's 1M-parameter FiD reader scored 0 EM on questions about held-out entities, and its training loss on
clozes copied from the passage stayed at ~1.1). With a copy head, each decoding step's distribution is a mixture

    p(w) = (1 - g) * p_vocab(w) + g * sum of a(i) over the encoder positions i holding token w

where `a` is an attention of the decoder state over all encoder positions (with Fusion-in-Decoder, over all K
passages at once) and `g` a learnt gate. The gradient of a copied token then reaches the attention on the position
that holds it directly, which is what makes reading learnable at this size.

The model is a `T5ForConditionalGeneration` with one extra module (`copy_head`, 2 d^2 + 2 d + 1 parameters) and
`cbqa_pointer: true` in its config; `save_pretrained` / `cbqa.modeling.load_pretrained` keep both. `forward`
returns the log of the mixture as `logits` (they already sum to one, so `generate`'s greedy and beam search,
`compute_transition_scores` and cross-entropy all work unchanged) and the mixture's negative log-likelihood as `loss`.
The tokens it copies from are `source_ids` (the encoder's input ids, (batch, source length)); they default to
`input_ids`, and FiD passes its (batch, K x L) flattening (`cbqa.fid`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from transformers import T5ForConditionalGeneration
from transformers.modeling_outputs import Seq2SeqLMOutput

CONFIG_FLAG = "cbqa_pointer"


class CopyHead(nn.Module):
    """Attention of decoder states over encoder states (which position to copy) and the gate (whether to copy)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.gate = nn.Linear(2 * d_model, 1)
        for lin in (self.query, self.key, self.gate):
            lin.cbqa_copy_head = True  # (PointerT5._init_weights finds them whatever order transformers visits in)

    def forward(self, decoder: torch.Tensor, encoder: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """(attention (B, T, S) over unmasked source positions, gate (B, T, 1)) for decoder (B, T, d), encoder (B, S, d)."""
        scores = self.query(decoder) @ self.key(encoder).transpose(1, 2) / math.sqrt(decoder.shape[-1])
        scores = scores.float().masked_fill(~mask.bool()[:, None, :], torch.finfo(torch.float32).min)
        attn = scores.softmax(dim=-1)
        context = attn.to(encoder.dtype) @ encoder
        gate = torch.sigmoid(self.gate(torch.cat([decoder, context], dim=-1)).float())
        return attn, gate


class PointerT5(T5ForConditionalGeneration):
    """T5 whose output distribution mixes generating from the vocabulary with copying an encoder token."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        setattr(config, CONFIG_FLAG, True)
        self.copy_head = CopyHead(config.d_model)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "cbqa_copy_head", False):
            with torch.no_grad():
                module.weight.normal_(mean=0.0, std=self.config.initializer_factor * self.config.d_model**-0.5)
                if module.bias is not None:
                    module.bias.zero_()  # the gate starts by copying half the time
        else:
            super()._init_weights(module)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, labels: torch.Tensor | None = None, source_ids: torch.Tensor | None = None,
                **kwargs: Any) -> Seq2SeqLMOutput:  # fmt: skip
        # (named like T5's own arguments: generate() checks its model_kwargs against this signature)
        source = source_ids if source_ids is not None else input_ids
        if source is None:
            raise ValueError("PointerT5 copies from the encoder's tokens: pass source_ids (or input_ids)")
        if labels is not None and decoder_input_ids is None and kwargs.get("decoder_inputs_embeds") is None:
            decoder_input_ids = self._shift_right(labels)
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                              decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                              output_hidden_states=True, **kwargs)  # fmt: skip
        mask = attention_mask if attention_mask is not None else torch.ones_like(source)
        attn, gate = self.copy_head(out.decoder_hidden_states[-1], out.encoder_last_hidden_state, mask)
        vocab = out.logits.float().softmax(dim=-1)
        copy = torch.zeros_like(vocab).scatter_add_(2, source[:, None, :].expand(-1, attn.shape[1], -1), attn)
        logp = torch.log(((1 - gate) * vocab + gate * copy).clamp_min(1e-12))
        loss = None
        if labels is not None:
            loss = nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return Seq2SeqLMOutput(loss=loss, logits=logp, cache=out.cache,
                               encoder_last_hidden_state=out.encoder_last_hidden_state)  # fmt: skip

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        # generate() runs the encoder once and then calls forward with encoder_outputs only: hand the source tokens on.
        if kwargs.get("source_ids") is None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            if ids is None:
                raise ValueError("PointerT5.generate needs input_ids or source_ids (the tokens it may copy)")
            kwargs["source_ids"] = ids
        return super().generate(*args, **kwargs)


def is_pointer(net: Any) -> bool:
    return bool(getattr(getattr(net, "config", None), CONFIG_FLAG, False))


def with_copy_head(net: T5ForConditionalGeneration) -> PointerT5:
    """A PointerT5 holding `net`'s weights and a freshly initialised copy head (`net` itself if it has one)."""
    if isinstance(net, PointerT5):
        return net
    pointer = PointerT5(copy.deepcopy(net.config))  # (its own config: the flag must not mark `net` as a pointer)
    missing, unexpected = pointer.load_state_dict(net.state_dict(), strict=False)
    if unexpected or any(not k.startswith("copy_head.") for k in missing):
        raise ValueError(f"cannot add a copy head: missing {missing}, unexpected {unexpected}")
    pointer.train(net.training)
    return pointer
