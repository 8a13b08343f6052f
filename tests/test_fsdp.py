"""`--trainer.strategy fsdp` on the CPU: `cbqa finetune` in 2 gloo processes (forked, see `launch`), each rank started
as torchrun or SLURM starts them (LOCAL_RANK, MASTER_ADDR, MASTER_PORT; Lightning then launches nothing itself), on a
tiny T5.1.1-shaped model (gated-GELU, untied head) with AdamW and gradient checkpointing.

One uninterrupted run serves every check (a killed one and its rerun run beside it, as torchrun's ranks would on
another node): its exported weights equal those of a single process training on the same
global batch (the two ranks' batches, their losses averaged) within 1e-5; a run killed (both ranks, SIGKILL) after a
checkpoint and rerun ends with the same weights; the export loads with `from_pretrained` and predicts; the run
directory refuses a resume with another config. A bf16-mixed step runs under FSDP (one rank, in this process) on a
tied-head T5 (t5-* shape), whose export keeps the tie.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch

from helpers.killing import HANG, Watched, hidden_leftovers, start

ARCH = {
    "d_model": 32,
    "d_ff": 64,
    "num_heads": 2,
    "d_kv": 16,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": False,
}
STEPS, EVERY, BATCH, LR = 6, 3, 4, 1e-3


def finetune_args(tiny_qa, run_dir: Path, *extra: str) -> list[str]:
    task = {"name": "qa", "kind": "qa", "file": str(tiny_qa["qa"]), "split": "train"}
    return [
        "--run_dir",
        str(run_dir),
        "--model.tokenizer",
        str(tiny_qa["tok"]),
        "--model.arch",
        json.dumps(ARCH),
        "--model.lr",
        str(LR),
        "--data.tasks",
        json.dumps([task]),
        "--data.val_file",
        str(tiny_qa["qa"]),
        "--data.val_split",
        "dev",
        "--data.val_max_examples",
        "4",
        "--model.max_new_tokens",
        "4",
        "--data.batch_size",
        str(BATCH),
        "--trainer.max_steps",
        str(STEPS),
        "--trainer.val_check_interval",
        str(EVERY),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.accelerator",
        "cpu",
        *extra,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str]) -> list[Watched]:
    """Both ranks of `cbqa finetune ... --trainer.strategy fsdp --trainer.devices 2`, started at once (as torchrun does:
    each with its rank in the environment). They are forked from the test process's server of preloaded commands
    (helpers/killing.py), which spares each rank the ~10 s of CPU that importing torch and Lightning costs."""
    port = free_port()
    rank_env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "NODE_RANK": "0", "WORLD_SIZE": "2"}
    cmd = ["finetune", *args, "--trainer.strategy", "fsdp", "--trainer.devices", "2"]
    return [start(*cmd, env={**rank_env, "LOCAL_RANK": str(rank)}) for rank in range(2)]


def wait(ranks: list[Watched], timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    for w in ranks:
        try:
            code = w.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for r in ranks:
                r.proc.kill()
            code = "timeout"
        assert code == 0, f"rank exited {code}:\n" + "\n".join(r.output()[-2500:] for r in ranks)


def kill_after_checkpoint(ranks: list[Watched], last: Path, delay: float, timeout: float = HANG) -> str:
    """SIGKILL every rank `delay` s after `last` (a published checkpoint) appears: 'killed', or 'finished' first."""
    procs = [w.proc for w in ranks]
    deadline = time.monotonic() + timeout
    while not last.is_symlink():
        if any(p.poll() is not None for p in procs):
            return "finished"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    time.sleep(delay)
    if all(p.poll() is not None for p in procs):
        return "finished"
    for p in procs:
        if p.poll() is None:
            p.kill()
    for w in ranks:
        w.wait()
    return "killed"


@pytest.fixture(scope="module")
def runs(tiny_qa, tmp_path_factory) -> dict:
    """The uninterrupted FSDP run and, side by side with it, a run killed after its first checkpoint and rerun."""
    root = tmp_path_factory.mktemp("fsdp")
    ref, got = root / "ref", root / "got"
    t0 = time.perf_counter()
    uninterrupted = launch(finetune_args(tiny_qa, ref))
    killed = launch(finetune_args(tiny_qa, got))
    outcome = kill_after_checkpoint(killed, got / "checkpoints" / "last.ckpt", random.Random(32).uniform(0.0, 0.2))
    resumed = launch(finetune_args(tiny_qa, got))
    wait(uninterrupted)
    wait(resumed)
    print(f"fsdp runs: {time.perf_counter() - t0:.1f} s (kill: {outcome})")
    return {"ref": ref, "got": got, "outcome": outcome, "root": root}


def exported(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run_dir / "hf" / "model.safetensors")


def single_process_weights(tiny_qa) -> dict[int, dict[str, torch.Tensor]]:
    """The weights after each step of one process training on both ranks' batches (losses averaged, as FSDP averages
    the ranks' gradients), from the same initialisation (seed 0, as the CLI seeds)."""
    import lightning as L

    from cbqa.model.loading import T5Arch
    from cbqa.training.datamodule import Seq2SeqDataModule
    from cbqa.training.module import T5Seq2Seq
    from cbqa.training.tasks import TaskConfig

    L.seed_everything(0, verbose=False)
    module = T5Seq2Seq(tokenizer=str(tiny_qa["tok"]), arch=T5Arch(**ARCH), lr=LR)
    dm = Seq2SeqDataModule(
        tasks=[TaskConfig(name="qa", kind="qa", file=str(tiny_qa["qa"]), split="train")], batch_size=BATCH
    )
    dm.tokenizer = module.tokenizer
    dm.setup("fit")
    streams = [iter(dm.stream(world_size=2, rank=r)) for r in range(2)]
    opt = module.configure_optimizers()
    out = {}
    for step in range(1, STEPS + 1):
        batches = [next(s) for s in streams]
        losses = [
            module(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
            for b in batches
        ]
        (sum(losses) / len(losses)).backward()
        opt.step()
        opt.zero_grad()
        out[step] = {k: v.detach().clone() for k, v in module.t5.state_dict().items()}
    return out


@pytest.mark.slow
def test_fsdp_export_equals_single_process_with_the_same_global_batch(runs, tiny_qa) -> None:
    info = json.loads((runs["ref"] / "hf" / "cbqa_export.json").read_text())
    want = single_process_weights(tiny_qa)[info["step"]]
    got = exported(runs["ref"])
    assert set(got) <= set(want) and "lm_head.weight" in got  # the untied head is its own tensor
    worst = max((got[k] - want[k]).abs().max().item() for k in got)
    assert worst <= 1e-5, f"max |FSDP - single process| = {worst:.2e} at step {info['step']}"
    summary = json.loads((runs["ref"] / "summary.json").read_text())
    assert summary["global_step"] == STEPS
    print(f"max |FSDP export - single process| = {worst:.2e} (step {info['step']})")


@pytest.mark.slow
def test_fsdp_killed_after_a_checkpoint_and_rerun_ends_with_the_uninterrupted_weights(runs) -> None:
    assert runs["outcome"] == "killed", "the kill came after the run had finished"
    summary = json.loads((runs["got"] / "summary.json").read_text())
    assert summary["resumed_from"].endswith("last.ckpt") and summary["global_step"] == STEPS
    ref, got = exported(runs["ref"]), exported(runs["got"])
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    # the checkpoint is a published directory: every rank's shard, the index and Lightning's metadata
    last = runs["got"] / "checkpoints" / "last.ckpt"
    assert last.is_symlink() and {p.name for p in last.iterdir()} == {
        ".metadata",
        "__0_0.distcp",
        "__1_0.distcp",
        "meta.pt",
    }
    from cbqa.training.checkpoints import checkpoint_problem

    assert checkpoint_problem(last) is None
    assert hidden_leftovers([runs["got"] / "checkpoints", runs["got"]]) == []  # no staging dir of the killed run


@pytest.mark.slow
def test_fsdp_export_loads_and_predicts_and_the_run_refuses_another_config(runs, tiny_qa, capsys) -> None:
    from transformers import AutoModelForSeq2SeqLM

    from cbqa.commands.predict import main as predict
    from cbqa.core.errors import CbqaError
    from cbqa.training.cli import run_training

    net = AutoModelForSeq2SeqLM.from_pretrained(runs["ref"] / "hf")
    assert net.lm_head.weight.data_ptr() != net.shared.weight.data_ptr()  # T5.1.1: the head stays untied
    out = runs["root"] / "pred.jsonl"
    args = ["--model", str(runs["ref"]), "--questions", str(tiny_qa["qa"]), "--split", "dev", "--out", str(out)]
    assert predict(args) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 8 and all(isinstance(r["prediction"], str) for r in rows)
    # the same resume rules as any run: another config is refused before anything is touched (no process group needed)
    argv = finetune_args(
        tiny_qa, runs["ref"], "--model.lr", "0.01", "--trainer.strategy", "fsdp", "--trainer.devices", "2"
    )
    with pytest.raises(CbqaError, match=r"refusing to resume from last.ckpt: model.lr: 0.001 -> 0.01"):
        run_training(argv, "cbqa finetune", "runs/x")


@pytest.mark.slow
def test_bf16_mixed_fsdp_step_on_a_tied_t5_exports_the_tie(tiny_qa, tmp_path) -> None:
    """One rank in this process (the process group is torn down after): bf16 mixed precision (FSDP's bf16 compute,
    fp32 reductions, Lightning's autocast) with gradient checkpointing trains, validates and exports; the export of a
    t5-* shaped model (ReLU, head tied to the embeddings) loads with the tie."""
    from transformers import AutoModelForSeq2SeqLM

    from cbqa.training.cli import run_training

    arch = {k: ARCH[k] for k in ("d_model", "d_ff", "num_heads", "d_kv", "num_layers", "num_decoder_layers")}
    argv = finetune_args(tiny_qa, tmp_path / "run")
    argv[argv.index("--model.arch") + 1] = json.dumps(arch)
    argv[argv.index("--trainer.max_steps") + 1] = "2"
    argv[argv.index("--trainer.val_check_interval") + 1] = "2"
    argv += ["--trainer.strategy", "fsdp", "--trainer.devices", "1", "--trainer.precision", "bf16-mixed"]
    argv += ["--model.gradient_checkpointing", "true"]
    environ = dict(os.environ)
    try:
        assert run_training(argv, "cbqa finetune", "runs/x") == 0
    finally:
        os.environ.clear()
        os.environ.update(environ)  # (Lightning sets MASTER_PORT and rank variables for its process group)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["global_step"] == 2 and summary["best_val_em"] is not None
    net = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "run" / "hf")
    assert net.lm_head.weight.data_ptr() == net.shared.weight.data_ptr()  # tied, as trained
    assert {p.dtype for p in net.parameters()} == {torch.float32}  # the fp32 master weights, not the bf16 copies
