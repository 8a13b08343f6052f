"""Demo stages for the open-book baseline: index the toy corpus (dense MiniLM + BM25), retrieve with hybrid fusion,
score top-k answer recall, and train a T5 reader on question + retrieved passages with the same Lightning module."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from cbqa.demo.config import DemoConfig
from cbqa.demo.stages import Stages, train_args

# Hybrid top-1 recall on the toy world is ~99%, so one passage (a short paragraph) is all the reader needs.
READER_PASSAGES, READER_MAX_INPUT_LEN = 1, 160


def run_retrieval_stages(
    cfg: DemoConfig, out: Path, stages: Stages, models: dict[str, str]
) -> tuple[str, str, dict[str, str], dict[str, str]]:
    from retrieval_baseline.commands import index as index_cmd
    from retrieval_baseline.commands import retrieval_eval, retrieve
    from retrieval_baseline.reader import ReaderInput, prepare, write_reader_input

    from cbqa.reader import predict
    from cbqa.training.cli import run_training

    w = out / "world"
    idx, rd = out / "index", out / "retrieval"
    reader_input = ReaderInput(max_passages=READER_PASSAGES, max_input_len=READER_MAX_INPUT_LEN)
    fmt = json.dumps(asdict(reader_input))

    def command(name: str, done: Path, main, argv: list[str], outputs: list[Path] | None = None) -> None:
        stages.run(name, done, lambda: main(argv), [name.split()[0], *argv], outputs or [])

    command("retrieval index", idx / "manifest.json", index_cmd.main,
            ["--corpus", str(w / "corpus.jsonl"), "--out", str(idx), "--encoder", cfg.encoder, "--passage-words", "0",
             "--bm25"], [idx])  # fmt: skip
    for split in ("train", "dev", "test"):
        command(f"retrieve {split}", rd / f"{split}.jsonl", retrieve.main,
                ["--index", str(idx), "--questions", str(w / f"{split}.jsonl"), "--retriever", "hybrid", "--k", "20",
                 "--out", str(rd / f"{split}.jsonl")])  # fmt: skip
    command("retrieval recall", rd / "recall.json", retrieval_eval.main,
            ["--retrieved", str(rd / "test.jsonl"), "--json", str(rd / "recall.json")])
    for split in ("train", "dev"):
        src, dst = rd / f"{split}.jsonl", rd / f"reader_{split}.jsonl"
        stages.run(f"reader inputs {split}", dst,
                   lambda: print(f"wrote {prepare(src, dst, reader_input)} reader examples"),
                   ["reader-prepare", str(src), str(dst), fmt])  # fmt: skip

    reader = out / "models" / "reader"
    # Start the reader from the SSM model when there is one: same training, then open-book.
    start = out / "models" / "ssm" if "ssm" in models else None
    tasks = [{"name": "reader", "kind": "qa", "file": str(rd / "reader_train.jsonl"), "prefix": ""}]
    args = train_args(cfg, out, reader, tasks, cfg.reader_steps, cfg.reader_lr if start else cfg.lr, start, rd / "reader_dev.jsonl")
    args += ["--data.val_prefix", "", "--data.max_input_len", str(reader_input.max_input_len),
             "--data.batch_size", str(cfg.reader_batch_size)]
    stages.run("reader finetune", reader / "summary.json", lambda: run_training(args, "cbqa finetune", str(reader)),
               ["cbqa finetune", *args, fmt], [reader])  # fmt: skip
    # The run records the input format it was trained on; `cbqa reader predict` and the app read it from there.
    write_reader_input(reader, reader_input)

    pred = out / "predictions" / "retrieval_reader.jsonl"
    stages.run("reader predict", pred,
               lambda: print(f"wrote {predict(str(reader), rd / 'test.jsonl', pred, reader_input)} predictions to {pred}"),
               ["reader-predict", str(reader), str(rd / "test.jsonl"), str(pred), fmt])  # fmt: skip
    return str(idx), str(reader), {"retrieval_reader": str(pred)}, {"reader": str(reader)}
