"""Where a T5 comes from: a hub name, a local HF directory, a cbqa run directory, or a small config + tokenizer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cbqa.core.errors import Busy, CbqaError
from cbqa.core.locks import writer_of
from cbqa.model.tokenizer import load_tokenizer

# T5's feed-forward blocks: relu (original T5, t5-base), gated-gelu (T5.1.1, google/t5-v1_1-*, flan-t5), and the rest
# of what transformers' T5Config accepts, as a Literal so a typo fails at parse time with the choices.
FeedForward = Literal["relu", "gelu", "gated-gelu", "gated-relu", "silu", "gated-silu"]


@dataclass
class T5Arch:
    """Size of a T5 built from scratch. Defaults: the ~1M-parameter model that trains at ~17k tokens/s on 2 cores."""

    d_model: int = 128
    d_ff: int = 512
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_kv: int = 32
    dropout_rate: float = 0.0
    feed_forward_proj: FeedForward = "relu"
    tie_word_embeddings: bool = True


def resolve_model_path(model: str) -> str:
    """A cbqa run directory resolves to its exported `hf/` model; anything else is passed through (hub name or dir).
    A run that is still training is refused (its hf/ is the best model so far, not the run's result): `Busy`."""
    p = Path(model)
    if p.is_dir() and not (p / "config.json").exists():
        writer = writer_of(p)
        if writer is not None:
            raise Busy(
                f"{model} is still training ({writer}); wait for it to finish, or pass {p / 'hf'} to use "
                "the best model it has exported so far"
            )
        if (p / "hf" / "config.json").exists():
            return str(p / "hf")
        raise CbqaError(
            f"{model}: directory holds no model (no config.json, no hf/config.json); is the run finished or still training?"
        )
    return model


# A config flag that a T5 with the reader's copy head carries (`cbqa.reader.copy_head` sets it). Such a checkpoint is
# not a plain T5 (its copy head would be dropped on load), so this layer refuses it and points at the reader.
COPY_HEAD_FLAG = "cbqa_pointer"


def load_pretrained(model: str):
    """(model, tokenizer) from a hub name, a local HF directory, or a cbqa run directory."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    from cbqa.core.progress import hf_bars_off

    path = resolve_model_path(model)
    tok = load_tokenizer(path)
    try:
        config = AutoConfig.from_pretrained(path)
        if getattr(config, COPY_HEAD_FLAG, False):
            raise CbqaError(f"{model}: a reader with a copy head; answer with `cbqa reader predict` (cbqa.reader)")
        with hf_bars_off():
            net = AutoModelForSeq2SeqLM.from_pretrained(path, config=config)
    except (OSError, ValueError) as e:
        raise CbqaError(f"cannot load model {model!s}: {str(e).splitlines()[0]}") from None
    return net, tok


def build_from_config(tokenizer_dir: str, arch: T5Arch, model_class: Any = None, **config: Any):
    """A randomly initialised T5 sized by `arch`, with a vocabulary matching the tokenizer. `model_class` (default
    `T5ForConditionalGeneration`) and extra `config` attributes let a caller build a T5 variant the same way."""
    from transformers import T5Config, T5ForConditionalGeneration

    tok = load_tokenizer(tokenizer_dir)
    vocab = len(tok)
    vocab = (vocab + 7) // 8 * 8  # a multiple of 8 keeps the embedding matmul on tensor-core friendly shapes
    cfg = T5Config(
        vocab_size=vocab,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
        **asdict(arch),
    )
    for key, value in config.items():
        setattr(cfg, key, value)
    net = (model_class or T5ForConditionalGeneration)(cfg)
    if not arch.tie_word_embeddings:
        untie_lm_head(net)
    return net, tok


def untie_lm_head(net) -> None:
    """Give a freshly built T5 its own LM head, as T5.1.1 checkpoints (google/t5-v1_1-*) have.

    transformers 5 builds every T5 with the head tied to the input embeddings (the config's `tie_word_embeddings` is
    forced to True; a False only turns off the d_model**-0.5 output scaling), and unties a checkpoint on load only
    when its two matrices differ. So the head is drawn afresh, as transformers initialises an untied one."""
    import torch

    head = torch.nn.Parameter(torch.empty_like(net.shared.weight))
    torch.nn.init.normal_(head, mean=0.0, std=net.config.initializer_factor * 1.0)
    net.lm_head.weight = head


def load_model(model: str | None, tokenizer: str | None, arch: T5Arch):
    if model:
        return load_pretrained(model)
    if not tokenizer:
        raise CbqaError("give either --model (hub name, HF dir or run dir) or --tokenizer to build a T5 from a config")
    return build_from_config(tokenizer, arch)
