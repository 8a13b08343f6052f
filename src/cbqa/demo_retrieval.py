"""Demo stages for the open-book baseline: index the toy corpus (dense MiniLM + BM25), retrieve with hybrid fusion,
score top-k answer recall, and train a T5 reader on question + retrieved passages with the same Lightning module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval_baseline.hits import Hit
from retrieval_baseline.reader_input import format_reader_input

from cbqa.data import Prediction, write_predictions
from cbqa.data.jsonl import read_jsonl, write_jsonl

if TYPE_CHECKING:
    from cbqa.demo import Demo

READER_PASSAGES = 2  # the toy world's documents are short paragraphs: two fit the reader's input budget
READER_MAX_INPUT = 256


def _reader_rows(retrieved: Path) -> list[dict[str, Any]]:
    """QA rows whose `question` is the reader input (question + top passages); the reader trains with no prefix."""
    rows = []
    for _, r in read_jsonl(retrieved):
        hits = [Hit(**{k: p[k] for k in ("id", "title", "text", "score")}) for p in r["passages"]]
        rows.append({"id": r["id"], "question": format_reader_input(r["question"], hits, READER_PASSAGES), "answers": r["answers"]})
    return rows


def run_retrieval_stages(demo: Demo, models: dict[str, str]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    from retrieval_baseline.commands import index as index_cmd
    from retrieval_baseline.commands import retrieval_eval, retrieve

    from cbqa.inference import Answerer
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
    for split in ("train", "dev", "test"):
        p = rd / f"reader_{split}.jsonl"
        if not p.exists():
            write_jsonl(p, _reader_rows(rd / f"{split}.jsonl"))

    reader = out / "models" / "reader"
    # Start the reader from the SSM-pretrained model when there is one: same pretraining, but open-book.
    start = out / "models" / "ssm" / "pretrain" if "ssm" in models else None
    tasks = [{"name": "reader", "kind": "qa", "file": str(rd / "reader_train.jsonl"), "prefix": ""}]
    args = demo.train_args(reader, tasks, c.reader_steps, c.finetune_lr if start else c.pretrain_lr, start, True)
    args = [a if a != str(w / "dev.jsonl") else str(rd / "reader_dev.jsonl") for a in args]
    args += ["--data.val_prefix", "", "--data.max_input_len", str(READER_MAX_INPUT)]
    demo.stage("reader finetune", reader / "summary.json", lambda: run_training(args, "cbqa finetune", str(reader)))

    pred = out / "predictions" / "retrieval_reader.jsonl"

    def predict_reader() -> None:
        test = [r for _, r in read_jsonl(rd / "test.jsonl")]
        inputs = [r["question"] for r in _reader_rows(rd / "test.jsonl")]
        answers = Answerer(str(reader), prefix="", max_input_len=READER_MAX_INPUT).answer(inputs, num_beams=4)
        write_predictions(pred, [
            Prediction(r["id"], r["question"], a[0].text, r["answers"], {"passages": r["passages"][:5]})
            for r, a in zip(test, answers)
        ])  # fmt: skip
        print(f"wrote {len(test)} predictions to {pred}")

    demo.stage("reader predict", pred, predict_reader)
    return str(idx), str(reader / "hf"), {"retrieval_reader": str(pred)}, {"reader": str(reader)}


