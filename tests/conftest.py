import json
import os
import sys
from pathlib import Path

import pytest

# One OpenMP thread for torch and FAISS, here and in every subprocess a test starts (unless the caller set one). The
# tests' models are tiny: a second thread gains nothing, and on 2 cores shared with other work the two threads stall
# on each other (measured at load average ~4: test_learns_tiny_task_and_predict_cli 89 s with 2 threads, 5.6 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (by a plugin): the variable came too late for it
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Offline everywhere: no hub look-ups from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COLORS = ["red", "blue", "green", "black", "white", "amber", "violet", "silver"]


@pytest.fixture(scope="session")
def tiny_qa(tmp_path_factory) -> dict[str, Path]:
    """A tiny corpus and QA file (train/dev split) plus a sentencepiece T5 tokenizer trained on them."""
    from cbqa.model.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tiny")
    rows, docs = [], []
    for i in range(48):
        color = COLORS[i % len(COLORS)]
        docs.append(
            {
                "id": f"d{i}",
                "title": f"Item {i}",
                "text": f"Item {i} is painted {color}. The colour of item {i} is {color}.",
            }
        )
        rows.append(
            {
                "id": f"q{i}",
                "question": f"What colour is item {i}?",
                "answers": [color],
                "split": "dev" if i % 6 == 0 else "train",
            }
        )
    (d / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in docs))
    (d / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [r["text"] for r in docs] + [r["question"] for r in rows]
    train_tokenizer(texts, d / "tok", vocab_size=120)
    return {"dir": d, "corpus": d / "corpus.jsonl", "qa": d / "qa.jsonl", "tok": d / "tok"}


@pytest.fixture(scope="session")
def app_runs_template(tmp_path_factory) -> Path:
    """A runs directory holding one tiny demo-like run (tests/helpers/app_run.py), made once per session; tests that change
    it work on a copy."""
    from helpers.app_run import make_run

    root = tmp_path_factory.mktemp("app_runs")
    make_run(root)
    return root
