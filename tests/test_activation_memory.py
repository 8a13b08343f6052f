"""Activation memory on the CPU, measured (torch's profiler: every allocation and free of a forward and backward) against
cbqa.training.memory's count, and gradient checkpointing: the same gradients for a lower measured peak."""

from __future__ import annotations

from functools import cache

import pytest
import torch

from cbqa.training.memory import activation_bytes, peak_cpu_bytes, t5_size

BASE = {"decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1}
CONFIGS = {
    # the original T5's shape: ReLU, head tied to the embeddings, dropout on
    "t5": {
        "vocab_size": 2000,
        "d_model": 64,
        "d_ff": 256,
        "d_kv": 16,
        "num_heads": 4,
        "num_layers": 2,
        "dropout_rate": 0.1,
    },
    # T5.1.1's: gated-GELU, untied head, more encoder than decoder layers, dropout off (as in pretraining)
    "t5-v1_1": {
        "vocab_size": 2000,
        "d_model": 96,
        "d_ff": 192,
        "d_kv": 24,
        "num_heads": 4,
        "num_layers": 3,
        "num_decoder_layers": 2,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
        "dropout_rate": 0.0,
    },
}
LENGTHS = [(64, 16), (256, 32)]  # input / target tokens
BATCH = 4


def build(raw: dict, checkpointing: bool = False):
    from transformers import T5Config, T5ForConditionalGeneration

    from cbqa.model.loading import untie_lm_head
    from cbqa.training.module import enable_gradient_checkpointing

    torch.manual_seed(0)
    net = T5ForConditionalGeneration(T5Config(**raw, **BASE)).train()
    if raw.get("tie_word_embeddings") is False:
        untie_lm_head(net)
    if checkpointing:
        enable_gradient_checkpointing(net)
    return net


def batch(raw: dict, src: int, tgt: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "input_ids": torch.randint(2, raw["vocab_size"], (BATCH, src), generator=g),
        "attention_mask": torch.ones(BATCH, src, dtype=torch.long),
        "labels": torch.randint(2, raw["vocab_size"], (BATCH, tgt), generator=g),
    }


@cache
def measured(name: str, src: int, tgt: int, checkpointing: bool) -> tuple[int, dict[str, torch.Tensor]]:
    """(peak bytes of one forward and backward beyond the weights and their already allocated gradients, the gradients
    of that step); measured once per test session."""
    raw = CONFIGS[name]
    net, inputs = build(raw, checkpointing), batch(raw, src, tgt)

    def step() -> None:
        torch.manual_seed(5)  # the same dropout draws every time
        net(**inputs).loss.backward()

    step()
    net.zero_grad(set_to_none=True)
    step()  # (the gradients now exist: the measured step adds into them)
    # The step is deterministic, so its true peak is the same every time. Once, in a full make test (one case of
    # eight, a checkpointed one), the profiler reported 36% of it, as if allocations had been missed; the cause was
    # not found, and alone the case measures the same every time. Missed events only lower the count: the largest
    # of three is the measurement.
    peaks = []
    for _ in range(3):
        net.zero_grad(set_to_none=False)
        peaks.append(peak_cpu_bytes(step))
    peak = max(peaks)
    return peak, {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("checkpointing", [False, True], ids=["stored", "checkpointed"])
@pytest.mark.parametrize(("src", "tgt"), LENGTHS, ids=[f"{s}-{t}" for s, t in LENGTHS])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_activation_estimate_within_25_percent_of_the_measured_cpu_peak(name, src, tgt, checkpointing) -> None:
    peak, _ = measured(name, src, tgt, checkpointing)
    estimate = activation_bytes(
        t5_size({**CONFIGS[name], **BASE}, name), BATCH, src, tgt, "32-true", checkpointing, "cpu"
    )
    print(f"{name} {src}/{tgt} checkpointing={checkpointing}: estimate / measured = {estimate / peak:.3f}")
    assert 0.75 <= estimate / peak <= 1.25, (estimate, peak)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_checkpointing_same_gradients_lower_measured_peak(name) -> None:
    peaks, grads = zip(*(measured(name, *LENGTHS[-1], checkpointing) for checkpointing in (False, True)))
    # the same gradients up to float rounding (checkpointed blocks give the zero position bias of the cross-attention a
    # gradient, which moves its attention to another kernel), dropout's draws included
    for n, g in grads[0].items():
        torch.testing.assert_close(grads[1][n], g, rtol=1e-5, atol=1e-6)
    assert peaks[1] < 0.6 * peaks[0], peaks
    print(f"{name}: peak {peaks[0] / 1e6:.1f} MB stored, {peaks[1] / 1e6:.1f} MB checkpointed")
