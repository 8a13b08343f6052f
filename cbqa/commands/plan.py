"""`cbqa plan`: per-GPU memory of training a T5 (weights, gradients, optimizer state, activations) under DDP and FSDP,
with and without activation checkpointing, and which combinations fit (cbqa.training.memory has how each is counted).

    cbqa plan --model google/t5-v1_1-xxl --gpus 8 --gpu-memory 80
    cbqa plan --model runs/ssm_t5/hf --gpus 1 --gpu-memory 24 --batch 16 --input-len 128 --target-len 32 --json plan.json

The model is read from its config alone (no weights): T5 and T5.1.1 hub names are known offline.
"""

from __future__ import annotations

import argparse
from typing import Any, get_args

from cbqa.core.formats.jsonl import write_json
from cbqa.core.options import PositiveFloat, PositiveInt, check


def main(argv: list[str]) -> int:
    from cbqa.training.memory import USABLE, OptimizerName, Precision, Setting, plan

    ap = argparse.ArgumentParser(
        prog="cbqa plan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", required=True, help="hub name, local HF directory, cbqa run directory or config.json")
    ap.add_argument("--gpus", type=int, required=True, help="GPUs the run uses (DDP replicas / FSDP shards)")
    ap.add_argument("--gpu-memory", type=float, required=True, help="memory of one GPU, GB (1e9 bytes)")
    ap.add_argument("--optimizer", choices=get_args(OptimizerName), default="adamw")
    ap.add_argument("--batch", type=int, default=8, help="examples per GPU and micro-batch")
    ap.add_argument("--input-len", type=int, default=512, help="input tokens (--data.max_input_len)")
    ap.add_argument("--target-len", type=int, default=114, help="target tokens (--data.max_target_len)")
    ap.add_argument("--precision", choices=get_args(Precision), default="bf16-mixed")
    ap.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="show only the rows with activation checkpointing (--model.gradient_checkpointing true)",
    )
    ap.add_argument("--json", default=None, metavar="OUT", help="also write the plan as JSON here")
    args = ap.parse_args(argv)
    for name, kind in (("gpus", PositiveInt), ("batch", PositiveInt), ("input_len", PositiveInt)):
        check(f"--{name.replace('_', '-')}", kind, getattr(args, name))
    check("--target-len", PositiveInt, args.target_len)
    check("--gpu-memory", PositiveFloat, args.gpu_memory)

    setting = Setting(
        gpus=args.gpus,
        gpu_memory_gb=args.gpu_memory,
        optimizer=args.optimizer,
        batch=args.batch,
        input_len=args.input_len,
        target_len=args.target_len,
        precision=args.precision,
    )
    result = plan(args.model, setting)
    if args.gradient_checkpointing:
        result["rows"] = [r for r in result["rows"] if r["checkpointing"]]
    print(render(result, USABLE))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def render(result: dict[str, Any], usable: float) -> str:
    size, st = result["size"], result["setting"]
    head = "tied to the embeddings" if size["tied"] else "untied"
    lines = [
        f"{result['model']}: {params(result['parameters'])} parameters (head {head}); {st['gpus']} GPU"
        f"{'s' if st['gpus'] > 1 else ''} x {st['gpu_memory_gb']:g} GB ({usable * st['gpu_memory_gb']:.1f} GB usable "
        f"each); {st['optimizer']}, {st['precision']}, {st['batch']} x {st['input_len']}/{st['target_len']} tokens "
        "per GPU",
        "",
    ]
    cols = ["weights", "gradients", "optimizer", "working", "activations", "total"]
    lines.append(f"{'strategy':<8} {'checkpointing':<13} " + " ".join(f"{c:>11}" for c in cols) + "  fits")
    for r in result["rows"]:
        fits = f"no ({r['refused']})" if r.get("refused") else "yes" if r["fits"] else "no"
        cells = " ".join(f"{r[c] / 1e9:>11.1f}" for c in cols)
        lines.append(f"{r['strategy']:<8} {'yes' if r['checkpointing'] else 'no':<13} {cells}  {fits}")
    lines.append("")
    lines.append(
        "GB per GPU; working: bf16 weight copies (DDP) or the units FSDP gathers; activations: what the forward"
    )
    lines.append("saves for the backward (an upper bound on a GPU, see cbqa/training/memory.py).")
    return "\n".join(lines)


def params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"
