"""Training-step throughput: our Lightning module + data path vs a bare PyTorch loop, same model, same batch, same run.

    python bench/train_step.py                       # 1M-parameter T5 on CPU (the demo's size)
    python bench/train_step.py --size base --precision bf16-mixed --compile   # T5-base-sized on a GPU

Prints input+target tokens/s of each and the ratio ours/bare (target >= 0.95).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict

import lightning as L
import torch

from cbqa.model.loading import T5Arch
from cbqa.model.tokenizer import train_tokenizer
from cbqa.training.module import T5Seq2Seq

SIZES = {
    "tiny": T5Arch(),  # ~1M parameters with a 1k vocabulary
    "small": T5Arch(d_model=512, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8, d_kv=64),
    "base": T5Arch(d_model=768, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64),
}


def make_model_dir(size: str, vocab: int, tmp: str) -> str:
    """A randomly initialised T5 of the given size saved as a HF directory (with a small tokenizer beside it)."""
    from transformers import T5Config, T5ForConditionalGeneration

    train_tokenizer((f"sentence number {i} about things" for i in range(2000)), f"{tmp}/model", vocab_size=200)
    cfg = T5Config(vocab_size=vocab, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **asdict(SIZES[size]))
    T5ForConditionalGeneration(cfg).save_pretrained(f"{tmp}/model")
    return f"{tmp}/model"


def make_batch(vocab: int, batch: int, src_len: int, tgt_len: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(3, vocab, (batch, src_len), generator=g),
        "attention_mask": torch.ones(batch, src_len, dtype=torch.long),
        "labels": torch.randint(3, vocab, (batch, tgt_len), generator=g),
    }


class Timer(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.t1, self.steps = warmup, 0.0, 0.0, 0

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self._sync()
            self.t0 = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self._sync()
            self.t1 = time.perf_counter()
            self.steps = trainer.global_step - self.warmup


def ours(model_dir: str, batch: dict, steps: int, warmup: int, precision: str, compile: bool, lr: float) -> float:
    module = T5Seq2Seq(model=model_dir, lr=lr, compile=compile)
    timer = Timer(warmup)
    loader = torch.utils.data.DataLoader(
        [batch] * (steps + warmup), batch_size=None, pin_memory=torch.cuda.is_available()
    )
    trainer = L.Trainer(
        max_steps=steps + warmup,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        accelerator="auto",
        devices=1,
    )
    trainer.fit(module, train_dataloaders=loader)
    return timer.steps / (timer.t1 - timer.t0)


def bare(model_dir: str, batch: dict, steps: int, warmup: int, precision: str, compile: bool, lr: float) -> float:
    from transformers import AutoModelForSeq2SeqLM

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = AutoModelForSeq2SeqLM.from_pretrained(model_dir).to(dev).train()
    fwd = torch.compile(net) if compile else net
    opt = torch.optim.AdamW(net.parameters(), lr=lr, fused=dev.type == "cuda" or None)
    dtype = torch.bfloat16 if precision.startswith("bf16") else None
    t0 = 0.0
    for i in range(steps + warmup):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        b = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = fwd(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=list(SIZES), default="tiny")
    ap.add_argument("--vocab", type=int, default=None, help="default: 1000 for tiny, 32128 otherwise")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--src-len", type=int, default=48)
    ap.add_argument("--tgt-len", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--precision", default="32-true", help="32-true | bf16-mixed")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument(
        "--repeats", type=int, default=2, help="alternate ours/bare this many times; report the best of each"
    )
    args = ap.parse_args()
    vocab = args.vocab or (1000 if args.size == "tiny" else 32128)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model_dir(args.size, vocab, tmp)
        batch = make_batch(vocab, args.batch, args.src_len, args.tgt_len)
        tokens = int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
        a, b = [], []
        for _ in range(args.repeats):  # alternate, so drift in machine load hits both equally
            a.append(ours(model_dir, batch, args.steps, args.warmup, args.precision, args.compile, 1e-4))
            b.append(bare(model_dir, batch, args.steps, args.warmup, args.precision, args.compile, 1e-4))
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    o, r = max(a) * tokens, max(b) * tokens
    print(
        f"device: {dev}; size {args.size}, vocab {vocab}, batch {args.batch}x({args.src_len}+{args.tgt_len}), "
        f"precision {args.precision}, compile {args.compile}"
    )
    print(f"ours (Lightning T5Seq2Seq): {o:,.0f} tokens/s")
    print(f"bare PyTorch loop:          {r:,.0f} tokens/s")
    print(f"ratio ours/bare:            {o / r:.3f}")


if __name__ == "__main__":
    main()
