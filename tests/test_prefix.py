"""One input prefix, recorded: a task's prefix reaches its validation set, the run's record and export, `cbqa
predict` and the app, so a model trained on `wq question: ` is never asked with `question: ` by mistake."""

import json
from pathlib import Path

import pytest

from cbqa.training.cli import run_training

TINY = [
    "--model.arch.d_model",
    "32",
    "--model.arch.d_ff",
    "64",
    "--model.arch.num_heads",
    "2",
    "--model.arch.d_kv",
    "16",
    "--model.arch.num_layers",
    "1",
    "--model.arch.num_decoder_layers",
    "1",
]


def task(name: str, qa: Path, prefix: str, **extra: str) -> dict:
    return {
        **extra,
        "name": name,
        "kind": "qa",
        "file": str(qa),
        "split": "train",
        "prefix": prefix,
        "val_file": str(qa),
        "val_split": "dev",
    }


def train(tiny_qa, run: Path, tasks: list[dict], *extra: str) -> None:
    argv = [
        "--model.tokenizer",
        str(tiny_qa["tok"]),
        "--data.tasks",
        json.dumps(tasks),
        "--data.batch_size",
        "8",
        "--trainer.max_steps",
        "4",
        "--trainer.val_check_interval",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run),
        *TINY,
        *extra,
    ]
    assert run_training(argv, "cbqa finetune", str(run)) == 0


@pytest.fixture(scope="module")
def wq_run(tiny_qa, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("prefix") / "wq"
    train(tiny_qa, run, [task("wq", tiny_qa["qa"], "wq question: ")])
    return run


def test_validation_predict_and_app_use_the_runs_prefix(wq_run: Path, tiny_qa, tmp_path: Path, capsys) -> None:
    from cbqa.cli import main
    from cbqa.model.inputs import recorded_inputs
    from cbqa_app import loaders

    # recorded with the run and with its export: the task, and the validation set read with the task's prefix
    record = json.loads((wq_run / "run.json").read_text())["inputs"]
    assert [(t["name"], t["prefix"]) for t in record["tasks"]] == [("wq", "wq question: ")]
    assert [(v["name"], v["prefix"]) for v in record["validation"]] == [("wq", "wq question: ")]
    assert recorded_inputs(wq_run / "hf").qa_prefix() == "wq question: "
    # predict asks with it, and says so in the predictions' metadata
    out = tmp_path / "p.jsonl"
    with pytest.raises(SystemExit) as e:
        main(
            ["predict", "--model", str(wq_run), "--questions", str(tiny_qa["qa"]), "--split", "dev", "--out", str(out)]
        )
    assert e.value.code == 0
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["prefix"] == meta["trained_prefix"] == "wq question: "
    # an explicit prefix that differs is stated, on stderr and in the metadata
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(
            [
                "predict",
                "--model",
                str(wq_run),
                "--questions",
                str(tiny_qa["qa"]),
                "--split",
                "dev",
                "--out",
                str(out),
                "--prefix",
                "question: ",
            ]
        )
    assert "differs from the 'wq question: '" in capsys.readouterr().err
    assert json.loads(Path(f"{out}.meta.json").read_text())["prefix"] == "question: "
    # the app's Probe loads the model with it
    assert loaders.load_answerer(str(wq_run)).prefix == "wq question: "


def test_generic_val_file_reads_with_the_tasks_prefix(tiny_qa) -> None:
    from cbqa.training.datamodule import Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    train_task = TaskConfig(name="wq", kind="qa", file=str(tiny_qa["qa"]), split="train", prefix="wq question: ")
    dm = Seq2SeqDataModule(tasks=[train_task], val_file=str(tiny_qa["qa"]), val_split="dev")
    dm.tokenizer = object()  # (QA tasks need none)
    dm.setup("fit")
    assert {e.input_text.split(":")[0] for e in dm.val_sets["val"]} == {"wq question"}


def test_each_validation_set_is_scored_with_its_tasks_normaliser(tiny_qa) -> None:
    from cbqa.training.datamodule import Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    qa = str(tiny_qa["qa"])
    tqa = TaskConfig(name="tqa", kind="qa", file=qa, split="train", val_file=qa, val_split="dev", normaliser="triviaqa")
    wq = TaskConfig(name="wq", kind="qa", file=qa, split="train", val_file=qa, val_split="dev")
    dm = Seq2SeqDataModule(tasks=[tqa, wq], val_file=qa, val_split="dev", val_prefix="question: ")
    dm.tokenizer = object()
    dm.setup("fit")
    assert dm.val_normalisers == {"val": "squad", "tqa": "triviaqa", "wq": "squad"}
    assert [v.normaliser for v in dm.input_record().validation] == ["squad", "triviaqa", "squad"]
    only_tqa = Seq2SeqDataModule(tasks=[tqa], val_file=qa, val_split="dev")
    assert only_tqa.val_file_normaliser() == "triviaqa"  # the generic val_file follows the one QA task's


def test_two_tasks_validate_each_with_its_own_prefix_and_em(tiny_qa, tmp_path: Path) -> None:
    import pandas as pd

    run = tmp_path / "two"
    tasks = [
        task("wq", tiny_qa["qa"], "wq question: "),
        task("nq", tiny_qa["qa"], "nq question: ", normaliser="triviaqa"),
    ]
    train(tiny_qa, run, tasks)
    metrics = pd.read_csv(run / "logs" / "metrics.csv")
    assert {"val_em/wq", "val_em/nq", "val_em"} <= set(metrics.columns)
    row = metrics.dropna(subset=["val_em"]).iloc[-1]
    assert row["val_em"] == pytest.approx((row["val_em/wq"] + row["val_em/nq"]) / 2)
    record = json.loads((run / "hf" / "cbqa_inputs.json").read_text())
    assert [v["prefix"] for v in record["validation"]] == ["wq question: ", "nq question: "]
    assert [v["normaliser"] for v in record["validation"]] == ["squad", "triviaqa"]  # each set's EM, as recorded
    from cbqa.core.errors import CbqaError
    from cbqa.model.inputs import recorded_inputs

    with pytest.raises(CbqaError, match="different prefixes"):  # predict must be told which task
        recorded_inputs(run / "hf").qa_prefix()
    assert recorded_inputs(run / "hf").qa_prefix("nq") == "nq question: "


def test_the_app_finds_a_lone_training_run_and_probes_it_with_its_prefix(wq_run: Path, monkeypatch) -> None:
    """No manifest written by hand: the runs directory holds one `cbqa finetune` run; the app lists it by its own
    record's name and the Probe page answers with the model, asking with the run's prefix."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CBQA_APP_RUNS", str(wq_run.parent))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=120)
    at.query_params["page"] = "probe"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.selectbox(key="run").value == "wq"
    assert at.sidebar.multiselect(key="probe_models").value == ["wq"]
    at.text_input(key="probe_question").set_value("Where was somebody born?").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [str(c.value) for c in at.caption if "answered in" in str(c.value)]
    assert len(captions) == 1 and "`wq question: Where was somebody born?`" in captions[0]
