"""How much real encyclopedic text a CPU-sized T5 stores under each pretraining objective
(docs/notes/2026-12-02-memorisation-objectives.md).

The toy world's recipe on real text: the 2,067 SQuAD v1.1 dev paragraphs are the pretraining corpus, the SQuAD
questions about them are split by the rows' `split` (train 8,411 / test 1,079; `../shared/data/squad_v1.1_dev`).
Three models of one size are trained with the same code as `cbqa pretrain`, for the same steps, batch and rate:

- `none`: closed-book QA on the train questions alone;
- `span_corruption`: T5's objective over 32-word windows of the paragraphs, mixed with the QA (the demo's variant);
- `ssm`: salient span masking (spaCy entities, every default label, one sentence with its title as context), mixed
  with the QA.

A `KnowledgeCurve` callback measures, every `--every` steps, fill-in EM (the masked salient span of a sentence of a
pretraining paragraph, `cbqa fill-in`'s measure: storage of the corpus itself) and closed-book EM on the held-out
test questions, whose answers are in the pretraining paragraphs but were never asked in training. The table prints
both at each measured step, next to two baselines that need no model: always answering the most frequent train
answer, and the share of test questions whose answer is some train question's answer (what a model that only
recalls train answers could at best reach).

    python experiments/real_text_storage.py --out runs/real_text_storage          # ~1 h on 2 cores
    python experiments/real_text_storage.py --out runs/rts_smoke --steps 40 --every 20 --eval-n 50   # a smoke run
    python experiments/real_text_storage.py --out runs/rts_t5base --model t5-base --steps 20000 --every 2000  # a GPU

Runs go to OUT/<objective>/ (each with logs/metrics.csv); a finished run is not retrained. Writes OUT/table.json
and OUT/table.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad_v1.1_dev"
OBJECTIVES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "span_corruption": {"policy": "span_corruption", "policy_options": {"max_units": 32}},
    # Every default label: the demo's preset leaves PERSON out because the toy world's people are its titles.
    "ssm": {"policy": "ssm", "policy_options": {"context": "sentence", "title": True}},
}
FILL_IN = {"policy": "ssm", "options": {"context": "sentence", "title": True}}


def prepare(squad: Path, out: Path, spans: Path | None, vocab: int) -> tuple[Path, Path]:
    """The spans store (spaCy over the paragraphs, unless one is given) and a sentencepiece tokenizer."""
    from cbqa.core.formats.jsonl import read_jsonl
    from cbqa.model.tokenizer import train_tokenizer
    from ner_masking.annotate import AnnotateConfig, annotate_corpus

    if spans is None:
        spans = annotate_corpus(squad / "passages.jsonl", out / "spans", AnnotateConfig(progress=True))
    tok = out / "tokenizer"
    if not (tok / "spiece.model").exists():
        texts = [r["text"] for _, r in read_jsonl(squad / "passages.jsonl")]
        texts += [r["question"] for _, r in read_jsonl(squad / "qa.jsonl") if r["split"] == "train"]
        train_tokenizer(texts, tok, vocab_size=vocab)
    return spans, tok


def train(run: Path, name: str, args: argparse.Namespace, tok: Path, spans: Path) -> None:
    from cbqa.training.cli import run_training

    if (run / "summary.json").exists() and (run / "logs" / "metrics.csv").exists():
        return
    qa = {"name": "qa", "kind": "qa", "file": str(args.squad / "qa.jsonl"), "split": "train"}
    spec = OBJECTIVES[name]
    tasks = [qa] if spec is None else [{"name": name, "kind": "masked", "spans": str(spans), **spec}, qa]
    arch = {
        "d_model": args.d_model,
        "d_ff": args.d_ff,
        "num_heads": args.heads,
        "d_kv": args.d_model // args.heads,
        "num_layers": args.layers,
        "num_decoder_layers": args.layers,
    }
    # a fresh model of the CPU size on the paragraphs' tokenizer, or (--model) a pretrained T5 with its own
    model = (
        ["--model.model", args.model]
        if args.model
        else ["--model.tokenizer", str(tok), *[x for k, v in arch.items() for x in (f"--model.arch.{k}", str(v))]]
    )
    argv = [
        *model,
        "--model.lr",
        str(args.lr),
        "--model.schedule",
        "constant",
        "--model.warmup_steps",
        "100",
        "--data.tasks",
        json.dumps(tasks),
        "--data.batch_size",
        str(args.batch_size),
        # Equal rates for the objective and the QA: examples-proportional mixing capped at the paragraph count
        # (the masked task has one row per paragraph, the QA four times as many rows).
        "--data.mixing.limit",
        str(args.mix_limit),
        "--data.seed",
        str(args.seed),
        "--seed_everything",
        str(args.seed),
        "--trainer.max_steps",
        str(args.steps),
        "--trainer.log_every_n_steps",
        "50",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.callbacks+=cbqa.memorisation.curves.KnowledgeCurve",
        "--trainer.callbacks.every_n_steps",
        str(args.every),
        "--trainer.callbacks.fill_in_spans",
        str(spans),
        "--trainer.callbacks.fill_in_n",
        str(args.eval_n),
        "--trainer.callbacks.fill_in_policy",
        FILL_IN["policy"],
        "--trainer.callbacks.fill_in_options",
        json.dumps(FILL_IN["options"]),
        "--trainer.callbacks.dev_file",
        str(args.squad / "qa.jsonl"),
        "--trainer.callbacks.dev_split",
        "test",
        "--trainer.callbacks.dev_max_examples",
        str(args.eval_n),
        "--run_dir",
        str(run),
    ]
    code = run_training(argv, "real_text_storage", str(run))
    if code != 0:
        raise SystemExit(f"training {run} failed ({code})")


def curve(run: Path) -> list[dict[str, float]]:
    """Each measurement of the run, with the mean training loss logged since the one before (the loss of the mixture
    the run trains on: its own objective plus the QA, so comparable along a run, not across objectives)."""
    import pandas as pd

    m = pd.read_csv(run / "logs" / "metrics.csv")
    points = m[m["cb_dev_em"].notna()].groupby("step", as_index=False).last()
    losses = m[m["train_loss"].notna()] if "train_loss" in m else pd.DataFrame({"step": [], "train_loss": []})
    out, before = [], -1
    for r in points.itertuples():
        window = losses[(losses["step"] > before) & (losses["step"] <= r.step)]["train_loss"]
        out.append(
            {
                "step": int(r.step),
                "fill_in_em": round(float(r.fill_in_em), 1),
                "cb_test_em": round(float(r.cb_dev_em), 1),
                "train_loss": round(float(window.mean()), 3) if len(window) else None,
            }
        )
        before = int(r.step)
    return out


def baselines(squad: Path, n: int) -> dict[str, float]:
    """EM of the most frequent train answer on the measured test questions, and their answer-overlap share."""
    from cbqa.core.formats.jsonl import read_jsonl
    from cbqa.core.metrics import max_em, normalize_answer

    rows = [r for _, r in read_jsonl(squad / "qa.jsonl")]
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"][:n]  # KnowledgeCurve measures the first n test rows
    top = Counter(normalize_answer(r["answers"][0]) for r in train).most_common(1)[0][0]
    train_answers = {normalize_answer(a) for r in train for a in r["answers"]}
    return {
        "most_frequent_answer": top,
        "most_frequent_answer_em": round(100 * sum(max_em(top, r["answers"]) for r in test) / len(test), 1),
        "answer_in_train_answers": round(
            100 * sum(any(normalize_answer(a) in train_answers for a in r["answers"]) for r in test) / len(test), 1
        ),
    }


def table_md(curves: dict[str, list[dict[str, float]]]) -> str:
    steps = sorted({p["step"] for c in curves.values() for p in c})
    head = "| step | " + " | ".join(f"{n}: fill-in / closed-book / loss" for n in curves) + " |"
    lines = [head, "|" + "---:|" * (1 + len(curves))]
    for s in steps:
        cells = []
        for c in curves.values():
            p = next((p for p in c if p["step"] == s), None)
            loss = "-" if p is None or p["train_loss"] is None else f"{p['train_loss']:.2f}"
            cells.append("-" if p is None else f"{p['fill_in_em']:.1f} / {p['cb_test_em']:.1f} / {loss}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--squad", type=Path, default=SQUAD, help="directory with passages.jsonl and qa.jsonl")
    ap.add_argument("--spans", type=Path, help="an existing spans store of the paragraphs (default: run spaCy)")
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--eval-n", type=int, default=300, help="fill-in items and test questions per measurement")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--mix-limit", type=int, default=2067, help="examples-proportional mixing limit K")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--d-ff", type=int, default=512)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2, help="encoder and decoder layers each")
    ap.add_argument(
        "--model",
        help="start from this pretrained T5 (hub name or local directory; e.g. t5-base on a GPU) "
        "instead of a fresh model of --d-model etc. on a tokenizer trained here",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for f in ("passages.jsonl", "qa.jsonl"):
        if not (args.squad / f).is_file():
            raise SystemExit(f"{args.squad / f}: not found (give --squad, the directory of SQuAD dev passages and qa)")
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    spans, tok = prepare(args.squad, args.out, args.spans, args.vocab)
    curves, walls = {}, {}
    for name in args.objectives:
        train(args.out / name, name, args, tok, spans)
        curves[name] = curve(args.out / name)
        # the run's own training wall (measurements included), also right when a finished run was not retrained
        walls[name] = json.loads((args.out / name / "summary.json").read_text(encoding="utf-8"))["wall_seconds"]
    base = baselines(args.squad, args.eval_n)
    from cbqa.core.formats.jsonl import write_json

    cfg = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(
        args.out / "table.json",
        {
            "curves": curves,
            "baselines": base,
            "config": cfg,
            "train_wall_s": walls,
            "wall_s": round(time.perf_counter() - t0, 1),
        },
    )
    md = table_md(curves)
    (args.out / "table.md").write_text(md, encoding="utf-8")
    print(
        "fill-in EM (masked salient spans of pretraining sentences) and closed-book EM on held-out SQuAD "
        f"test questions (n = {args.eval_n} each), %"
    )
    print(md)
    print(
        f"baselines: most frequent train answer {base['most_frequent_answer']!r} "
        f"{base['most_frequent_answer_em']}% EM; answer among train answers {base['answer_in_train_answers']}%"
    )
    print(f"training wall (s): {walls}; wrote {args.out}/table.json and table.md")


if __name__ == "__main__":
    main()
