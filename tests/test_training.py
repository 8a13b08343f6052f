"""Training path: one fast-dev-run step, resume after an interruption, HF export reload, predict."""

import json
from pathlib import Path

import pytest
import torch

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


def args(tiny_qa, run_dir: Path, *extra: str) -> list[str]:
    return [
        "--model.tokenizer",
        str(tiny_qa["tok"]),
        "--model.lr",
        "3e-3",
        "--data.tasks",
        json.dumps([{"name": "qa", "kind": "qa", "file": str(tiny_qa["qa"]), "split": "train"}]),
        "--data.val_file",
        str(tiny_qa["qa"]),
        "--data.val_split",
        "dev",
        "--data.batch_size",
        "8",
        "--trainer.log_every_n_steps",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run_dir),
        *TINY,
        *extra,
    ]


def test_fast_dev_run_one_step(tiny_qa, tmp_path: Path) -> None:
    assert run_training(args(tiny_qa, tmp_path / "r", "--trainer.fast_dev_run", "1"), "t", "r") == 0
    assert (tmp_path / "r" / "config.yaml").exists()


def test_print_config(tiny_qa, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        run_training(args(tiny_qa, tmp_path / "r", "--print_config"), "t", "r")
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "val_check_interval" in out and "run_dir" in out


def test_an_interruption_between_micro_batches_resumes_from_last_ckpt_to_the_same_weights(
    tiny_qa, tmp_path: Path, monkeypatch
) -> None:
    """Ctrl-C after a step's first micro-batch leaves no interrupted.ckpt (it would lack that micro-batch's gradients,
    and its resume would train on other batches): the rerun resumes from last.ckpt and ends with the weights of an
    uninterrupted run."""
    from safetensors.torch import load_file

    from cbqa.training.module import T5Seq2Seq

    common = ["--trainer.max_steps", "6", "--trainer.val_check_interval", "4", "--trainer.accumulate_grad_batches", "2"]
    common += ["--export", "last"]
    assert run_training(args(tiny_qa, tmp_path / "ref", *common), "t", "r") == 0
    original = T5Seq2Seq.training_step

    def interrupt_in_step_4(self, batch, batch_idx):
        if self.global_step == 3 and batch_idx % 2 == 1:
            raise KeyboardInterrupt  # Ctrl-C in the second micro-batch of the fourth step
        return original(self, batch, batch_idx)

    run = tmp_path / "run"
    monkeypatch.setattr(T5Seq2Seq, "training_step", interrupt_in_step_4)
    assert run_training(args(tiny_qa, run, *common), "t", "r") == 130
    assert not (run / "checkpoints" / "interrupted.ckpt").exists()
    monkeypatch.setattr(T5Seq2Seq, "training_step", original)
    assert run_training(args(tiny_qa, run, *common), "t", "r") == 0
    assert json.loads((run / "summary.json").read_text())["resumed_from"].endswith("last.ckpt")
    ref, got = (load_file(d / "hf" / "model.safetensors") for d in (tmp_path / "ref", run))
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_resume_after_interruption_and_export(tiny_qa, tmp_path: Path, monkeypatch, caplog) -> None:
    from cbqa.training.module import T5Seq2Seq

    run = tmp_path / "run"
    common = ["--trainer.max_steps", "12", "--trainer.val_check_interval", "4"]
    original = T5Seq2Seq.training_step

    def interrupt_at_7(self, batch, batch_idx):
        if self.global_step == 7:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run
        return original(self, batch, batch_idx)

    monkeypatch.setattr(T5Seq2Seq, "training_step", interrupt_at_7)
    with caplog.at_level("INFO"):
        assert run_training(args(tiny_qa, run, *common), "t", "r") == 130
    assert (run / "checkpoints" / "interrupted.ckpt").exists()
    assert "weights_only" not in caplog.text  # (no library noise beside the resume hint)
    monkeypatch.setattr(T5Seq2Seq, "training_step", original)

    assert run_training(args(tiny_qa, run, *common), "t", "r") == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith("interrupted.ckpt")
    assert summary["global_step"] == 12
    import pandas as pd

    metrics = pd.read_csv(run / "logs" / "metrics.csv")
    assert {"val_em", "train_loss"} <= set(metrics.columns)
    # the curve before the interruption survives the resume: the validation after step 4 (logged as step 3)
    # comes from the first run, the one at the end from the resumed run
    val_steps = metrics["step"][metrics["val_em"].notna()].tolist()
    assert val_steps[0] == 3 and val_steps[-1] == 11 and val_steps == sorted(val_steps)

    # The export reloads as a plain HF model and gives the same logits as the exported weights.
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    net = AutoModelForSeq2SeqLM.from_pretrained(str(run / "hf"))
    tok = AutoTokenizer.from_pretrained(str(run / "hf"))
    info = json.loads((run / "hf" / "cbqa_export.json").read_text())
    assert info["step"] == summary["best_step"] and info["val_em"] == pytest.approx(summary["best_val_em"])
    enc = tok(["question: What colour is item 3?"], return_tensors="pt")
    out = net.generate(**enc, max_new_tokens=4)
    assert out.shape[0] == 1

    # A further run with more steps is another config: it continues from last.ckpt only with --force (tests/test_run_safety.py
    # has the refusal), and the run's record keeps what was forced.
    assert (
        run_training(
            args(tiny_qa, run, "--trainer.max_steps", "16", "--trainer.val_check_interval", "4", "--force"), "t", "r"
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith("last.ckpt") and summary["global_step"] == 16
    history = json.loads((run / "run.json").read_text())["history"]
    assert [h["resumed_from"] is not None for h in history] == [False, True, True]
    assert history[-1]["forced_differences"] == ["trainer.max_steps: 12 -> 16"]


@pytest.mark.slow
def test_learns_tiny_task_and_predict_cli(tiny_qa, tmp_path: Path) -> None:
    """Enough steps to memorise the toy colours: EM on the training questions must clearly beat chance (1/8).
    Validation runs on the training questions here, so the exported best model is the one that memorised most
    (dev EM on unseen items is chance and would pick an arbitrary checkpoint)."""
    torch.manual_seed(0)
    run = tmp_path / "run"
    assert (
        run_training(
            args(
                tiny_qa,
                run,
                "--trainer.max_steps",
                "150",
                "--trainer.val_check_interval",
                "50",
                "--data.val_split",
                "train",
            ),
            "t",
            "r",
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_val_em"] is not None

    from cbqa.commands.predict import main as predict

    out = tmp_path / "p.jsonl"
    assert (
        predict(
            [
                "--model",
                str(run),
                "--questions",
                str(tiny_qa["qa"]),
                "--split",
                "train",
                "--out",
                str(out),
                "--num-beams",
                "2",
                "--top-k",
                "2",
            ]
        )
        == 0
    )
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 40 and len(rows[0]["candidates"]) == 2
    train_em = sum(r["prediction"] == r["answers"][0] for r in rows) / len(rows)
    assert train_em > 0.5  # the colours of training items are memorised


@pytest.mark.parametrize(
    "config", ["pretrain_ssm", "pretrain_span_corruption", "finetune_ssm_qa", "mixture_ssm_qa", "finetune_toy"]
)
def test_shipped_configs_parse(config: str, capsys) -> None:
    """Every config the docs name parses into the CLI (a renamed option would fail here, not for a user)."""
    import yaml

    from cbqa.training.cli import run_training

    path = Path(__file__).parents[1] / "configs" / f"{config}.yaml"
    with pytest.raises(SystemExit) as exit_info:
        run_training(["-c", str(path), "--print_config"], "cbqa pretrain", "runs/x")
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    written = yaml.safe_load(path.read_text())
    assert printed["trainer"]["max_steps"] == written["trainer"]["max_steps"]
    for got, want in zip(printed["data"]["tasks"], written["data"]["tasks"], strict=True):
        assert {k: got[k] for k in want} == want


def test_export_last_keeps_the_final_weights_and_still_reports_the_best(tiny_qa, tmp_path: Path) -> None:
    """`--export last`: hf/ holds the weights of the last step (those of last.ckpt), whatever validation preferred."""
    from safetensors.torch import load_file

    run = tmp_path / "last"
    argv = args(tiny_qa, run, "--trainer.max_steps", "6", "--trainer.val_check_interval", "2", "--export", "last")
    assert run_training(argv, "t", "r") == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exported"] == "last" and summary["best_step"] in (2, 4, 6) and summary["global_step"] == 6
    assert json.loads((run / "hf" / "cbqa_export.json").read_text())["step"] == 6
    final = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    for name, value in load_file(run / "hf" / "model.safetensors").items():
        assert torch.equal(value, final[f"t5.{name}"]), name
