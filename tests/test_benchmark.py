"""`cbqa benchmark`: the CPU proof of the whole path (prepare WebQuestions -> fine-tune a tiny hub-layout T5 with the
paper's config -> answer with the recorded prefix -> one results row), Lewis et al.'s released NQ labels joined to the
NQ-open test set (the published category sizes; EM equal to `cbqa evaluate`'s), and the row beside the published
rows in the app. Tests on ../shared/data skip when it is absent."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from cbqa.benchmarks.prepare import prepare
from cbqa.benchmarks.protocols import DATASETS, Part
from cbqa.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
WEBQ, NQ, QA_OVERLAP = DATA / "webquestions", DATA / "nq_open", DATA / "qa_overlap"


def cbqa(*argv: str) -> None:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    assert e.value.code == 0


def small(name: str, at: int):
    spec = DATASETS[name]
    heldout = {"train": (Part("train", None, at),), "validation": (Part("train", at),), "test": (Part("test"),)}
    return replace(spec, sizes={}, protocols={**spec.protocols, "heldout": heldout})


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def fake_predictions(test: Path, out: Path) -> Path:
    """Right (the first answer) on every third question, wrong elsewhere."""
    rows = [json.loads(x) for x in test.read_text().splitlines()]
    return jsonl(
        out, [{"id": r["id"], "prediction": r["answers"][0] if i % 3 == 0 else "nothing"} for i, r in enumerate(rows)]
    )


@pytest.mark.slow
@pytest.mark.skipif(not WEBQ.is_dir(), reason="../shared/data/webquestions absent (developer data only)")
def test_cpu_path_prepare_finetune_benchmark_on_webquestions(tmp_path: Path) -> None:
    from helpers.hub_layout import write_hub_t5

    cbqa("data", "prepare", "web_questions", "--source", WEBQ, "--out", tmp_path / "wq")
    rows = [json.loads(x) for x in (tmp_path / "wq" / "train.jsonl").read_text().splitlines()[:400]]
    texts = [r["question"] for r in rows] + [r["answers"][0] for r in rows]
    model = write_hub_t5(tmp_path / "t5-v1_1", "t5-v1_1", texts, tmp_path / "hub-work")
    cbqa(
        "benchmark",
        "--data",
        tmp_path / "wq",
        "--model",
        model,
        "--finetune",
        ROOT / "configs/paper/web_questions.yaml",
        "--max-questions",
        32,
        "--max-new-tokens",
        8,
        "--device",
        "cpu",
        "--out",
        tmp_path / "bench",
        "--",  # the paper's recipe, shrunk to a CPU smoke run
        "--trainer.max_steps",
        4,
        "--trainer.accumulate_grad_batches",
        1,
        "--data.batch_size",
        8,
        "--trainer.val_check_interval",
        2,
        "--data.val_max_examples",
        8,
        "--model.max_new_tokens",
        8,
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
    )
    row = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert row["finetuned"] and row["questions"] == row["max_questions"] == 32
    assert (row["prefix"], row["prefix_from"], row["normaliser"]) == ("wq question: ", "recorded", "squad")
    assert 0.0 <= row["total"]["em"] <= 100.0 and row["total"]["n"] == 32
    assert row["overlap"].startswith("detector: tfidf") and row["categories"]["answer_overlap"]["n"] > 0
    # the run was made with the paper's recipe (Adafactor, constant 1e-3 doubled for WebQuestions) on the prepared data
    config = (tmp_path / "bench" / "finetune" / "config.yaml").read_text()
    assert "optimizer: adafactor" in config and "lr: 0.002" in config and "val_em" not in config
    inputs = json.loads((tmp_path / "bench" / "finetune" / "run.json").read_text())["inputs"]
    assert inputs["validation"][0] == {"name": "wq", "prefix": "wq question: ", "normaliser": "squad"}
    manifest = json.loads((tmp_path / "bench" / "manifest.json").read_text())
    assert manifest["benchmark"] == "benchmark.json" and list(manifest["predictions"]) == [row["system"]]


@pytest.mark.skipif(
    not (QA_OVERLAP.is_dir() and NQ.is_dir()), reason="../shared/data/{qa_overlap,nq_open} absent (developer data)"
)
def test_released_nq_labels_give_the_published_category_sizes_and_evaluates_em(tmp_path: Path) -> None:
    src = tmp_path / "src"
    jsonl(src / "NQ-open.train.jsonl", [{"question": f"q{i}", "answer": ["a"]} for i in range(4)])  # (train is absent)
    shutil.copy(NQ / "NQ-open.dev.jsonl", src / "NQ-open.dev.jsonl")
    prepare(small("natural_questions_open", at=3), tmp_path / "nq", str(src))
    preds = fake_predictions(tmp_path / "nq" / "test.jsonl", tmp_path / "p.jsonl")
    out = tmp_path / "bench"
    cbqa(
        "benchmark",
        "--data",
        tmp_path / "nq",
        "--model",
        "my-model",
        "--predictions",
        preds,
        "--overlap",
        QA_OVERLAP,
        "--out",
        out,
    )
    row = json.loads((out / "benchmark.json").read_text())
    sizes = {k: v["n"] for k, v in row["categories"].items()}
    assert sizes == {
        "total": 3610,
        "question_overlap": 324,
        "no_question_overlap": 672,
        "answer_overlap": 2297,
        "no_answer_overlap": 1313,
        "answer_overlap_only": 315,
        "no_overlap": 357,
    }
    cbqa(
        "evaluate",
        "--predictions",
        preds,
        "--gold",
        tmp_path / "nq" / "test.jsonl",
        "--overlap",
        out / "overlap.jsonl",
        "--json",
        tmp_path / "e.json",
    )
    evaluated = json.loads((tmp_path / "e.json").read_text())["p"]
    for category, score in row["categories"].items():
        assert (score["em"], score["f1"], score["n"]) == tuple(evaluated[category][k] for k in ("em", "f1", "n"))
    assert row["overlap"].startswith("released: ") and row["published_column"] == "NQ"


def test_app_shows_the_row_beside_the_published_rows(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    src = tmp_path / "src"
    item = lambda i, split: {"id": f"{split}{i}", "question": f"who is number {i}?", "answer": [f"person {i % 4}"]}
    jsonl(src / "train.jsonl", [item(i, "r") for i in range(12)])
    jsonl(src / "test.jsonl", [item(i, "s") for i in range(6)])
    prepare(small("web_questions", at=9), tmp_path / "wq", str(src))
    preds = fake_predictions(tmp_path / "wq" / "test.jsonl", tmp_path / "p.jsonl")
    with pytest.raises(SystemExit) as e:  # no model, and no fine-tuning config to name one: one line, exit 2
        main(["benchmark", "--data", str(tmp_path / "wq"), "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and not (tmp_path / "x" / "benchmark.json").exists()
    cbqa(
        "benchmark",
        "--data",
        tmp_path / "wq",
        "--model",
        "t5-small",
        "--predictions",
        preds,
        "--out",
        tmp_path / "runs" / "bench",
    )

    monkeypatch.setenv("CBQA_APP_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.query_params["page"] = "benchmark"
    at.run()
    assert not at.exception and not at.error
    table = at.table[0].value
    assert table.loc["T5.1.1-XXL + SSM (v4)", "EM"] == "42.8" and table.loc["T5-11B + SSM (v4)", "EM"] == "40.8"
    assert table.loc["this run: closed_book_t5-small", "EM"] == "33.3"  # 2 of 6 right
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "Published: Roberts, Raffel & Shazeer 2020" in captions and "arXiv:2002.08910v4, Table 1" in captions
    assert "answers from a given predictions file" in captions and "squad normaliser" in captions
    assert str(tmp_path) not in captions
