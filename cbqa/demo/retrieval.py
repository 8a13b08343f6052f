"""Demo stages for the open-book baseline: index the toy corpus (dense MiniLM + BM25), retrieve with hybrid fusion,
score top-k answer recall, train a T5 reader on retrieved passages with the same Lightning module, and check it: the
extractive floor (an entity of the right type from the passages, no training) and the counterfactual entity swap.

The default reader is Fusion-in-Decoder over the top `reader_passages` passages with entity anonymisation and a copy
head, trained on QA-train's questions over their retrieved passages; `reader_clozes` mixes in reading examples made
from the spans store (clozes over sentences of the documents about the entities QA-train asks about, read over the
passages retrieved for each sentence). `reader: concat` is the one-passage reader (question + top passage in one
string, trained on QA-train alone)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from cbqa.demo.config import DemoConfig
from cbqa.demo.stages import Stages, train_args

RETRIEVE_K = 20


def run_retrieval_stages(
    cfg: DemoConfig, out: Path, stages: Stages, models: dict[str, str]
) -> tuple[str, str, dict[str, str], dict[str, str]]:
    from retrieval_baseline.commands import index as index_cmd
    from retrieval_baseline.commands import retrieval_eval, retrieve

    w = out / "world"
    idx, rd = out / "index", out / "retrieval"

    def command(name: str, done: Path, main, argv: list[str], outputs: list[Path] | None = None) -> None:
        stages.run(name, done, lambda: main(argv), [name.split()[0], *argv], outputs or [])

    command(
        "retrieval index",
        idx / "manifest.json",
        index_cmd.main,
        [
            "--corpus",
            str(w / "corpus.jsonl"),
            "--out",
            str(idx),
            "--encoder",
            cfg.encoder,
            "--passage-words",
            "0",
            "--bm25",
        ],
        [idx],
    )
    for split in ("train", "dev", "test"):
        command(
            f"retrieve {split}",
            rd / f"{split}.jsonl",
            retrieve.main,
            [
                "--index",
                str(idx),
                "--questions",
                str(w / f"{split}.jsonl"),
                "--retriever",
                "hybrid",
                "--k",
                str(RETRIEVE_K),
                "--out",
                str(rd / f"{split}.jsonl"),
            ],
        )
    command(
        "retrieval recall",
        rd / "recall.json",
        retrieval_eval.main,
        ["--retrieved", str(rd / "test.jsonl"), "--json", str(rd / "recall.json")],
    )

    if cfg.reader == "fid":
        reader, name = fid_reader(cfg, out, stages, models), "retrieval_fid"
    else:
        reader, name = concat_reader(cfg, out, stages, models), "retrieval_reader"
    preds = {name: str(out / "predictions" / f"{name}.jsonl")}
    stages.run(
        "reader predict",
        Path(preds[name]),
        lambda: _predict(reader, rd / "test.jsonl", Path(preds[name])),
        ["reader-predict", str(reader), str(rd / "test.jsonl"), preds[name]],
    )

    floors = {
        f"extractive_floor{suffix}": out / "predictions" / f"extractive_floor{suffix}.jsonl"
        for suffix in ("", "_sentence")
    }
    stages.run(
        "extractive floor",
        floors["extractive_floor"],
        lambda: _floors(rd / "test.jsonl", floors, cfg.reader_passages),
        ["reader-floor", str(rd / "test.jsonl"), str(cfg.reader_passages), "rank", "sentence"],
        list(floors.values()),
    )
    preds.update({k: str(v) for k, v in floors.items()})

    counterfactual = rd / "counterfactual.json"
    stages.run(
        "reader counterfactual",
        counterfactual,
        lambda: _counterfactual(reader, rd / "test.jsonl", counterfactual, w / "overlap_gold.jsonl"),
        ["reader-counterfactual", str(reader), str(rd / "test.jsonl"), str(w / "overlap_gold.jsonl")],
    )
    return str(idx), str(reader), preds, {"reader": str(reader)}


def _reader_args(cfg: DemoConfig, out: Path, reader: Path, tasks: list[dict], models: dict[str, str]) -> list[str]:
    # Start the reader from the SSM model when there is one: the same T5, then open-book.
    start = out / "models" / "ssm" if "ssm" in models else None
    rd = out / "retrieval"
    dev = rd / ("dev.jsonl" if cfg.reader == "fid" else "reader_dev.jsonl")
    args = train_args(cfg, out, reader, tasks, cfg.reader_steps, cfg.reader_lr if start else cfg.lr, start, dev)
    return args + [
        "--data.max_input_len",
        str(cfg.reader_max_input_len),
        "--data.batch_size",
        str(cfg.reader_batch_size),
    ]


def fid_reader(cfg: DemoConfig, out: Path, stages: Stages, models: dict[str, str]) -> Path:
    from cbqa.commands import reader as reader_cmd

    rd, reading = out / "retrieval", out / "retrieval" / "reading.jsonl"
    tasks: list[dict] = [{"name": "qa", "kind": "reader", "file": str(rd / "train.jsonl")}]
    if cfg.reader_clozes:
        argv = [
            "reading-examples",
            "--spans",
            str(out / "spans"),
            "--qa",
            str(out / "world" / "train.jsonl"),
            "--index",
            str(out / "index"),
            "--k",
            str(cfg.reading_k),
            "--out",
            str(reading),
        ]
        stages.run("reader reading examples", reading, lambda: reader_cmd.main(argv), ["reader", *argv])
        tasks.insert(
            0,
            {
                "name": "reading",
                "kind": "reading",
                "file": str(reading),
                "policy_options": {"swap": cfg.reading_swap, "keep_source": cfg.reading_keep_source},
            },
        )

    reader = out / "models" / "reader"
    args = _reader_args(cfg, out, reader, tasks, models)
    args += ["--data.reader.passages", str(cfg.reader_passages)]
    if cfg.reader_anonymise:
        args += ["--data.reader.anonymise", "true", "--data.reader.numbering", cfg.reader_numbering]
    if cfg.reader_pointer:
        args += ["--model.pointer", "true", "--model.copy_window", json.dumps(list(cfg.reader_copy_window))]
    # (the reader run records its input format, reader_input.json, itself)
    stages.run(
        "reader finetune",
        reader / "summary.json",
        lambda: reader_cmd.finetune(args),
        ["cbqa reader finetune", *args],
        [reader],
    )
    return reader


def concat_reader(cfg: DemoConfig, out: Path, stages: Stages, models: dict[str, str]) -> Path:
    from cbqa.reader.inputs import ReaderInput, prepare, write_reader_input
    from cbqa.training.cli import run_training

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
    reader = out / "models" / "reader"
    tasks = [{"name": "reader", "kind": "qa", "file": str(rd / "reader_train.jsonl"), "prefix": ""}]
    args = _reader_args(cfg, out, reader, tasks, models) + ["--data.val_prefix", ""]
    stages.run(
        "reader finetune",
        reader / "summary.json",
        lambda: _train_reader(args, reader, fmt, run_training),
        ["cbqa finetune", *args, json.dumps(asdict(fmt))],
        [reader],
    )
    write_reader_input(reader, fmt)
    return reader


def _train_reader(args: list[str], reader: Path, fmt, run_training) -> int:
    from cbqa.reader.inputs import write_reader_input

    code = run_training(args, "cbqa finetune", str(reader))
    # The run records the input format it was trained on; `cbqa reader predict` and the app read it from there.
    write_reader_input(reader, fmt)
    return code


def _predict(reader: Path, retrieved: Path, out: Path) -> None:
    from cbqa.reader.answering import predict

    print(f"wrote {predict(str(reader), retrieved, out)} predictions to {out}")


def _floors(retrieved: Path, outs: dict[str, Path], k: int) -> None:
    from cbqa.reader.floor import PassageNER, floor_predictions

    ner = PassageNER()
    for name, path in outs.items():
        scoring = "sentence" if name.endswith("_sentence") else "rank"
        print(
            f"wrote {floor_predictions(retrieved, path, k, scoring, ner=ner)} {scoring}-scored floor predictions to {path}"
        )


def _counterfactual(reader: Path, retrieved: Path, out: Path, gold: Path) -> None:
    from cbqa.core.formats.jsonl import read_jsonl
    from cbqa.reader.counterfactual import run_counterfactual

    categories = {str(r["id"]): str(r.get("category")) for _, r in read_jsonl(gold)} if gold.exists() else None
    s = run_counterfactual(str(reader), retrieved, out, categories=categories)
    print(
        f"counterfactual: {s['swapped']} of {s['questions']} swapped; substitute {s['substitute']}%, original "
        f"{s['original']}%, other {s['other']}%; wrote {out}"
    )
