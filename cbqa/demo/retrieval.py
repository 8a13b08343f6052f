"""The study's open-book arm: index the corpus (dense MiniLM + BM25), retrieve with hybrid fusion, score top-k answer
recall, train a T5 reader on retrieved passages (`cbqa reader finetune`, started from the SSM model when the study
has one), and check it: the extractive floor (an entity of the right type from the passages, no training) and the
counterfactual entity swap.

The default reader is Fusion-in-Decoder over the top `reader_passages` passages with entity anonymisation and a copy
head, trained on QA-train's questions over their retrieved passages; `reader_clozes` mixes in reading examples made
from the spans store. `reader: concat` is the one-passage reader (question + top passage in one string).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cbqa.demo.config import StudyConfig
from cbqa.demo.inputs import StudyInputs
from cbqa.demo.stages import Stages, flags, run_stage, train_args

RETRIEVE_K = 20


def retrieval_inputs(cfg: StudyConfig, out: Path, stages: Stages, inputs: StudyInputs) -> None:
    """The arm's stages that need no model (the index, the retrieved passages of each split, their answer recall, the
    extractive floors): the study runs them beside the first training stages."""
    from retrieval_baseline.commands import index as index_cmd
    from retrieval_baseline.commands import retrieval_eval, retrieve

    idx, rd = out / "index", out / "retrieval"
    argv = flags(corpus=inputs.corpus, out=idx, encoder=cfg.encoder, passage_words=0) + ["--bm25"]
    stages.command("retrieval index", idx / "manifest.json", index_cmd.main, argv, [idx])
    for split in ("train", "dev", "test"):
        argv = flags(
            index=idx, questions=inputs.split(split), retriever="hybrid", k=RETRIEVE_K, out=rd / f"{split}.jsonl"
        )
        stages.command(f"retrieve {split}", rd / f"{split}.jsonl", retrieve.main, argv)
    argv = flags(retrieved=rd / "test.jsonl", json=rd / "recall.json")
    stages.command("retrieval recall", rd / "recall.json", retrieval_eval.main, argv)
    floors = floor_predictions(out)
    stages.run(
        "extractive floor",
        floors["extractive_floor"],
        lambda: _floors(rd / "test.jsonl", floors, cfg.reader_passages),
        ["reader-floor", str(rd / "test.jsonl"), str(cfg.reader_passages), "rank", "sentence"],
        list(floors.values()),
    )


def floor_predictions(out: Path) -> dict[str, Path]:
    """The extractive floors' prediction files by system name."""
    return {f"extractive_floor{s}": out / "predictions" / f"extractive_floor{s}.jsonl" for s in ("", "_sentence")}


def retrieval_arm(
    cfg: StudyConfig, out: Path, stages: Stages, inputs: StudyInputs, start: Path | None, labels: Path
) -> dict[str, Any]:
    """The arm's stages after `retrieval_inputs`: the reader and its checks; returns the index and reader
    directories and the prediction files by system name. `labels`: overlap categories of the test questions, for the
    counterfactual check's breakdown."""
    idx, rd = out / "index", out / "retrieval"
    reader_dir = out / "models" / "reader"
    if cfg.reader == "fid":
        fid_reader(cfg, out, stages, inputs, start, reader_dir)
        name = "retrieval_fid"
    else:
        concat_reader(cfg, out, stages, start, reader_dir)
        name = "retrieval_reader"
    preds = {name: out / "predictions" / f"{name}.jsonl"}
    stages.run(
        "reader predict",
        preds[name],
        lambda: _predict(reader_dir, rd / "test.jsonl", preds[name]),
        ["reader-predict", str(reader_dir), str(rd / "test.jsonl"), str(preds[name])],
    )
    preds.update(floor_predictions(out))
    counterfactual = rd / "counterfactual.json"
    stages.run(
        "reader counterfactual",
        counterfactual,
        lambda: _counterfactual(reader_dir, rd / "test.jsonl", counterfactual, labels),
        ["reader-counterfactual", str(reader_dir), str(rd / "test.jsonl"), str(labels)],
    )
    return {"index": str(idx), "reader": str(reader_dir), "predictions": {k: str(v) for k, v in preds.items()}}


def _reader_args(cfg: StudyConfig, out: Path, reader: Path, tasks: list[dict], start: Path | None) -> list[str]:
    # The reader starts from the SSM model when there is one: the same T5, then open-book.
    dev = out / "retrieval" / ("dev.jsonl" if cfg.reader == "fid" else "reader_dev.jsonl")
    args = train_args(cfg, out, reader, tasks, cfg.reader_steps, cfg.reader_lr if start else cfg.lr, start, dev)
    return args + flags(
        data__max_input_len=cfg.reader_max_input_len, data__batch_size=cfg.reader_batch_size, export=cfg.reader_export
    )


def fid_reader(
    cfg: StudyConfig, out: Path, stages: Stages, inputs: StudyInputs, start: Path | None, reader: Path
) -> None:
    from cbqa.commands import reader as reader_cmd

    rd, reading = out / "retrieval", out / "retrieval" / "reading.jsonl"
    tasks: list[dict] = [{"name": "qa", "kind": "reader", "file": str(rd / "train.jsonl")}]
    if cfg.reader_clozes:
        argv = [
            "reading-examples",
            *flags(spans=out / "spans", qa=inputs.train, index=out / "index", k=cfg.reading_k, out=reading),
        ]
        stages.run("reader reading examples", reading, lambda: reader_cmd.main(argv), ["reader", *argv])
        options = {"swap": cfg.reading_swap, "keep_source": cfg.reading_keep_source}
        tasks.insert(0, {"name": "reading", "kind": "reading", "file": str(reading), "policy_options": options})
    args = _reader_args(cfg, out, reader, tasks, start) + flags(data__reader__passages=cfg.reader_passages)
    if cfg.reader_anonymise:
        args += flags(data__reader__anonymise="true", data__reader__numbering=cfg.reader_numbering)
    if cfg.reader_pointer:
        args += flags(model__pointer="true", model__copy_window=json.dumps(list(cfg.reader_copy_window)))
    # (the reader run records its input format, reader_input.json, itself)
    argv = ["reader", "finetune", *args]
    log = stages.log("reader finetune")
    stages.run(
        "reader finetune",
        reader / "summary.json",
        lambda: run_stage(argv, log, cfg),
        ["cbqa reader finetune", *args],
        [reader],
    )


def concat_reader(cfg: StudyConfig, out: Path, stages: Stages, start: Path | None, reader: Path) -> None:
    from cbqa.reader.inputs import ReaderInput, prepare, write_reader_input

    rd = out / "retrieval"
    fmt = ReaderInput(max_passages=1, max_input_len=cfg.reader_max_input_len, reader="concat")
    for split in ("train", "dev"):
        src, dst = rd / f"{split}.jsonl", rd / f"reader_{split}.jsonl"
        stages.run(
            f"reader inputs {split}",
            dst,
            lambda src=src, dst=dst: print(f"wrote {prepare(src, dst, fmt)} reader examples"),
            ["reader-prepare", str(src), str(dst), json.dumps(asdict(fmt))],
        )
    tasks = [{"name": "reader", "kind": "qa", "file": str(rd / "reader_train.jsonl"), "prefix": ""}]
    args = _reader_args(cfg, out, reader, tasks, start) + ["--data.val_prefix", ""]
    log = stages.log("reader finetune")

    def train() -> int:
        code = run_stage(["finetune", *args], log, cfg)
        write_reader_input(reader, fmt)  # how it reads, for `cbqa reader predict` and the app
        return code

    stages.run(
        "reader finetune", reader / "summary.json", train, ["cbqa finetune", *args, json.dumps(asdict(fmt))], [reader]
    )


def _predict(reader: Path, retrieved: Path, out: Path) -> None:
    from cbqa.reader.answering import predict

    print(f"wrote {predict(str(reader), retrieved, out)} predictions to {out}")


def _floors(retrieved: Path, outs: dict[str, Path], k: int) -> None:
    from cbqa.reader.floor import PassageNER, floor_predictions

    ner = PassageNER()
    for name, path in outs.items():
        scoring = "sentence" if name.endswith("_sentence") else "rank"
        n = floor_predictions(retrieved, path, k, scoring, ner=ner)
        print(f"wrote {n} {scoring}-scored floor predictions to {path}")


def _counterfactual(reader: Path, retrieved: Path, out: Path, labels: Path) -> None:
    from cbqa.core.formats.jsonl import read_jsonl
    from cbqa.reader.counterfactual import run_counterfactual

    categories = {str(r["id"]): str(r.get("category")) for _, r in read_jsonl(labels)} if labels.exists() else None
    s = run_counterfactual(str(reader), retrieved, out, categories=categories)
    print(
        f"counterfactual: {s['swapped']} of {s['questions']} swapped; substitute {s['substitute']}%, original "
        f"{s['original']}%, other {s['other']}%; wrote {out}"
    )
