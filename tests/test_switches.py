"""Training switches that need no training run: option typos fail at parse time with the choices, sharded strategies
are refused before a model is loaded, Adafactor gets T5's fine-tuning settings, and torch.compile leaves the
state dict and the HF export unchanged.

Switches that need steps are exercised by runs elsewhere: Adafactor, bf16-mixed on CPU and --data.num_workers 2 in
tests/test_hub_layout.py (continued SSM pretraining from a hub-layout checkpoint); torch.compile (inductor) in the
Lightning module and a bare loop by tests/test_gpu_check.py (bench/gpu_check.py --dry-run). DDP (2 CPU processes)
is the data path's test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cbqa.cli import main as cbqa_main


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cbqa_main(argv)
    return exit_info.value.code


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [
        ("--model.optimizer", "adamx", "adamw, adafactor"),
        ("--model.schedule", "cosine", "constant, linear, inverse_sqrt"),
        ("--model.arch.feed_forward_proj", "gated_gelu", "relu, gelu, gated-gelu"),
    ],
)
def test_option_typo_fails_at_parse_time_with_the_choices(option: str, value: str, choices: str, capsys) -> None:
    assert run_cli(["pretrain", option, value, "--model.model", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    # one line naming the option, the value and the choices; the model path is never reached
    assert err.count("\n") == 1, err
    assert err.startswith(f"cbqa pretrain: error: {option}: '{value}' is not one of {choices}")


@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed_stage_2", "lightning.pytorch.strategies.FSDPStrategy"])
def test_sharded_strategy_refused_before_loading_the_model(strategy: str, capsys) -> None:
    assert run_cli(["pretrain", "--trainer.strategy", strategy, "--model.model", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"cbqa pretrain: error: --trainer.strategy {strategy}: sharded strategies")
    assert "not supported" in err and "ddp" in err and "/no/such/model" not in err


def test_export_callback_refuses_a_sharded_strategy() -> None:
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    from cbqa.core.errors import CbqaError
    from cbqa.training.callbacks import HFExport

    class Trainer:
        strategy = FSDPStrategy()

    with pytest.raises(CbqaError, match="FSDPStrategy"):
        HFExport("unused").setup(Trainer(), None, "fit")
    Trainer.strategy = DDPStrategy()
    HFExport("unused").setup(Trainer(), None, "fit")  # replicated weights: exported from rank 0 as they are


def test_adafactor_has_t5_fine_tuning_settings(tiny_qa) -> None:
    from transformers.optimization import Adafactor

    from cbqa.model.loading import T5Arch
    from cbqa.training.module import T5Seq2Seq

    module = T5Seq2Seq(
        tokenizer=str(tiny_qa["tok"]),
        arch=T5Arch(d_model=16, d_ff=32, num_heads=2, d_kv=8, num_layers=1, num_decoder_layers=1),
        optimizer="adafactor",
    )
    opt = module.configure_optimizers()
    assert isinstance(opt, Adafactor)  # constant schedule without warm-up: no per-step scheduler at all
    group = opt.param_groups[0]
    assert (group["lr"], group["relative_step"], group["scale_parameter"], group["warmup_init"]) == (
        1e-3,
        False,
        False,
        False,
    )


def test_compile_keeps_state_dict_and_export(tiny_qa, tmp_path) -> None:
    """--model.compile wraps a reference outside the module tree: checkpoint keys and the HF export are the same."""
    from transformers import T5ForConditionalGeneration

    from cbqa.model.loading import T5Arch
    from cbqa.training.callbacks import export
    from cbqa.training.module import T5Seq2Seq

    arch = T5Arch(d_model=16, d_ff=32, num_heads=2, d_kv=8, num_layers=1, num_decoder_layers=1)
    torch.manual_seed(0)
    plain = T5Seq2Seq(tokenizer=str(tiny_qa["tok"]), arch=arch)
    torch.manual_seed(0)
    compiled = T5Seq2Seq(tokenizer=str(tiny_qa["tok"]), arch=arch, compile=True)
    compiled.configure_model()
    assert isinstance(compiled._compiled, torch._dynamo.eval_frame.OptimizedModule)  # lazy: compiles on first call
    assert list(compiled.state_dict()) == list(plain.state_dict())
    export(compiled, tmp_path / "hf", {"step": 0})
    reloaded = T5ForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
    batch = {"input_ids": torch.tensor([[5, 6, 7, 1]]), "labels": torch.tensor([[8, 1]])}
    with torch.no_grad():
        want = compiled.t5.eval()(**batch).logits
        got = reloaded(**batch).logits
    assert torch.equal(got, want)


@pytest.mark.parametrize(
    ("stack", "want"),
    [
        (["ssm_t5_gpu"], {"optimizer": "adafactor", "lr": 0.001, "schedule": "constant", "compile": True}),
        (["ssm_t5_gpu", "ddp"], {"strategy": "ddp", "precision": "bf16-mixed", "devices": -1}),
        (["finetune_toy", "t5_small_gpu"], {"model": "t5-small", "compile": True, "precision": "bf16-mixed"}),
    ],
)
def test_gpu_configs_parse(stack: list[str], want: dict, capsys) -> None:
    """The GPU configs the README names parse as stacked there (a renamed option fails here, not on the GPU day)."""
    import yaml

    from cbqa.training.cli import run_training

    root = Path(__file__).parents[1] / "configs"
    argv = [a for name in stack for a in ("-c", str(root / f"{name}.yaml"))]
    with pytest.raises(SystemExit) as exit_info:
        run_training([*argv, "--print_config"], "cbqa pretrain", "runs/x")
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    flat = {**printed["model"], **printed["trainer"]}
    assert {k: flat[k] for k in want} == want
