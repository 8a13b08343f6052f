"""Training switches that need no training run: option typos fail at parse time with the choices, `fsdp` is cbqa's FSDP2
strategy while the sharded strategies it does not wire (and Adafactor under FSDP, and FSDP for a reader) are refused
before a model is loaded, Adafactor gets T5's fine-tuning settings, torch.compile leaves the state dict and the HF
export unchanged, and gradient checkpointing is switched on in the network.

Switches that need steps are exercised by runs elsewhere: Adafactor, bf16-mixed on CPU and --data.num_workers 2 in
tests/test_hub_layout.py (continued SSM pretraining from a hub-layout checkpoint); torch.compile (inductor) in the
Lightning module and a bare loop by tests/test_gpu_check.py (bench/gpu_check.py --dry-run). DDP (2 CPU processes)
is the data path's test; FSDP (2 CPU processes: equality with one process, kill and resume, export) tests/test_fsdp.py;
gradient checkpointing's gradients and memory tests/test_activation_memory.py.
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


@pytest.mark.parametrize(
    "strategy", ["deepspeed_stage_2", "fsdp_cpu_offload", "lightning.pytorch.strategies.FSDPStrategy", "model_parallel"]
)
def test_unwired_sharded_strategy_refused_before_loading_the_model(strategy: str, capsys) -> None:
    assert run_cli(["pretrain", "--trainer.strategy", strategy, "--model.model", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"cbqa pretrain: error: --trainer.strategy {strategy}: not wired into cbqa's checkpoints")
    assert "--trainer.strategy fsdp" in err and "/no/such/model" not in err


def test_adafactor_under_fsdp_refused_in_one_line_saying_why(capsys) -> None:
    argv = ["--trainer.strategy", "fsdp", "--model.optimizer", "adafactor", "--model.model", "/no/such/model"]
    assert run_cli(["finetune", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("cbqa finetune: error: --model.optimizer adafactor with --trainer.strategy fsdp: Adafactor's")
    assert "which a shard does not hold" in err and "/no/such/model" not in err


def test_fsdp_refused_for_a_fid_reader(capsys) -> None:
    assert run_cli(["reader", "finetune", "--trainer.strategy", "fsdp", "--model.model", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trainer.strategy fsdp: not supported for this model" in err, err


def test_fsdp_parses_and_is_cbqas_fsdp2_strategy(capsys) -> None:
    import yaml

    from cbqa.training.cli import run_training
    from cbqa.training.sharding import FSDPStrategy, is_fsdp

    root = Path(__file__).parents[1] / "configs"
    argv = ["-c", str(root / "ssm_t5_gpu.yaml"), "-c", str(root / "fsdp.yaml"), "--model.optimizer", "adamw"]
    argv += ["--model.gradient_checkpointing", "true", "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        run_training(argv, "cbqa pretrain", "runs/x")
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["strategy"] == "fsdp" and printed["trainer"]["precision"] == "bf16-mixed"
    assert printed["model"]["gradient_checkpointing"] is True
    assert (
        is_fsdp("fsdp") and is_fsdp(FSDPStrategy()) and is_fsdp({"class_path": "cbqa.training.sharding.FSDPStrategy"})
    )
    assert not is_fsdp("ddp") and not is_fsdp("lightning.pytorch.strategies.FSDPStrategy")


def test_gradient_checkpointing_switches_on_every_block(tiny_qa) -> None:
    from cbqa.model.loading import T5Arch
    from cbqa.training.module import T5Seq2Seq

    arch = T5Arch(d_model=16, d_ff=32, num_heads=2, d_kv=8, num_layers=2, num_decoder_layers=1)
    module = T5Seq2Seq(tokenizer=str(tiny_qa["tok"]), arch=arch, gradient_checkpointing=True)
    blocks = [*module.t5.encoder.block, *module.t5.decoder.block]
    assert all(b.gradient_checkpointing for b in blocks)
    plain = T5Seq2Seq(tokenizer=str(tiny_qa["tok"]), arch=arch).t5
    assert not any(b.gradient_checkpointing for b in [*plain.encoder.block, *plain.decoder.block])


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
    """The GPU configs the docs name parse as stacked there (a renamed option fails here, not on the GPU day)."""
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
