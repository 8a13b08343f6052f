"""How much memory a T5 needs to train, per GPU, and which strategies fit (`cbqa plan`).

The model is read from its config (a hub name, offline for the T5 and T5.1.1 checkpoints in `hub_configs.yaml`; a
local directory or `config.json`) and built on the meta device, so parameters are counted without any weights: a
T5.1.1 head is untied as `cbqa.model.loading.untie_lm_head` does (transformers 5 builds every T5 tied).

Per GPU, for a micro-batch of `batch` examples of `input_len` / `target_len` tokens:

- weights: fp32 master weights, 4 bytes a parameter; FSDP holds 1/N of them.
- gradients: fp32, 4 bytes a parameter (FSDP: 1/N); DDP on several GPUs adds its all-reduce buckets, another 4
  (Lightning's default `gradient_as_bucket_view=False`).
- optimizer: AdamW's two moments, 8 bytes a parameter; Adafactor's factored second moment, 4 bytes per row and per
  column of each matrix (T5's settings: no first moment). FSDP holds 1/N.
- working copies: DDP with bf16-mixed keeps autocast's bf16 copy of every weight through the step (2 bytes a
  parameter); FSDP gathers units whole for their forward and backward: the root unit (embeddings, head, final norms)
  and two blocks (the current one and the one prefetched), with their unsharded gradients, in the compute precision.
- activations: what autograd saves in the forward for the backward, counted tensor by tensor from the ops of
  transformers' T5 (`activation_bytes`), plus the largest transient of the backward; with activation checkpointing,
  each block's input only, plus one block recomputed in the backward.

A combination fits when its total is at most `USABLE` of the GPU's memory (the rest: the CUDA context, cuBLAS and NCCL
workspaces, allocator fragmentation).

What was measured: the activation counts, on the CPU, against the peak of the CPU allocator during a forward and
backward (`peak_cpu_bytes`, torch's profiler; tests/test_activation_memory.py, fp32, two configs x two lengths, stored
and checkpointed, within 25%: 1.000 stored, 0.83 to 1.15 checkpointed). On a GPU two things differ, both making this
an upper bound there: PyTorch's fused attention kernels keep less than the probabilities counted here (and no dropped
copy), and CUDA keeps dropout masks as 1-byte booleans (the CPU as 4-byte floats; `kernels="cuda"` counts 1). The
bf16-mixed counts (which tensors autocast keeps in bf16, which in fp32) follow the ops; against CPU autocast (with its
weight copies added) they came to 0.87 to 1.02 of the measured peak, a check by hand, not a test. Nothing here was
measured on a GPU.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml

from cbqa.core.errors import CbqaError

Precision = Literal["bf16-mixed", "32-true"]
OptimizerName = Literal["adamw", "adafactor"]
Strategy = Literal["ddp", "fsdp"]
Kernels = Literal["cuda", "cpu"]
GB = 1e9
USABLE = 0.9  # of the GPU's memory, for the tensors counted here
HUB_CONFIGS = "hub_configs.yaml"


# ------------------------------------------------------------------------------------------------- the model's size


@dataclass(frozen=True)
class T5Size:
    """What sizes a T5's training memory, from its config."""

    name: str
    d_model: int
    d_ff: int
    d_kv: int
    num_heads: int
    num_layers: int
    num_decoder_layers: int
    vocab_size: int
    gated: bool
    tied: bool
    dropout: float
    parameters: int  # unique parameters (a tied head counted once)
    encoder_block: int  # parameters of the largest encoder block (the first: it holds the relative position bias)
    decoder_block: int
    adafactor_state: int  # elements of Adafactor's state: rows + columns of each matrix, every element of a vector

    @property
    def root(self) -> int:
        """Parameters outside the blocks: embeddings, head, final layer norms (FSDP's root unit)."""
        blocks = self.num_layers * self.encoder_block + self.num_decoder_layers * self.decoder_block
        return max(0, self.parameters - blocks)


@cache
def hub_configs() -> dict[str, dict[str, Any]]:
    """The hub's config.json of every T5 / T5.1.1 checkpoint known offline, by hub name."""
    return yaml.safe_load(files("cbqa.training").joinpath(HUB_CONFIGS).read_text(encoding="utf-8"))


def read_config(model: str) -> dict[str, Any]:
    """The raw config.json of `model`: a local directory or file, a hub name known offline, or (network) any hub name."""
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            hf = Path(model) / "hf" / "config.json"  # a cbqa run directory
            path = hf if hf.is_file() else path
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CbqaError(f"{path}: not a readable config.json ({str(e).splitlines()[0]})") from None
    if path.suffix == ".json" or model.startswith((".", "/")):
        raise CbqaError(f"{model}: no such config file or directory")
    known = hub_configs()
    if model in known:
        return dict(known[model])
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(model, "config.json")).read_text(encoding="utf-8"))
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CbqaError(
            f"{model}: not a T5 known offline ({', '.join(known)}) and its config cannot be fetched ({reason[:160]}); "
            "pass a local directory or config.json"
        ) from None


def t5_size(raw: dict[str, Any], name: str = "") -> T5Size:
    """Count a T5's parameters from its raw config, on the meta device (no memory, no weights)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from cbqa.model.loading import untie_lm_head

    if raw.get("model_type", "t5") not in ("t5", "mt5", "umt5"):
        raise CbqaError(f"{name or 'config'}: model_type {raw.get('model_type')!r} is not a T5")
    keys = {k: v for k, v in raw.items() if k not in ("architectures", "task_specific_params", "transformers_version")}
    cfg = T5Config(**keys)
    tied = bool(raw.get("tie_word_embeddings", True))  # (T5Config under transformers 5 reports True either way)
    with torch.device("meta"):
        net = T5ForConditionalGeneration(cfg)
        if not tied:
            untie_lm_head(net)

    def count(module: Any) -> int:
        return sum(p.numel() for p in module.parameters())

    factored = sum(_adafactor_elements(tuple(p.shape)) for p in net.parameters())
    return T5Size(
        name=name,
        d_model=cfg.d_model,
        d_ff=cfg.d_ff,
        d_kv=cfg.d_kv,
        num_heads=cfg.num_heads,
        num_layers=cfg.num_layers,
        num_decoder_layers=cfg.num_decoder_layers,
        vocab_size=cfg.vocab_size,
        gated=bool(cfg.is_gated_act),
        tied=tied,
        dropout=float(cfg.dropout_rate),
        parameters=count(net),
        encoder_block=max(count(b) for b in net.encoder.block),
        decoder_block=max(count(b) for b in net.decoder.block),
        adafactor_state=factored,
    )


def _adafactor_elements(shape: tuple[int, ...]) -> int:
    """Adafactor's state for one parameter (transformers' implementation, beta1 None): a row and a column vector for a
    matrix, a full second moment for a vector."""
    if len(shape) >= 2:
        lead = 1
        for s in shape[:-2]:
            lead *= s
        return lead * (shape[-2] + shape[-1])
    n = 1
    for s in shape:
        n *= s
    return n


def model_size(model: str) -> T5Size:
    return t5_size(read_config(model), model)


# ---------------------------------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class _Bytes:
    act: int  # a tensor in the compute precision
    f32: int = 4  # kept in fp32 whatever the precision (norm statistics, softmax and log-softmax outputs)
    i64: int = 8  # token ids, position buckets
    mask: int = 4  # a dropout mask (CPU: a float tensor; CUDA: booleans)


def _bytes(precision: Precision, kernels: Kernels) -> _Bytes:
    return _Bytes(act=2 if precision == "bf16-mixed" else 4, mask=1 if kernels == "cuda" else 4)


def _norm(n: int, d: int, b: _Bytes) -> int:
    """T5's RMS norm over n tokens: its input, the inverse RMS and the normalised input (fp32 statistics), and the
    scaled output the next matmul keeps (in the compute precision)."""
    return n * d * b.f32 + n * b.f32 + n * d * b.f32 + n * d * b.act


def _attention(nq: int, nk: int, batch: int, heads: int, lq: int, lk: int, inner: int, p: bool, b: _Bytes) -> int:
    """Attention where the probabilities are kept (eager attention, and SDPA's math kernel, which PyTorch picks when the
    position bias needs a gradient or dropout is on): query, key, value, probabilities, the output the projection
    keeps, and with dropout its mask and the dropped probabilities."""
    probs = batch * heads * lq * lk
    out = (2 * nq + 2 * nk) * inner * b.act + probs * b.f32
    if p:
        out += probs * (b.mask + b.act)
    return out


def _fused_attention(nq: int, nk: int, batch: int, heads: int, lq: int, inner: int, b: _Bytes) -> int:
    """Attention through a fused kernel (cross-attention without dropout: no gradient to its bias): query, key, value,
    output and the log-sum-exp per query."""
    return (2 * nq + 2 * nk) * inner * b.act + batch * heads * lq * b.f32


def _feed_forward(n: int, d_ff: int, gated: bool, p: bool, b: _Bytes) -> int:
    """ReLU: its output (kept by the ReLU and the output projection). Gated-GELU (T5.1.1's `gelu_new`, a tanh formula
    in Python ops): six intermediates of the GELU and the gate, and the product the output projection keeps. Dropout
    adds its mask and the dropped copy."""
    kept = (7 if gated else 1) * n * d_ff * b.act
    if p:
        kept += n * d_ff * (b.mask + (0 if gated else b.act))
    return kept


def _encoder_block(size: T5Size, batch: int, src: int, b: _Bytes) -> tuple[int, int]:
    """(self-attention half, feed-forward half) of what an encoder block keeps."""
    n, d, inner, p = batch * src, size.d_model, size.num_heads * size.d_kv, size.dropout > 0
    attention = _norm(n, d, b) + _attention(n, n, batch, size.num_heads, src, src, inner, p, b)
    ff = _norm(n, d, b) + _feed_forward(n, size.d_ff, size.gated, p, b)
    masks = n * d * b.mask if p else 0  # the dropout mask of each residual branch
    return attention + masks, ff + masks


def _decoder_block(size: T5Size, batch: int, src: int, tgt: int, b: _Bytes) -> int:
    n, m, d = batch * src, batch * tgt, size.d_model
    inner, p, h = size.num_heads * size.d_kv, size.dropout > 0, size.num_heads
    out = _norm(m, d, b) + _attention(m, m, batch, h, tgt, tgt, inner, p, b)
    if p:  # (dropout: the math kernel, which keeps the probabilities)
        out += _norm(m, d, b) + _attention(m, n, batch, h, tgt, src, inner, p, b)
    else:
        out += _norm(m, d, b) + _fused_attention(m, n, batch, h, tgt, inner, b)
    out += _norm(m, d, b) + _feed_forward(m, size.d_ff, size.gated, p, b)
    return out + (3 * m * d * b.mask if p else 0)


def _outside_blocks(size: T5Size, batch: int, src: int, tgt: int, b: _Bytes) -> int:
    """Token ids, position buckets, the embeddings' dropout, the final norms, the encoder output the cross-attentions
    keep, the head's input and the log-probabilities over the vocabulary (fp32)."""
    n, m, d, p = batch * src, batch * tgt, size.d_model, size.dropout > 0
    out = (n + m) * b.i64 + (src * src + tgt * tgt) * b.i64 + m * b.i64  # ids, relative position buckets, targets
    final = n * d * b.f32 + n * b.f32 + n * d * b.f32  # encoder's final norm (its output counted next)
    final += m * d * b.f32 + m * b.f32 + m * d * b.f32  # decoder's
    out += final + n * d * b.act + m * d * b.act  # the encoder output (cross-attention's keys/values), head input
    if not p:
        out += size.num_heads * tgt * src * b.f32  # the (zero) position bias the fused cross-attention keeps
    out += m * size.vocab_size * b.f32  # log-softmax of the logits
    if p:
        out += 2 * (n + m) * d * b.mask  # dropout of the embeddings and of the final norms' outputs
    return out


def activation_bytes(
    size: T5Size,
    batch: int,
    input_len: int,
    target_len: int,
    precision: Precision = "bf16-mixed",
    checkpointing: bool = False,
    kernels: Kernels = "cuda",
) -> int:
    """Peak bytes of activations in one forward and backward of `batch` examples (beyond weights, gradients and
    optimizer state): what the forward saves, plus the largest transient of the backward."""
    b = _bytes(precision, kernels)
    s, t = input_len, target_len
    enc_attention, enc_ff = _encoder_block(size, batch, s, b)
    enc, dec = enc_attention + enc_ff, _decoder_block(size, batch, s, t, b)
    outside = _outside_blocks(size, batch, s, t, b)
    # The backward's transients: at its start, the gradients of the log-probabilities and of the logits at once (the
    # whole forward still saved); in an encoder self-attention, the gradients of the probabilities and of the scores,
    # by which time the decoder's and the head's tensors are freed, and the block's feed-forward half.
    head = batch * t * size.vocab_size * (2 * b.f32 + (b.act if b.act != b.f32 else 0))  # (+ the bf16 cast back)
    attention = 2 * batch * size.num_heads * s * s * b.f32
    n, m, d = batch * s, batch * t, size.d_model
    encoder_side = (n + s * s) * b.i64 + n * d * (2 * b.f32 + b.act) + n * b.f32
    in_block = max(enc, enc_attention + attention)  # an encoder block's backward, beyond what the blocks below keep
    if not checkpointing:
        saved = size.num_layers * enc + size.num_decoder_layers * dec + outside
        return max(saved + head, (size.num_layers - 1) * enc + encoder_side + in_block)
    # Checkpointing: each block keeps its input (the position biases and masks it is given are shared by all blocks);
    # the backward recomputes one block at a time, whose saved tensors and transients then come on top: a decoder
    # block's once the log-probabilities are freed, an encoder block's once the whole decoder side is.
    enc_inputs, dec_inputs = size.num_layers * n * d * b.f32, size.num_decoder_layers * m * d * b.f32
    enc_shared, dec_shared = size.num_heads * s * s * b.f32, size.num_heads * (t * t + t * s) * b.f32
    saved = outside + enc_inputs + dec_inputs + enc_shared + dec_shared
    logprobs = m * size.vocab_size * b.f32
    gradient = 2 * n * d * b.f32  # the gradient flowing into the block and the one it passes on
    return max(
        saved + head, saved - logprobs + dec + gradient, encoder_side + enc_inputs + enc_shared + gradient + in_block
    )


def peak_cpu_bytes(fn: Callable[[], Any]) -> int:
    """The peak of bytes allocated by torch's CPU allocator while `fn` runs, above what was allocated when it started
    (torch's profiler, `profile_memory=True`: every allocation and free in order)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [
        e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type().name == "CPU"
    ]
    events.sort(key=lambda e: e.start_ns())
    now = peak = 0
    for e in events:
        now += e.nbytes()
        peak = max(peak, now)
    return peak


# ------------------------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class Setting:
    gpus: int
    gpu_memory_gb: float
    optimizer: OptimizerName = "adamw"
    batch: int = 8
    input_len: int = 512
    target_len: int = 114
    precision: Precision = "bf16-mixed"


@dataclass(frozen=True)
class Row:
    strategy: Strategy
    checkpointing: bool
    weights: float  # bytes per GPU
    gradients: float
    optimizer: float
    working: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.working + self.activations

    def fits(self, gpu_memory_gb: float) -> bool:
        return self.total <= USABLE * gpu_memory_gb * GB

    def as_dict(self, gpu_memory_gb: float) -> dict[str, Any]:
        return {**asdict(self), "total": self.total, "fits": self.fits(gpu_memory_gb)}


def plan_rows(size: T5Size, setting: Setting) -> list[Row]:
    """Per-GPU memory of DDP and FSDP, each without and with activation checkpointing."""
    p, n = size.parameters, setting.gpus
    mixed = setting.precision == "bf16-mixed"
    compute = 2 if mixed else 4
    state = 8 * p if setting.optimizer == "adamw" else 4 * size.adafactor_state
    rows = []
    for strategy in ("ddp", "fsdp"):
        for ckpt in (False, True):
            acts = activation_bytes(
                size, setting.batch, setting.input_len, setting.target_len, setting.precision, ckpt, "cuda"
            )
            if strategy == "ddp":
                grads = 4 * p * (2 if n > 1 else 1)
                working = 2 * p if mixed else 0
                rows.append(Row("ddp", ckpt, 4 * p, grads, state, working, acts))
            else:
                gathered = size.root + 2 * max(size.encoder_block, size.decoder_block)
                rows.append(Row("fsdp", ckpt, 4 * p / n, 4 * p / n, state / n, 2 * gathered * compute, acts))
    return rows


def plan(model: str, setting: Setting) -> dict[str, Any]:
    size = model_size(model)
    rows = plan_rows(size, setting)
    return {
        "model": model,
        "parameters": size.parameters,
        "size": asdict(size),
        "setting": asdict(setting),
        "usable_fraction": USABLE,
        "rows": [row_dict(r, setting) for r in rows],
    }


def row_dict(row: Row, setting: Setting) -> dict[str, Any]:
    out = row.as_dict(setting.gpu_memory_gb)
    if row.strategy == "fsdp" and setting.optimizer == "adafactor":  # (cbqa.training.sharding.check_strategy)
        out.update(fits=False, refused="cbqa refuses Adafactor under FSDP")
    return out
