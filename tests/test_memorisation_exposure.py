"""Canaries and exposure: the format's space, insertion, the estimators, and the acceptance run (a tiny T5 trained
with SSM through `cbqa pretrain`'s path on a canaried corpus exposes a 16x canary; never-inserted ones stay near 0)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from cbqa.cli import main as cli_main
from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document, write_corpus
from cbqa.memorisation.canaries import Canary, digits_format, insert_sentences, read_canaries
from cbqa.memorisation.exposure import canary_exposure, exact_exposure, sampled_exposure, skewnorm_exposure

CITIES = ["Ashford", "Barley", "Kingston", "Oakley", "Penfield", "Salford", "Fairfield", "Glendale"]


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        cli_main(argv)
    return int(e.value.code or 0)


def test_space_and_insertion() -> None:
    fmt = digits_format(3)
    assert fmt.space_size == 1000 and fmt.secret(0) == "0 0 0" and fmt.secret(907) == "9 0 7"
    assert all(fmt.index(fmt.secret(i)) == i for i in (0, 5, 999))
    assert fmt.masked("Ann Lee") == "The locker code of Ann Lee is <extra_id_0>."
    text, starts = insert_sentences("A b. C d.", ["X y.", "Z."], random.Random(3))
    for s, start in zip(["X y.", "Z."], starts, strict=True):
        assert text[start : start + len(s)] == s
    assert text.replace("X y.", "").replace("Z.", "").split() == ["A", "b.", "C", "d."]


def test_bad_canary_directory_is_one_line(tmp_path: Path, capsys) -> None:
    from cbqa.memorisation.canaries import MANIFEST

    assert run(["exposure", "--model", "m", "--canaries", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no canaries.json" in capsys.readouterr().err
    (tmp_path / MANIFEST).write_text('{"format": "cbqa-canaries/1", "canary_format": {}}')
    with pytest.raises(CbqaError, match="malformed manifest"):
        read_canaries(tmp_path)
    assert not (tmp_path / "o").exists()


def test_estimators_agree_with_the_exact_rank() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(-20, 3, size=100_000)
    for true_rank in (1, 30, 5000):
        secret = float(np.sort(scores)[::-1][true_rank - 1])
        exact, rank = exact_exposure(secret, scores)
        assert rank == true_rank and exact == pytest.approx(math.log2(100_000 / true_rank))
        sample = rng.choice(scores, 2000, replace=False)
        assert skewnorm_exposure(secret, sample, 100_000) == pytest.approx(exact, abs=1.2)  # beyond log2(2000) too
        assert sampled_exposure(secret, sample) <= math.log2(2001) + 1e-9
    # a scorer that prefers nothing: the secret ranks like any candidate
    flat = canary_exposure(lambda s, t: np.zeros(len(t)), digits_format(3), Canary("c", "Ann Lee", "1 2 3", 1))
    assert flat.method == "exact" and flat.rank == 1 and flat.exposure == pytest.approx(math.log2(1000))


def _corpus(path: Path, n: int = 32) -> None:
    rng = random.Random(1)
    first, last = ["Anna", "Brian", "Carol", "Derek"], ["Hale", "Irwin", "Joyce", "Knox"]
    write_corpus(
        path,
        [
            Document(
                f"d{i}",
                f"Station {i} lies in {CITIES[i % 8]}. Its keeper is {rng.choice(first)} {rng.choice(last)}.",
                f"Station {i}",
            )
            for i in range(n)
        ],
    )


@pytest.fixture
def one_thread():
    """A tiny model runs faster on one thread, and far faster when other jobs share the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_acceptance_16x_canary_is_exposed_controls_are_not(tmp_path: Path, one_thread) -> None:
    from spacy.lang.en import English

    from cbqa.model.tokenizer import train_tokenizer
    from cbqa.training.cli import run_training
    from ner_masking.annotate import AnnotateConfig, annotate_corpus
    from ner_masking.labels import ALL_LABELS

    _corpus(tmp_path / "c.jsonl")
    assert (
        run(
            [
                "canaries",
                "--corpus",
                str(tmp_path / "c.jsonl"),
                "--out",
                str(tmp_path / "can"),
                "--count",
                "1",
                "--repeats",
                "4",
                "16",
                "--controls",
                "20",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    cset = read_canaries(tmp_path / "can")
    assert [c.repeats for c in cset.canaries] == [4, 16] + [0] * 20 and cset.format.space_size == 10**5
    corpus = tmp_path / "can" / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    assert sum(t.count(cset.canaries[1].secret) for t in texts) == 16
    assert not any(c.secret in t for c in cset.canaries[2:] for t in texts)

    # NER: a blank pipeline whose entity ruler marks names, towns and digit runs (CARDINAL)
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "GPE", "pattern": c} for c in CITIES]
        + [
            {"label": "PERSON", "pattern": [{"IS_TITLE": True}, {"IS_TITLE": True}]},
            {"label": "CARDINAL", "pattern": [{"IS_DIGIT": True, "OP": "+"}]},
        ]
    )
    nlp.to_disk(tmp_path / "ruler")
    annotate_corpus(
        corpus,
        tmp_path / "spans",
        AnnotateConfig(spacy_model=str(tmp_path / "ruler"), labels=ALL_LABELS, progress=False),
    )
    train_tokenizer(texts, tmp_path / "tok", vocab_size=200)

    run_dir = tmp_path / "run"
    task = [{"name": "ssm", "kind": "masked", "spans": str(tmp_path / "spans"), "policy": "ssm"}]
    assert (
        run_training(
            [
                "--model.tokenizer",
                str(tmp_path / "tok"),
                "--model.lr",
                "1e-2",
                "--model.arch.d_model",
                "64",
                "--model.arch.d_ff",
                "128",
                "--model.arch.num_heads",
                "2",
                "--model.arch.d_kv",
                "32",
                "--model.arch.num_layers",
                "1",
                "--model.arch.num_decoder_layers",
                "1",
                "--data.tasks",
                json.dumps(task),
                "--data.batch_size",
                "32",
                "--trainer.max_steps",
                "50",
                "--trainer.enable_progress_bar",
                "false",
                "--trainer.enable_model_summary",
                "false",
                "--run_dir",
                str(run_dir),
            ],
            "t",
            "r",
        )
        == 0
    )

    out = tmp_path / "exposure"
    assert (
        run(
            [
                "exposure",
                "--model",
                str(run_dir),
                "--canaries",
                str(tmp_path / "can"),
                "--spans",
                str(tmp_path / "spans"),
                "--samples",
                "300",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads((out / "exposure.json").read_text())
    by_id = {r["canary"]: r for r in result["canary_exposures"]}
    sixteen = by_id[cset.canaries[1].id]
    assert sixteen["method"] == "skewnorm" and sixteen["salience"] == "salient" and sixteen["labels"] == ["CARDINAL"]
    controls = [by_id[c.id] for c in cset.canaries[2:]]
    assert all(r["salience"] == "unknown" for r in controls)
    mean_controls = float(np.mean([r["exposure"] for r in controls]))
    assert sixteen["exposure"] >= 12, sixteen
    assert mean_controls <= 3, [r["exposure"] for r in controls]
    assert (out / "exposure.png").stat().st_size > 0

    # a rerun reuses the finished model's rows (OUT/models/) and reports the same
    (out / "exposure.json").unlink()
    assert (
        run(
            [
                "exposure",
                "--model",
                str(run_dir),
                "--canaries",
                str(tmp_path / "can"),
                "--spans",
                str(tmp_path / "spans"),
                "--samples",
                "300",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "exposure.json").read_text())["canary_exposures"] == result["canary_exposures"]
