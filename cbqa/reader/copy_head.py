"""A T5 that can copy: a pointer-generator head (See et al. 2017, "Get To The Point") over the encoder's tokens.

Why: a reader's answer is a span of the passages it reads. A plain T5 has to learn to reproduce that span token by
token through its vocabulary; a small model trained for minutes learns instead to emit answers it saw as targets
(the demo's 1M-parameter FiD reader scored 0 EM on questions about held-out entities, and its training loss on
clozes copied from the passage stayed at ~1.1). With a copy head, each decoding step's distribution is a mixture

    p(w) = (1 - g) * p_vocab(w) + g * sum of a(i) over the encoder positions i holding token w

where `a` is an attention of the decoder state over all encoder positions (with Fusion-in-Decoder, over all K
passages at once) and `g` a learnt gate. The gradient of a copied token then reaches the attention on the position
that holds it directly, which is what makes reading learnable at this size.

Where each copy key looks (`window`, config `cbqa_copy_window`, default (4, 1)): the key of position i is computed
from its encoder state plus a learnt, per-channel weighted sum of the states of positions i-4 .. i+1 (a depthwise
convolution, zero when the head is new), not from position i's state alone. A reader tells the answer of "Where did
X study?" from X's employer by the words in front of each (`studied at`, `works for`), and the demo's small encoders
do not put them into the state of the placeholder that follows: its final encoder state is the same (cosine
0.9994-1.0000) whether "studied at" or "works at" stands before it (`experiments/encoder_context.py`; a 2-layer
encoder pretrained for minutes hardly mixes context into a position). With single-position keys the demo's FiD reader
picked between the two organisations of a biography by placeholder number, at chance (20-24 of 50 each); with the
window it follows the words, and gets 81.4 total EM instead of 63.6 (docs/notes/2026-12-02-demo-reader.md). `[0, 0]` is
the plain pointer (and what a model saved before windows existed loads as).

The model is a `T5ForConditionalGeneration` with one extra module (`copy_head`: 2 d^2 + 2 d + 1 parameters, and
(before + 1 + after) d more for a window) and
`cbqa_pointer: true` in its config; `save_pretrained` / `load` keep both (the model layer's `load_pretrained` refuses
such a checkpoint rather than drop its head). `forward`
returns the log of the mixture as `logits` (they already sum to one, so `generate`'s greedy and beam search,
`compute_transition_scores` and cross-entropy all work unchanged) and the mixture's negative log-likelihood as `loss`.
The tokens it copies from are `source_ids` (the encoder's input ids, (batch, source length)); they default to
`input_ids`, and FiD passes its (batch, K x L) flattening (`cbqa.reader.fid`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import T5ForConditionalGeneration
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput

from cbqa.core.errors import CbqaError
from cbqa.model.loading import COPY_HEAD_FLAG, T5Arch, build_from_config, load_pretrained, resolve_model_path
from cbqa.model.tokenizer import load_tokenizer

CONFIG_FLAG = COPY_HEAD_FLAG
WINDOW_FLAG = "cbqa_copy_window"  # config: [tokens before, tokens after] each position that its copy key sees
DEFAULT_WINDOW = (4, 1)


class CopyHead(nn.Module):
    """Attention of decoder states over encoder states (which position to copy) and the gate (whether to copy)."""

    def __init__(self, d_model: int, window: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.gate = nn.Linear(2 * d_model, 1)
        self.window = tuple(window)
        if sum(self.window):
            # depthwise: each channel of the key's input is a weighted sum of that channel over the window (zero at
            # the start, so a new head begins as the plain pointer); d x (before + 1 + after) parameters
            self.context = nn.Conv1d(d_model, d_model, sum(self.window) + 1, groups=d_model, bias=False)
            self.context.cbqa_copy_window = True
        for lin in (self.query, self.key, self.gate):
            lin.cbqa_copy_head = True  # (PointerT5._init_weights finds them whatever order transformers visits in)

    def keys(self, encoder: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, S, d) copy keys: of each position's state and, with a window, of its neighbours' (padding is none's)."""
        if not sum(self.window):
            return self.key(encoder)
        x = (encoder * mask[..., None].to(encoder.dtype)).transpose(1, 2)
        return self.key(encoder + self.context(nn.functional.pad(x, self.window)).transpose(1, 2))

    def forward(
        self, decoder: torch.Tensor, encoder: torch.Tensor, mask: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(attention (B, T, S) over unmasked source positions, gate (B, T, 1)) for decoder (B, T, d), encoder (B, S, d);
        `keys`: `self.keys(encoder, mask)` when the caller has them already."""
        keys = self.keys(encoder, mask) if keys is None else keys
        scores = self.query(decoder) @ keys.transpose(1, 2) / math.sqrt(decoder.shape[-1])
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
        # (a model saved before copy windows existed has none: its keys are the positions' own states)
        self.copy_head = CopyHead(config.d_model, check_window(getattr(config, WINDOW_FLAG, None) or (0, 0)))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "cbqa_copy_head", False):
            with torch.no_grad():
                module.weight.normal_(mean=0.0, std=self.config.initializer_factor * self.config.d_model**-0.5)
                if module.bias is not None:
                    module.bias.zero_()  # the gate starts by copying half the time
        elif getattr(module, "cbqa_copy_window", False):  # the copy window starts empty
            with torch.no_grad():
                module.weight.zero_()
        else:
            super()._init_weights(module)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        labels: torch.Tensor | None = None,
        source_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        # (named like T5's own arguments: generate() checks its model_kwargs against this signature)
        source = source_ids if source_ids is not None else input_ids
        if source is None:
            raise ValueError("PointerT5 copies from the encoder's tokens: pass source_ids (or input_ids)")
        if labels is not None and decoder_input_ids is None and kwargs.get("decoder_inputs_embeds") is None:
            decoder_input_ids = self._shift_right(labels)
        out = super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            output_hidden_states=True,
            **kwargs,
        )
        mask = attention_mask if attention_mask is not None else torch.ones_like(source)
        encoder = out.encoder_last_hidden_state
        attn, gate = self.copy_head(
            out.decoder_hidden_states[-1], encoder, mask, keys=self._copy_keys(encoder, mask, encoder_outputs)
        )
        vocab = out.logits.float().softmax(dim=-1)
        copy = torch.zeros_like(vocab).scatter_add_(2, source[:, None, :].expand(-1, attn.shape[1], -1), attn)
        logp = torch.log(((1 - gate) * vocab + gate * copy).clamp_min(1e-12))
        loss = None
        if labels is not None:
            loss = nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return Seq2SeqLMOutput(
            loss=loss, logits=logp, cache=out.cache, encoder_last_hidden_state=out.encoder_last_hidden_state
        )

    def _copy_keys(self, encoder: torch.Tensor, mask: torch.Tensor, holder: Any) -> torch.Tensor:
        """The copy keys of `encoder`, computed once per `generate` instead of at every decoding step. generate() runs
        the encoder once and hands the same `encoder_outputs` object (`holder`) to every step, so the keys are kept on
        it, for as long as it lives, beside the encoder states and mask they were computed from. (Recomputed at every
        step they cost S d^2 per hypothesis, more than the rest of a small decoder's step: the demo's reader read its
        280 test questions 2.3x slower that way, the SQuAD check's 2.0x; `bench/pointer_generate.py`.) Never when
        gradients flow: training computes them afresh."""
        if torch.is_grad_enabled() or not isinstance(holder, ModelOutput):
            return self.copy_head.keys(encoder, mask)
        cached = getattr(holder, "_cbqa_copy_keys", None)
        if cached is not None and cached[0] is encoder and torch.equal(cached[1], mask):
            return cached[2]
        keys = self.copy_head.keys(encoder, mask)
        holder._cbqa_copy_keys = (encoder, mask.clone(), keys)
        return keys

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


def with_copy_head(net: T5ForConditionalGeneration, window: tuple[int, int] | None = None) -> PointerT5:
    """A PointerT5 holding `net`'s weights and a freshly initialised copy head whose keys see `window` = (tokens
    before, tokens after) each position, default `DEFAULT_WINDOW` (`net` itself if it has a copy head already)."""
    if isinstance(net, PointerT5):
        return net
    config = copy.deepcopy(net.config)  # (its own config: the flags must not mark `net` as a pointer)
    setattr(config, WINDOW_FLAG, list(check_window(window if window is not None else DEFAULT_WINDOW)))
    pointer = PointerT5(config)
    missing, unexpected = pointer.load_state_dict(net.state_dict(), strict=False)
    if unexpected or any(not k.startswith("copy_head.") for k in missing):
        raise ValueError(f"cannot add a copy head: missing {missing}, unexpected {unexpected}")
    pointer.train(net.training)
    return pointer


def check_window(window: Sequence[int]) -> tuple[int, int]:
    if len(window) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in window):
        raise ValueError(f"a copy window is (tokens before, tokens after), two integers >= 0; got {list(window)}")
    return int(window[0]), int(window[1])


def load(model: str, pointer: bool = False, window: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a reader from a hub name, HF directory or run directory: a checkpoint with a copy head
    loads with it; `pointer=True` adds a fresh head (keys seeing `window`) to one without."""
    from transformers import AutoConfig

    from cbqa.core.progress import hf_bars_off

    path = resolve_model_path(model)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CbqaError(f"cannot load model {model!s}: {str(e).splitlines()[0]}") from None
    if not getattr(config, CONFIG_FLAG, False):
        net, tok = load_pretrained(model)
        return (with_copy_head(net, window) if pointer else net), tok
    with hf_bars_off():
        net = PointerT5.from_pretrained(path, config=config)
    return net, load_tokenizer(path)


def build(tokenizer_dir: str, arch: T5Arch, pointer: bool = False, window: tuple[int, int] | None = None):
    """A randomly initialised reader sized by `arch` (with a copy head whose keys see `window`)."""
    if not pointer:
        return build_from_config(tokenizer_dir, arch)
    return build_from_config(
        tokenizer_dir,
        arch,
        PointerT5,
        **{WINDOW_FLAG: list(check_window(window if window is not None else DEFAULT_WINDOW))},
    )
