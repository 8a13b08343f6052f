"""Demo stages for the open-book baseline: index the toy corpus (dense MiniLM + BM25), retrieve with hybrid fusion,
score top-k answer recall, and train a T5 reader on question + retrieved passages with the same Lightning module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval_baseline.reader import ReaderInput

if TYPE_CHECKING:
    from cbqa.demo import Demo

# Hybrid top-1 recall on the toy world is ~99%, so one passage (a short paragraph) is all the reader needs.
READER_INPUT = ReaderInput(max_passages=1, max_input_len=160)


def run_retrieval_stages(demo: Demo, models: dict[str, str]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    from retrieval_baseline.commands import index as index_cmd
    from retrieval_baseline.commands import retrieval_eval, retrieve
    from retrieval_baseline.reader import predict, prepare

    from cbqa.training.cli import run_training

    c, w, out = demo.cfg, demo.world, demo.out
    idx, rd = out / "index", out / "retrieval"
    demo.stage("retrieval index", idx / "manifest.json",
               lambda: index_cmd.main(["--corpus", str(w / "corpus.jsonl"), "--out", str(idx), "--encoder", c.encoder,
                                       "--passage-words", "0", "--bm25"]))  # fmt: skip
    for split in ("train", "dev", "test"):
        demo.stage(f"retrieve {split}", rd / f"{split}.jsonl",
                   lambda: retrieve.main(["--index", str(idx), "--questions", str(w / f"{split}.jsonl"),
                                          "--retriever", "hybrid", "--k", "20", "--out", str(rd / f"{split}.jsonl")]))  # fmt: skip
    demo.stage("retrieval recall", rd / "recall.json",
               lambda: retrieval_eval.main(["--retrieved", str(rd / "test.jsonl"), "--json", str(rd / "recall.json")]))
    for split in ("train", "dev"):
        demo.stage(f"reader inputs {split}", rd / f"reader_{split}.jsonl",
                   lambda: print(f"wrote {prepare(rd / f'{split}.jsonl', rd / f'reader_{split}.jsonl', READER_INPUT)} reader examples"))  # fmt: skip

    reader = out / "models" / "reader"
    # Start the reader from the SSM model when there is one: same training, then open-book.
    start = out / "models" / "ssm" if "ssm" in models else None
    tasks = [{"name": "reader", "kind": "qa", "file": str(rd / "reader_train.jsonl"), "prefix": ""}]
    args = demo.train_args(reader, tasks, c.reader_steps, c.reader_lr if start else c.lr, start, rd / "reader_dev.jsonl")
    args += ["--data.val_prefix", "", "--data.max_input_len", str(READER_INPUT.max_input_len),
             "--data.batch_size", str(c.reader_batch_size)]
    demo.stage("reader finetune", reader / "summary.json", lambda: run_training(args, "cbqa finetune", str(reader)))

    pred = out / "predictions" / "retrieval_reader.jsonl"
    demo.stage("reader predict", pred,
               lambda: print(f"wrote {predict(str(reader), rd / 'test.jsonl', pred, READER_INPUT)} predictions to {pred}"))
    return str(idx), str(reader / "hf"), {"retrieval_reader": str(pred)}, {"reader": str(reader)}
