"""KnowledgeCurve: fill-in EM and closed-book dev EM every N steps into logs/metrics.csv, wired as a trainer callback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.core.errors import CbqaError
from cbqa.memorisation.curves import KnowledgeCurve
from cbqa.training.cli import run_training


@pytest.mark.slow
def test_curve_logged_every_n_steps(tmp_path: Path, tiny_qa) -> None:
    import pandas as pd
    from spacy.lang.en import English

    from ner_masking.annotate import AnnotateConfig, annotate_corpus

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "NORP", "pattern": c} for c in ("red", "blue", "green", "black")]
    )
    nlp.to_disk(tmp_path / "ruler")
    annotate_corpus(
        tiny_qa["corpus"], tmp_path / "spans", AnnotateConfig(spacy_model=str(tmp_path / "ruler"), progress=False)
    )
    run = tmp_path / "run"
    task = [{"name": "qa", "kind": "qa", "file": str(tiny_qa["qa"]), "split": "train"}]
    assert (
        run_training(
            [
                "--model.tokenizer",
                str(tiny_qa["tok"]),
                "--model.arch.d_model",
                "16",
                "--model.arch.d_ff",
                "32",
                "--model.arch.num_heads",
                "2",
                "--model.arch.d_kv",
                "8",
                "--model.arch.num_layers",
                "1",
                "--model.arch.num_decoder_layers",
                "1",
                "--data.tasks",
                json.dumps(task),
                "--data.batch_size",
                "8",
                "--trainer.max_steps",
                "5",
                "--trainer.log_every_n_steps",
                "1",
                "--trainer.enable_progress_bar",
                "false",
                "--trainer.enable_model_summary",
                "false",
                "--trainer.callbacks+=cbqa.memorisation.curves.KnowledgeCurve",
                "--trainer.callbacks.every_n_steps",
                "2",
                "--trainer.callbacks.fill_in_spans",
                str(tmp_path / "spans"),
                "--trainer.callbacks.fill_in_n",
                "6",
                "--trainer.callbacks.fill_in_options",
                '{"title": false}',
                "--trainer.callbacks.max_new_tokens",
                "4",
                "--trainer.callbacks.dev_file",
                str(tiny_qa["qa"]),
                "--trainer.callbacks.dev_split",
                "dev",
                "--run_dir",
                str(run),
            ],
            "t",
            "r",
        )
        == 0
    )
    m = pd.read_csv(run / "logs" / "metrics.csv")
    curve = m[m["fill_in_em"].notna()]
    assert curve["step"].tolist() == [0, 2, 4, 5]  # at the start, every 2 steps, and the last step
    assert curve["cb_dev_em"].notna().all() and curve["fill_in_em"].between(0, 100).all()
    assert m["train_loss"].notna().any()  # the run's own metrics are still there


def test_needs_something_to_measure() -> None:
    with pytest.raises(CbqaError, match="fill_in_spans, dev_file or both"):
        KnowledgeCurve()
    with pytest.raises(CbqaError, match="every_n_steps"):
        KnowledgeCurve(every_n_steps=0, dev_file="x")
