"""Training runs cannot be mixed up and can be rerun: a changed config or data refuses to resume (exit 2, the differing
keys on one line) before anything in the run directory changes; `--resume never` starts over cleanly; the saved
config.yaml works from any working directory; EM ties pick the checkpoint with the lower dev loss."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from cbqa.cli import main as cli_main
from cbqa.training.callbacks import HFExport

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


def finetune(run_dir: str, qa: str, tok: str, *extra: str) -> list[str]:
    return [
        "finetune",
        "--model.tokenizer",
        tok,
        "--model.lr",
        "3e-3",
        "--data.tasks",
        json.dumps([{"name": "qa", "kind": "qa", "file": qa, "split": "train"}]),
        "--data.val_file",
        qa,
        "--data.val_split",
        "dev",
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
        run_dir,
        *TINY,
        *extra,
    ]


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        cli_main(argv)
    return e.value.code


@pytest.fixture(scope="module")
def finished_run(tiny_qa, tmp_path_factory) -> dict:
    """A finished 4-step run, started from the tiny data's directory with relative paths."""
    import os

    work = tmp_path_factory.mktemp("work")
    qa = work / "qa.jsonl"
    qa.write_bytes(tiny_qa["qa"].read_bytes())
    (work / "tok").symlink_to(tiny_qa["tok"], target_is_directory=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        assert run_cli(finetune("run", "qa.jsonl", "tok")) == 0
    finally:
        os.chdir(cwd)
    return {"work": work, "run": work / "run", "qa": qa}


def snapshot(run: Path) -> dict[str, bytes]:
    return {p: (run / p).read_bytes() for p in ("config.yaml", "run.json", "summary.json")}


def test_config_yaml_has_absolute_paths_and_works_from_elsewhere(finished_run, tmp_path, monkeypatch, capsys) -> None:
    import yaml

    run, work = finished_run["run"], finished_run["work"]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["run_dir"] == str(run) and saved["data"]["val_file"] == str(work / "qa.jsonl")
    assert saved["data"]["tasks"][0]["file"] == str(work / "qa.jsonl") and saved["model"]["tokenizer"] == str(
        work / "tok"
    )
    monkeypatch.chdir(tmp_path)  # another working directory: the same config is the same run, and it resumes
    assert run_cli(["finetune", "-c", str(run / "config.yaml")]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith(".ckpt") and summary["global_step"] == 4
    capsys.readouterr()


@pytest.mark.parametrize("change", ["config", "data"])
def test_other_config_or_data_refuses_to_resume_with_the_differing_keys(finished_run, tmp_path, capsys, change) -> None:
    run, work = finished_run["run"], finished_run["work"]
    before = snapshot(run)
    argv = finetune(str(run), str(work / "qa.jsonl"), str(work / "tok"))
    if change == "config":
        argv += ["--model.lr", "0.01", "--trainer.max_steps", "6"]
        want = ["model.lr: 0.003 -> 0.01", "trainer.max_steps: 4 -> 6"]
    else:  # the same file, edited since the run was made
        want = ["data.tasks[0].file content: sha256:", "data.val_file content: sha256:"]
    original = finished_run["qa"].read_text()
    if change == "data":
        finished_run["qa"].write_text(original.replace("red", "crimson"))
    capsys.readouterr()
    try:
        assert run_cli(argv) == 2
    finally:
        finished_run["qa"].write_text(original)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cbqa finetune: error: ") and "Traceback" not in err
    assert "refusing to resume" in err and all(w in err for w in want), err
    assert "--resume never" in err and "--force" in err
    assert snapshot(run) == before  # config.yaml, run.json and the summary are untouched


def test_a_validation_inside_an_accumulated_step_is_refused_before_anything_is_written(
    tiny_qa, tmp_path, capsys
) -> None:
    """val_check_interval counts micro-batches: with accumulation 2, validating every 3 would put the validation (and
    the best checkpoint, which a resume may fall back to) inside an optimizer step."""
    run = tmp_path / "run"
    extra = ["--trainer.accumulate_grad_batches", "2", "--trainer.val_check_interval", "3"]
    capsys.readouterr()
    assert run_cli(finetune(str(run), str(tiny_qa["qa"]), str(tiny_qa["tok"]), *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "--trainer.val_check_interval 3 is not a multiple of --trainer.accumulate_grad_batches 2" in err
    assert "(use 2 or 4)" in err
    assert not any((run / name).exists() for name in ("config.yaml", "run.json", "checkpoints", "hf"))


def test_resume_never_starts_over_in_a_clean_run_dir(finished_run, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run["run"], run, symlinks=True)
    (run / "checkpoints" / "stray-from-old-run.ckpt").write_bytes(b"old")
    work = finished_run["work"]
    argv = finetune(
        str(run),
        str(work / "qa.jsonl"),
        str(work / "tok"),
        "--model.lr",
        "0.01",
        "--resume",
        "never",
        "--trainer.max_steps",
        "2",
    )
    assert run_cli(argv) == 0
    assert "starting over" in capsys.readouterr().err
    assert not (run / "checkpoints" / "stray-from-old-run.ckpt").exists()
    record = json.loads((run / "run.json").read_text())
    assert record["config"]["model.lr"] == 0.01 and [h["resumed_from"] for h in record["history"]] == [None]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"] is None and summary["global_step"] == 2
    # the best Lightning checkpoint and the HF export are the same step (ties included)
    export = json.loads((run / "hf" / "cbqa_export.json").read_text())
    (best,) = (run / "checkpoints").glob("best-*.ckpt")
    assert best.name.startswith(f"best-step={export['step']}-") and export["step"] == summary["best_step"]


class FakeModule:
    def __init__(self) -> None:
        self.t5 = self.tokenizer = self

    def save_pretrained(self, path) -> None:
        Path(path, "weights.txt").write_text("w")


def validate(cb: HFExport, module, step: int, em: float, loss: float) -> bool:
    import torch

    trainer = SimpleNamespace(
        sanity_checking=False,
        global_step=step,
        is_global_zero=True,
        callback_metrics={"val_em": torch.tensor(em), "val_loss": torch.tensor(loss)},
    )
    cb.on_validation_end(trainer, module)
    return cb.improved


def test_em_tie_is_broken_by_dev_loss_and_reported(tmp_path) -> None:
    cb, module = HFExport(tmp_path / "hf"), FakeModule()
    assert validate(cb, module, 2, 25.0, 3.0)  # first: best
    assert not validate(cb, module, 4, 25.0, 3.5)  # tie, higher loss: keep step 2
    assert validate(cb, module, 6, 25.0, 2.5)  # tie, lower loss: step 6 wins
    assert not validate(cb, module, 8, 12.5, 1.0)  # lower EM: never, whatever the loss
    assert cb.best_step == 6 and json.loads((tmp_path / "hf" / "cbqa_export.json").read_text())["step"] == 6
    tie = cb.tie()
    assert tie["val_em"] == 25.0 and tie["chosen_step"] == 6 and [s["step"] for s in tie["steps"]] == [2, 4, 6]
    assert "val_loss" in tie["chosen_by"]
    # a strictly better EM clears the tie; the tie record survives a resume (callback state)
    restored = HFExport(tmp_path / "hf")
    restored.load_state_dict(cb.state_dict())
    assert restored.tie() == tie
    assert validate(restored, module, 10, 37.5, 9.0) and restored.tie() is None and restored.best_step == 10
