"""Where a T5 comes from: a hub name, a local HF directory, a cbqa run directory, or a small config + tokenizer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from cbqa.errors import CbqaError
from cbqa.tokenizer import load_tokenizer


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
    feed_forward_proj: str = "relu"
    tie_word_embeddings: bool = True


def resolve_model_path(model: str) -> str:
    """A cbqa run directory resolves to its exported `hf/` model; anything else is passed through (hub name or dir)."""
    p = Path(model)
    if p.is_dir() and not (p / "config.json").exists():
        if (p / "hf" / "config.json").exists():
            return str(p / "hf")
        raise CbqaError(
            f"{model}: directory holds no model (no config.json, no hf/config.json); is the run finished or still training?"
        )
    return model


def load_pretrained(model: str):
    """(model, tokenizer) from a hub name, a local HF directory, or a cbqa run directory."""
    from transformers import AutoModelForSeq2SeqLM

    path = resolve_model_path(model)
    tok = load_tokenizer(path)
    try:
        net = AutoModelForSeq2SeqLM.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CbqaError(f"cannot load model {model!s}: {str(e).splitlines()[0]}") from None
    return net, tok


def build_from_config(tokenizer_dir: str, arch: T5Arch):
    """A randomly initialised T5 sized by `arch`, with a vocabulary matching the tokenizer."""
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
    return T5ForConditionalGeneration(cfg), tok


def load_model(model: str | None, tokenizer: str | None, arch: T5Arch):
    if model:
        return load_pretrained(model)
    if not tokenizer:
        raise CbqaError("give either --model (hub name, HF dir or run dir) or --tokenizer to build a T5 from a config")
    return build_from_config(tokenizer, arch)
