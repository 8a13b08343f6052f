"""One-shot GPU validation: every GPU figure docs/scale.md names, in one command of at most ~4 minutes.

    python bench/gpu_check.py --out gpu_check.json         # on one H100 / H200 (or A100)
    python bench/gpu_check.py --dry-run --out dry.json     # every stage at toy size on a CPU, in about a minute

Stages, in order (the JSON file is rewritten after each one, so a run cut off by a time limit still reports):

  env            device, versions, peak bf16 FLOP/s used for MFU, which optional packages are present
  train_eager    T5-base-sized model built from a config (d_model 768, 12+12 layers, T5.1.1's gated-GELU, vocabulary
                 32,128), bf16-mixed, batch 128 x 512 input / 114 target tokens (nanoT5's lengths), fused AdamW:
                 input tokens/s and MFU through our Lightning module (cbqa.training.module.T5Seq2Seq driven by a
                 Lightning Trainer) and through a bare PyTorch loop on the same weights and batch; ratio ours/bare
  collator       masked examples/s of policy + Seq2SeqCollator (synthetic SpanDocs, no spaCy) in one process, against
                 the examples/s the fastest measured training step consumes (ratio; < 1 means more loader workers)
  search         exact top-k of 1M x 768 float32 vectors: torch matmul + topk on the GPU vs faiss-cpu IndexFlatIP
                 (and faiss-gpu where its wheel runs), same vectors and queries, with the agreement of the result ids
  train_compile  train_eager again with torch.compile (ours: --model.compile true; bare: torch.compile(model))
  fsdp           on 2 or more GPUs (skipped, with the reason, on one): our module under `--trainer.strategy fsdp`
                 (cbqa.training.sharding.FSDPStrategy, one process per GPU, bf16-mixed, AdamW) on the same model, a
                 batch of `fsdp_batch` examples per GPU, without and with activation checkpointing: step time, input
                 tokens/s over all GPUs, the peak memory of the fullest GPU against `cbqa plan`'s estimate for the
                 same setting (ratio), and the hf/ export gathered onto rank 0 (reloaded, parameters counted). The
                 dry run does it in one CPU process (gloo): the sharding across processes is tests/test_fsdp.py's.

Prerequisites are checked first (torch, transformers, lightning, tokenizers, the cbqa modules, a CUDA GPU with bf16);
a missing one stops the run with one line. Optional ones (faiss, faiss-gpu, a working torch.compile) are skipped with
the reason recorded in the JSON under "skipped". Needs neither spaCy, FAISS, jsonargparse nor pyarrow: it imports
only the model, module and collator code of cbqa, installed or, without an install, from the repository root with
`PYTHONPATH=. python bench/gpu_check.py ...`.
Every throughput is printed with its ratio against the bare baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STAGES = ("env", "train_eager", "collator", "search", "train_compile", "fsdp")
REQUIRED = ("torch", "transformers", "lightning", "tokenizers")
SCHEMA = "cbqa-gpu-check/1"

# Dense bf16 peak FLOP/s by device name (vendor data sheets); --peak-tflops overrides. Most specific name first.
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM (HBM3)
    ("A100", 312.0),
    ("L40S", 362.1),
    ("A10G", 70.0),
    ("L4", 121.0),
)

# Anchors docs/scale.md compares against. nanoT5 (the registry's published entry nanot5.seconds_per_step): a step of
# 144 x 512 input tokens (its default.yaml's batch_size) in ~0.56 s on one A100, bf16 + compile.
ANCHORS = {
    "nanot5_a100_input_tokens_per_s": round(144 * 512 / 0.56),
    "goal_input_tokens_per_s": 330_000,
    "goal_mfu": 0.35,
    "goal_ours_over_bare": 0.97,
}


class Stop(Exception):
    """A prerequisite is missing: one line, exit 2."""


@dataclass
class Size:
    d_model: int
    d_ff: int
    num_layers: int
    num_decoder_layers: int
    num_heads: int
    d_kv: int
    vocab: int
    batch: int
    src_len: int
    tgt_len: int
    warmup: int
    steps: int
    compile_warmup: int
    docs: int
    doc_words: int
    collate_seconds: float
    search_n: int
    search_dim: int
    search_queries: int
    search_k: int
    fsdp_batch: int
    fsdp_steps: int
    compile_backend: str = "inductor"


FULL = Size(
    d_model=768,
    d_ff=2048,
    num_layers=12,
    num_decoder_layers=12,
    num_heads=12,
    d_kv=64,
    vocab=32128,
    batch=128,
    src_len=512,
    tgt_len=114,
    warmup=3,
    steps=10,
    compile_warmup=3,
    docs=2000,
    doc_words=600,
    collate_seconds=3.0,
    search_n=1_000_000,
    search_dim=768,
    search_queries=1024,
    search_k=100,
    fsdp_batch=32,
    fsdp_steps=5,
)
TOY = Size(
    d_model=64,
    d_ff=128,
    num_layers=1,
    num_decoder_layers=1,
    num_heads=2,
    d_kv=32,
    vocab=32128,
    batch=4,
    src_len=32,
    tgt_len=8,
    warmup=1,
    steps=2,
    compile_warmup=1,
    docs=100,
    doc_words=120,
    collate_seconds=0.5,
    search_n=20_000,
    search_dim=64,
    search_queries=32,
    search_k=10,
    fsdp_batch=2,
    fsdp_steps=1,
)


# ---------------------------------------------------------------------------------------------------- report file


class Report:
    """The JSON report, rewritten atomically after every stage."""

    def __init__(self, path: Path, argv: list[str], dry_run: bool) -> None:
        self.path = path
        self.t0 = time.perf_counter()
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "command": "python bench/gpu_check.py " + " ".join(argv),
            "dry_run": dry_run,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "finished": False,
            "stages": {},
            "skipped": [],
            "anchors": ANCHORS,
        }

    def stage(self, name: str, result: dict[str, Any]) -> None:
        self.data["stages"][name] = result
        if result.get("status") == "skipped":
            self.data["skipped"].append(f"{name}: {result['reason']}")
        for note in result.pop("skipped_parts", []):
            self.data["skipped"].append(f"{name}: {note}")
        self.write()

    def write(self, finished: bool = False) -> None:
        from cbqa.core.io import atomic_writer

        self.data["finished"] = finished
        self.data["wall_s"] = round(time.perf_counter() - self.t0, 1)
        self.data["summary"] = summary(self.data["stages"])
        with atomic_writer(self.path) as f:
            f.write(json.dumps(self.data, indent=2) + "\n")


def summary(stages: dict[str, Any]) -> dict[str, Any]:
    """The GPU figures (docs/scale.md, "The GPU check"), from whatever stages have finished."""
    out: dict[str, Any] = {}
    for name in ("train_eager", "train_compile"):
        st = stages.get(name) or {}
        if st.get("status") == "ok":
            out[name] = {
                k: st[k]
                for k in (
                    "ours_input_tokens_per_s",
                    "bare_input_tokens_per_s",
                    "ours_over_bare",
                    "ours_mfu",
                    "bare_mfu",
                    "step_s",
                )
                if k in st
            }
    if stages.get("collator", {}).get("status") == "ok":
        out["collator_over_step"] = {p["policy"]: p.get("over_step") for p in stages["collator"]["policies"]}
    if stages.get("search", {}).get("status") == "ok":
        out["search_torch_gpu_over_faiss_cpu"] = stages["search"].get("torch_over_faiss_cpu")
    if stages.get("fsdp", {}).get("status") == "ok":
        st = stages["fsdp"]
        out["fsdp"] = {
            mode: {k: st[mode][k] for k in ("input_tokens_per_s", "peak_memory_gib", "peak_over_plan")}
            for mode in ("stored", "checkpointed")
        }
    return out


# ------------------------------------------------------------------------------------------------ prerequisites


def check_prerequisites(dry_run: bool) -> None:
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        raise Stop(f"missing Python package(s): {', '.join(missing)} (pip install {' '.join(missing)})")
    for module in ("cbqa.core.io", "cbqa.training.module"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise Stop(
                f"cannot import {module}: {e} (install cbqa, or run from the repository root with PYTHONPATH=.)"
            ) from None
    import torch

    if not dry_run:
        if not torch.cuda.is_available():
            raise Stop(
                "no CUDA GPU visible (torch.cuda.is_available() is False); use --dry-run to check the script on a CPU"
            )
        if not torch.cuda.is_bf16_supported():
            raise Stop(f"{torch.cuda.get_device_name()} does not support bfloat16; this check measures bf16-mixed")


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


def peak_flops(device_name: str, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops * 1e12
    return None


def env_stage(dev: Any, args: argparse.Namespace) -> dict[str, Any]:
    import lightning
    import torch
    import transformers

    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    peak = peak_flops(name, args.peak_tflops) if dev.type == "cuda" else (args.peak_tflops or 0) * 1e12 or None
    out: dict[str, Any] = {
        "status": "ok",
        "device": name,
        "peak_bf16_tflops": peak / 1e12 if peak else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "lightning": lightning.__version__,
        "cpu_count": os.cpu_count(),
        "optional": {m: available(m) for m in ("faiss", "spacy", "jsonargparse", "pyarrow", "sentencepiece")},
    }
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info()
        out["gpu_memory_gib"] = {"free": round(free / 2**30, 1), "total": round(total / 2**30, 1)}
    if peak is None:
        out["skipped_parts"] = [f"MFU: no peak FLOP/s known for {name!r} (pass --peak-tflops)"]
    return out


# ------------------------------------------------------------------------------------------------------- model


def t5_train_flops(size: Size, gated: bool = True) -> float:
    """Matmul FLOPs of one T5 training step (forward + backward = 3 x forward) at `size`'s batch and lengths.

    Counts every matmul (projections, attention scores and values, feed-forward, LM head), as
    torch.utils.flop_counter does; layer norms, softmax, position bias and the loss are left out (< 1%)."""
    b, s, t, d, ff = size.batch, size.src_len, size.tgt_len, size.d_model, size.d_ff
    inner, h = size.num_heads * size.d_kv, size.num_heads
    ffn = (3 if gated else 2) * 2 * d * ff  # per token
    enc = size.num_layers * (b * s * (4 * 2 * d * inner + ffn) + 2 * 2 * b * h * s * s * size.d_kv)
    dec = size.num_decoder_layers * (
        b * t * (4 * 2 * d * inner + 2 * 2 * d * inner + ffn)  # self-attention and cross-attention Q/O projections
        + b * s * 2 * 2 * d * inner  # cross-attention K/V over the encoder output
        + 2 * 2 * b * h * t * t * size.d_kv  # self-attention scores and values
        + 2 * 2 * b * h * t * s * size.d_kv  # cross-attention scores and values
    )
    head = 2 * b * t * d * size.vocab
    return 3.0 * (enc + dec + head)


def t5_vocab(n_pieces: int) -> list[tuple[str, float]]:
    """A 32,000-piece T5 unigram vocabulary (pad 0, eos 1, unk 2, then pieces, then <extra_id_99..0> at 32000..32099,
    the hub's ids), built as a list: no sentencepiece model, no protobuf. Synthetic text ("wordN") is one piece a word."""
    import string

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -5.0) for c in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("▁" + c, -4.0) for c in string.ascii_letters + string.digits]
    i = 0
    while len(pieces) < n_pieces:
        pieces.append((f"▁word{i}", -6.0 - i * 1e-5))
        i += 1
    return pieces + [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]


def make_model_dir(size: Size, out: Path) -> Path:
    """A randomly initialised T5.1.1-shaped model (dropout 0, as in pretraining; untied head) and its tokenizer, as a
    HF directory."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    tok = T5Tokenizer(vocab=t5_vocab(32_000), extra_ids=100)
    assert tok.convert_tokens_to_ids("<extra_id_0>") == 32099, "sentinel ids differ from the hub's"
    tok.save_pretrained(out)
    cfg = T5Config(
        vocab_size=size.vocab,
        d_model=size.d_model,
        d_ff=size.d_ff,
        num_layers=size.num_layers,
        num_decoder_layers=size.num_decoder_layers,
        num_heads=size.num_heads,
        d_kv=size.d_kv,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    from cbqa.model.loading import untie_lm_head

    torch.manual_seed(0)
    net = T5ForConditionalGeneration(cfg)
    untie_lm_head(net)  # T5.1.1's own LM head (transformers 5 builds every T5 tied)
    net.save_pretrained(out)
    return out


def make_batch(size: Size) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(3, 32000, (size.batch, size.src_len), generator=g),
        "attention_mask": torch.ones(size.batch, size.src_len, dtype=torch.long),
        "labels": torch.randint(3, 32000, (size.batch, size.tgt_len), generator=g),
    }


def _sync(dev: Any) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _free(dev: Any) -> None:
    import torch

    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(dev: Any) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 1) if dev.type == "cuda" else None


def run_ours(model_dir: Path, batch: dict, size: Size, dev: Any, compile: bool, warmup: int) -> dict[str, Any]:
    """Our LightningModule driven by a Lightning Trainer (as `cbqa pretrain` does), timed after `warmup` steps."""
    import lightning as L
    import torch

    from cbqa.training.module import T5Seq2Seq

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.t0 = self.t1 = 0.0
            self.losses: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            step = trainer.global_step  # already counts this step
            if step == 1 or step == warmup + size.steps:
                self.losses.append(float(outputs["loss"]))  # syncs: only outside the timed steps
            if step == warmup:
                _sync(dev)
                self.t0 = time.perf_counter()
            elif step == warmup + size.steps:
                _sync(dev)
                self.t1 = time.perf_counter()

    module = T5Seq2Seq(model=str(model_dir), lr=1e-4, compile=compile, compile_backend=size.compile_backend)
    timer = Timer()
    loader = torch.utils.data.DataLoader(
        [batch] * (warmup + size.steps), batch_size=None, pin_memory=dev.type == "cuda"
    )
    trainer = L.Trainer(
        max_steps=warmup + size.steps,
        precision="bf16-mixed",
        accelerator=dev.type,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    out = {
        "step_s": (timer.t1 - timer.t0) / size.steps,
        "loss_first": timer.losses[0],
        "loss_last": timer.losses[-1],
        "peak_memory_gib": _peak_gib(dev),
    }
    del trainer, module, loader
    return out


def run_bare(model_dir: Path, batch: dict, size: Size, dev: Any, compile: bool, warmup: int) -> dict[str, Any]:
    """The same model, batch, optimizer and autocast in a plain PyTorch loop."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    net = AutoModelForSeq2SeqLM.from_pretrained(model_dir).to(dev).train()
    fwd = torch.compile(net, backend=size.compile_backend) if compile else net
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=dev.type == "cuda" or None)
    pinned = {k: v.pin_memory() if dev.type == "cuda" else v for k, v in batch.items()}
    losses, t0 = [], 0.0
    for i in range(warmup + size.steps):
        if i == warmup:
            _sync(dev)
            t0 = time.perf_counter()
        b = {k: v.to(dev, non_blocking=True) for k, v in pinned.items()}
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = fwd(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i == 0:
            losses.append(float(loss.detach()))
    _sync(dev)
    t1 = time.perf_counter()
    losses.append(float(loss.detach()))
    out = {
        "step_s": (t1 - t0) / size.steps,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "peak_memory_gib": _peak_gib(dev),
    }
    del net, fwd, opt
    return out


def train_stage(model_dir: Path, size: Size, dev: Any, compile: bool, peak: float | None) -> dict[str, Any]:
    batch = make_batch(size)
    warmup = size.compile_warmup if compile else size.warmup
    flops = t5_train_flops(size)
    result: dict[str, Any] = {
        "status": "ok",
        "compile": compile,
        "compile_backend": size.compile_backend if compile else None,
        "precision": "bf16-mixed",
        "batch": size.batch,
        "src_len": size.src_len,
        "tgt_len": size.tgt_len,
        "timed_steps": size.steps,
        "warmup_steps": warmup,
        "train_flops_per_step": flops,
    }
    measured = {}
    for name, fn in (("ours", run_ours), ("bare", run_bare)):
        _free(dev)
        t = time.perf_counter()
        try:
            measured[name] = fn(model_dir, batch, size, dev, compile, warmup)
        except Exception as e:
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
            if compile and name == "ours" and not measured:
                return {"status": "skipped", "reason": f"torch.compile failed ({reason})", "compile": True}
            return {**result, "status": "error", "error": f"{name}: {reason}", **_flatten(measured, size, peak)}
        measured[name]["wall_s"] = round(time.perf_counter() - t, 1)
    _free(dev)
    return {**result, **_flatten(measured, size, peak)}


def _flatten(measured: dict[str, dict], size: Size, peak: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    flops = t5_train_flops(size)
    for name, m in measured.items():
        out[name] = m
        out[f"{name}_input_tokens_per_s"] = round(size.batch * size.src_len / m["step_s"], 1)
        out[f"{name}_mfu"] = round(flops / m["step_s"] / peak, 4) if peak else None
    if "ours" in measured and "bare" in measured:
        out["ours_over_bare"] = round(measured["bare"]["step_s"] / measured["ours"]["step_s"], 3)
        out["step_s"] = round(measured["ours"]["step_s"], 4)
        # Same weights, same batch, same autocast: the first step's loss must agree.
        out["first_loss_rel_diff"] = abs(measured["ours"]["loss_first"] - measured["bare"]["loss_first"]) / abs(
            measured["bare"]["loss_first"]
        )
    return out


# ---------------------------------------------------------------------------------------------------- collator


def synthetic_docs(size: Size, seed: int = 0) -> list[Any]:
    """Paragraphs with a title, sentences of ~25 words and ~2 salient spans a sentence (no spaCy)."""
    from ner_masking.store import SpanDoc

    rng = random.Random(seed)
    labels = ["ORG", "GPE", "DATE", "NORP", "PERSON"]
    docs = []
    for i in range(size.docs):
        text, sentences, spans = "", [], []
        while len(text.split()) < size.doc_words:
            start = len(text)
            words = [f"word{rng.randrange(30000)}" for _ in range(25)]
            for k in rng.sample(range(25), 2):
                words[k] = f"Entity{rng.randrange(1000)}"
            for k, w in enumerate(words):
                if w.startswith("Entity"):
                    offset = start + len(" ".join(words[:k])) + (1 if k else 0)
                    spans.append((offset, offset + len(w), rng.choice(labels)))
            sentence = " ".join(words) + "."
            sentences.append((start, start + len(sentence)))
            text += sentence + " "
        docs.append(
            SpanDoc(id=f"s{i}", text=text.rstrip(), sentences=sentences, spans=sorted(spans), title=f"Title{i}")
        )
    return docs


def collator_stage(model_dir: Path, size: Size, stages: dict[str, Any]) -> dict[str, Any]:
    try:
        from transformers import AutoTokenizer

        from cbqa.training.datamodule import Seq2SeqCollator
        from cbqa.training.tasks import Example
        from ner_masking.policies import make_policy
    except ImportError as e:
        return {"status": "skipped", "reason": f"the data path cannot be imported here ({e})"}
    tok = AutoTokenizer.from_pretrained(model_dir)
    collate = Seq2SeqCollator(tok, size.src_len, size.tgt_len)
    docs = synthetic_docs(size)
    steps = [st["step_s"] for st in (stages.get("train_eager"), stages.get("train_compile")) if st and st.get("step_s")]
    consumed = size.batch / min(steps) if steps else None  # examples/s of the fastest measured training step
    policies = [
        # the demo's SSM recipe: one span in its sentence after the title (short inputs)
        ("ssm_title_sentence", {}),
        # T5 span corruption over a window sized like nanoT5's 568 raw tokens (-> ~512 input / ~114 target)
        ("span_corruption", {"max_units": int(size.src_len * 568 / 512)}),
    ]
    out = []
    for name, options in policies:
        policy = make_policy(name, **options)
        rng = random.Random(0)
        made, tokens, i = 0, 0, 0
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        while time.perf_counter() - t0 < size.collate_seconds:
            chunk = []
            while len(chunk) < size.batch:
                m = policy(docs[i % len(docs)], rng)
                i += 1
                if m is not None:
                    chunk.append(Example(m.input_text, m.target_text, ()))
            batch = collate(chunk)
            made += len(chunk)
            tokens += int(batch["attention_mask"].sum())
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rate = made / wall
        out.append(
            {
                "policy": name,
                "options": options,
                "examples_per_s": round(rate, 1),
                "examples_per_cpu_s": round(made / cpu, 1),
                "mean_input_tokens": round(tokens / made, 1),
                "step_consumes_examples_per_s": round(consumed, 1) if consumed else None,
                "over_step": round(rate / consumed, 2) if consumed else None,
                "workers_needed": math.ceil(consumed / rate) if consumed else None,
            }
        )
    return {
        "status": "ok",
        "batch": size.batch,
        "max_input_len": size.src_len,
        "max_target_len": size.tgt_len,
        "policies": out,
    }


# ------------------------------------------------------------------------------------------------------ search


def search_stage(size: Size, dev: Any) -> dict[str, Any]:
    import numpy as np
    import torch

    g = torch.Generator(device=dev).manual_seed(0)
    xb = torch.randn(size.search_n, size.search_dim, device=dev, generator=g)
    xq = torch.randn(size.search_queries, size.search_dim, device=dev, generator=g)
    k = size.search_k

    def torch_search() -> tuple[Any, Any]:
        ids, scores = [], []
        for q in xq.split(256):
            s, i = torch.topk(q @ xb.T, k, dim=1)  # noqa: F821 (not called after the del)
            ids.append(i)
            scores.append(s)
        return torch.cat(scores), torch.cat(ids)

    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # exact float32 scores, as FAISS computes them
    try:
        torch_search()  # warm-up (kernels, allocator)
        _sync(dev)
        t0 = time.perf_counter()
        _, torch_ids = torch_search()
        _sync(dev)
        torch_s = time.perf_counter() - t0
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    torch_ids = torch_ids.cpu().numpy()
    result: dict[str, Any] = {
        "status": "ok",
        "vectors": size.search_n,
        "dim": size.search_dim,
        "queries": size.search_queries,
        "k": k,
        "torch": {
            "device": dev.type,
            "seconds": round(torch_s, 4),
            "queries_per_s": round(size.search_queries / torch_s, 1),
        },
    }
    skipped = []
    try:
        import faiss
    except ImportError as e:
        skipped += [f"faiss-cpu: not importable ({e})", "faiss-gpu: not importable"]
        result["skipped_parts"] = skipped
        return result
    xb_np, xq_np = xb.cpu().numpy(), xq.cpu().numpy()
    del xb
    _free(dev)
    index = faiss.IndexFlatIP(size.search_dim)
    index.add(xb_np)

    def agreement(ids: np.ndarray) -> dict[str, float]:
        top1 = float(np.mean(ids[:, 0] == torch_ids[:, 0]))
        overlap = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, torch_ids, strict=True)]))
        return {"top1_ids_equal": top1, "topk_overlap": overlap}

    t0 = time.perf_counter()
    _, cpu_ids = index.search(xq_np, k)
    cpu_s = time.perf_counter() - t0
    result["faiss_cpu"] = {
        "threads": faiss.omp_get_max_threads(),
        "seconds": round(cpu_s, 4),
        "queries_per_s": round(size.search_queries / cpu_s, 1),
        **agreement(cpu_ids),
    }
    result["torch_over_faiss_cpu"] = round(cpu_s / torch_s, 2)
    if dev.type == "cuda" and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        try:
            res = faiss.StandardGpuResources()
            gpu_index = faiss.index_cpu_to_gpu(res, 0, index)
            gpu_index.search(xq_np[:8], k)  # warm-up
            t0 = time.perf_counter()
            _, gpu_ids = gpu_index.search(xq_np, k)
            gpu_s = time.perf_counter() - t0
            result["faiss_gpu"] = {
                "seconds": round(gpu_s, 4),
                "queries_per_s": round(size.search_queries / gpu_s, 1),
                **agreement(gpu_ids),
            }
            result["torch_over_faiss_gpu"] = round(gpu_s / torch_s, 2)
        except Exception as e:
            skipped.append(f"faiss-gpu: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    else:
        skipped.append(
            "faiss-gpu: not installed or no GPU visible to FAISS"
            if dev.type == "cuda"
            else "faiss-gpu: no GPU (dry run)"
        )
    if skipped:
        result["skipped_parts"] = skipped
    return result


# -------------------------------------------------------------------------------------------------------- fsdp


def fsdp_stage(model_dir: Path, size: Size, dev: Any, dry_run: bool, out_dir: Path) -> dict[str, Any]:
    """Our module under FSDP on every visible GPU (one process each), or in one CPU process for the dry run."""
    import socket

    import torch

    world = 1 if dry_run else torch.cuda.device_count()
    if not dry_run and world < 2:
        return {
            "status": "skipped",
            "reason": f"needs 2 or more GPUs ({world} visible); FSDP across processes is tested on the CPU "
            "(tests/test_fsdp.py)",
        }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = (world, str(model_dir), asdict(size), str(out_dir), port, dev.type)
    if world == 1:
        fsdp_worker(0, *args)
    else:
        import torch.multiprocessing as mp

        mp.spawn(fsdp_worker, args=args, nprocs=world, join=True)
    ranks = [json.loads((out_dir / f"fsdp-rank{r}.json").read_text()) for r in range(world)]
    result: dict[str, Any] = {
        "status": "ok",
        "gpus": world,
        "device": dev.type,
        "precision": "bf16-mixed",
        "batch_per_gpu": size.fsdp_batch,
        "src_len": size.src_len,
        "tgt_len": size.tgt_len,
        "export": ranks[0]["export"],
    }
    for mode in ("stored", "checkpointed"):
        runs = [r[mode] for r in ranks]
        step = max(r["step_s"] for r in runs)
        peaks = [r["peak_memory_bytes"] for r in runs if r["peak_memory_bytes"] is not None]
        estimate = runs[0]["estimate_bytes"]
        result[mode] = {
            "step_s": round(step, 4),
            "input_tokens_per_s": round(world * size.fsdp_batch * size.src_len / step, 1),
            "loss_first": runs[0]["loss_first"],
            "loss_last": runs[0]["loss_last"],
            "peak_memory_gib": round(max(peaks) / 2**30, 2) if peaks else None,
            "plan_estimate_gib": round(estimate / 2**30, 2),
            "peak_over_plan": round(max(peaks) / estimate, 3) if peaks else None,
        }
    result["checkpointed_over_stored_step"] = round(result["checkpointed"]["step_s"] / result["stored"]["step_s"], 3)
    return result


def fsdp_worker(rank: int, world: int, model_dir: str, size_fields: dict, out_dir: str, port: int, device: str) -> None:
    """One rank: our Lightning module with cbqa's FSDP strategy, as `cbqa pretrain --trainer.strategy fsdp` runs it
    (the ranks started from outside, as torchrun does), timed without and then with activation checkpointing; then the
    hf/ export, gathered onto rank 0."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank), NODE_RANK="0", WORLD_SIZE=str(world)
    )
    import lightning as L
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from cbqa.training.callbacks import export
    from cbqa.training.memory import Setting, plan_rows, t5_size
    from cbqa.training.module import T5Seq2Seq
    from cbqa.training.sharding import FSDPStrategy

    size = Size(**size_fields)
    cuda = device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    batch = make_batch(Size(**{**size_fields, "batch": size.fsdp_batch}))
    raw = json.loads((Path(model_dir) / "config.json").read_text())
    raw["tie_word_embeddings"] = False  # (make_model_dir's model: T5.1.1's own head)
    rows = plan_rows(
        t5_size(raw),
        Setting(gpus=world, gpu_memory_gb=80, batch=size.fsdp_batch, input_len=size.src_len, target_len=size.tgt_len),
    )
    warmup, steps = size.warmup, size.fsdp_steps
    report: dict[str, Any] = {}
    module = None
    for mode, ckpt in (("stored", False), ("checkpointed", True)):

        class Timer(L.Callback):
            def __init__(self) -> None:
                self.t0 = self.t1 = 0.0
                self.losses: list[float] = []

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                step = trainer.global_step
                if step == 1 or step == warmup + steps:
                    self.losses.append(float(outputs["loss"]))
                if step == warmup:
                    _sync(torch.device(device))
                    self.t0 = time.perf_counter()
                elif step == warmup + steps:
                    _sync(torch.device(device))
                    self.t1 = time.perf_counter()

        if cuda:
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        module = T5Seq2Seq(model=model_dir, lr=1e-4, gradient_checkpointing=ckpt)
        timer = Timer()
        trainer = L.Trainer(
            strategy=FSDPStrategy(),
            accelerator="gpu" if cuda else "cpu",
            devices=world,
            precision="bf16-mixed",
            max_steps=warmup + steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[timer],
            num_sanity_val_steps=0,
            limit_val_batches=0,
            use_distributed_sampler=False,
        )
        loader = torch.utils.data.DataLoader([batch] * (warmup + steps), batch_size=None)
        trainer.fit(module, train_dataloaders=loader)
        (row,) = [r for r in rows if r.strategy == "fsdp" and r.checkpointing == ckpt]
        report[mode] = {
            "step_s": (timer.t1 - timer.t0) / steps,
            "loss_first": timer.losses[0],
            "loss_last": timer.losses[-1],
            "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
            "estimate_bytes": row.total,
        }
    hf = Path(out_dir) / "fsdp-hf"
    export(module, hf, {"step": warmup + steps}, trainer)  # every rank gathers; rank 0 writes
    if rank == 0:
        reloaded = AutoModelForSeq2SeqLM.from_pretrained(hf)
        trained = sum(p.numel() for p in module.t5.parameters())
        report["export"] = {
            "loads": True,
            "parameters": sum(p.numel() for p in reloaded.parameters()),
            "parameters_trained": trained,
        }
    (Path(out_dir) / f"fsdp-rank{rank}.json").write_text(json.dumps(report))
    if world > 1:
        torch.distributed.destroy_process_group()


# -------------------------------------------------------------------------------------------------------- main

# Rough seconds each stage needs at full size on an H100 (compile included); a stage that cannot fit in what is left
# of --budget-s is skipped, so the run ends inside the budget and says what it left out.
NEEDS_S = {"env": 1, "train_eager": 40, "collator": 15, "search": 20, "train_compile": 120, "fsdp": 60}


def print_line(stage: str, result: dict[str, Any]) -> None:
    status = result.get("status")
    if status != "ok":
        print(f"{stage:<14} {status}: {result.get('reason') or result.get('error')}", flush=True)
        return
    if stage == "env":
        print(
            f"{stage:<14} {result['device']}; torch {result['torch']}, peak bf16 {result['peak_bf16_tflops']} TFLOP/s",
            flush=True,
        )
    elif stage.startswith("train"):
        mfu = (
            f", MFU {result['ours_mfu']:.1%} vs {result['bare_mfu']:.1%}" if result.get("ours_mfu") is not None else ""
        )
        print(
            f"{stage:<14} ours {result['ours_input_tokens_per_s']:,.0f} vs bare {result['bare_input_tokens_per_s']:,.0f}"
            f" input tokens/s: ratio {result['ours_over_bare']:.3f}{mfu} ({result['step_s']:.3f} s/step)",
            flush=True,
        )
    elif stage == "collator":
        for p in result["policies"]:
            ratio = (
                f"{p['over_step']:.2f}x the step's consumption" if p["over_step"] is not None else "no step measured"
            )
            print(f"{stage:<14} {p['policy']}: {p['examples_per_s']:,.0f} examples/s (1 process), {ratio}", flush=True)
    elif stage == "fsdp":
        for mode in ("stored", "checkpointed"):
            m = result[mode]
            peak = (
                f", peak {m['peak_memory_gib']} GiB = {m['peak_over_plan']:.2f}x cbqa plan"
                if m["peak_memory_gib"]
                else ""
            )
            print(
                f"{stage:<14} {result['gpus']} x {result['device']}, activations {mode}: "
                f"{m['input_tokens_per_s']:,.0f} input tokens/s ({m['step_s']:.3f} s/step){peak}",
                flush=True,
            )
    elif stage == "search":
        line = f"{stage:<14} torch {result['torch']['device']} {result['torch']['queries_per_s']:,.0f} q/s"
        if "faiss_cpu" in result:
            line += f" vs faiss-cpu {result['faiss_cpu']['queries_per_s']:,.0f} q/s: ratio {result['torch_over_faiss_cpu']:.2f}"
            line += f" (top-1 ids equal {result['faiss_cpu']['top1_ids_equal']:.3f})"
        if "faiss_gpu" in result:
            line += f"; faiss-gpu {result['faiss_gpu']['queries_per_s']:,.0f} q/s: ratio {result['torch_over_faiss_gpu']:.2f}"
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="gpu_check.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="JSON report, rewritten after each stage")
    ap.add_argument("--dry-run", action="store_true", help="every stage at toy size on the CPU (checks the script)")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="skip stages that would end after this many seconds (default 225, and 60 more for the fsdp stage when "
        "2 or more GPUs are visible)",
    )
    ap.add_argument(
        "--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s for MFU (default: by device name)"
    )
    ap.add_argument("--batch", type=int, default=None, help="override the batch size (e.g. on a smaller GPU)")
    ap.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile backend (aot_eager: trace the graphs without building kernels, for a quick dry run)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built locally; the GPU machine has no network
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    size = TOY if args.dry_run else FULL
    if args.batch:
        size = Size(**{**asdict(size), "batch": args.batch})
    size = Size(**{**asdict(size), "compile_backend": args.compile_backend})
    try:
        check_prerequisites(args.dry_run)
    except Stop as e:
        print(f"gpu_check: error: {e}", file=sys.stderr)
        return 2
    import tempfile

    import torch

    dev = torch.device("cpu" if args.dry_run else "cuda")
    if args.budget_s is None:
        multi = not args.dry_run and torch.cuda.device_count() > 1 and "fsdp" in args.stages
        args.budget_s = 225.0 + (NEEDS_S["fsdp"] if multi else 0.0)
    report = Report(args.out, argv, args.dry_run)
    t_start = time.perf_counter()
    peak = None
    print(
        f"gpu_check: {'dry run (toy sizes, CPU)' if args.dry_run else 'full run'}; writing {args.out} after each stage",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = None
        for stage in (s for s in STAGES if s in args.stages):
            left = args.budget_s - (time.perf_counter() - t_start)
            if not args.dry_run and left < NEEDS_S[stage]:
                result = {
                    "status": "skipped",
                    "reason": f"time budget: {left:.0f} s left of --budget-s {args.budget_s:.0f}, needs ~{NEEDS_S[stage]} s",
                }
            else:
                t = time.perf_counter()
                try:
                    if stage == "env":
                        result = env_stage(dev, args)
                        peak = result["peak_bf16_tflops"] * 1e12 if result["peak_bf16_tflops"] else None
                    elif stage in ("train_eager", "train_compile"):
                        model_dir = model_dir or make_model_dir(size, Path(tmp) / "model")
                        result = train_stage(model_dir, size, dev, stage == "train_compile", peak)
                    elif stage == "collator":
                        model_dir = model_dir or make_model_dir(size, Path(tmp) / "model")
                        result = collator_stage(model_dir, size, report.data["stages"])
                    elif stage == "fsdp":
                        model_dir = model_dir or make_model_dir(size, Path(tmp) / "model")
                        result = fsdp_stage(model_dir, size, dev, args.dry_run, Path(tmp))
                    else:
                        result = search_stage(size, dev)
                except Exception as e:
                    result = {"status": "error", "error": f"{type(e).__name__}: {str(e).strip()[:300]}"}
                result["stage_wall_s"] = round(time.perf_counter() - t, 1)
            print_line(stage, result)
            report.stage(stage, result)
            _free(dev)
    report.write(finished=True)
    for note in report.data["skipped"]:
        print(f"skipped: {note}")
    print(f"gpu_check: wrote {args.out} ({report.data['wall_s']:.0f} s)")
    return 0 if all(s.get("status") in ("ok", "skipped") for s in report.data["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
