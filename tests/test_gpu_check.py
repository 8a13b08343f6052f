"""bench/gpu_check.py works before a GPU is lent: the dry run goes through every stage at toy size on the CPU in an
environment like the GPU machine's (no spaCy, jsonargparse or pyarrow), prerequisites fail fast in one line, the
report survives a failing stage, and the FLOP count behind MFU equals torch's flop counter."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
ABSENT_ON_GPU_MACHINE = ("spacy", "jsonargparse", "pyarrow")

# Runs the script with the packages the GPU machine lacks made unimportable.
RUNNER = """
import runpy, sys
BLOCKED = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: absent on the GPU machine)")
        return None
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


@pytest.mark.slow
def test_dry_run_every_stage_without_the_packages_the_gpu_machine_lacks(tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    # One compute thread and in-process inductor compilation: on 2 shared cores, two OpenMP threads stall on each other
    # and a pool of compile workers costs more to start than it saves. (Both are settings of the test, not the script.)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            ",".join(ABSENT_ON_GPU_MACHINE),
            str(SCRIPT),
            "--dry-run",
            "--out",
            str(out),
            # aot_eager: dynamo and AOT autograd trace our module and the bare loop as inductor would, without the C++
            # kernel build that costs ~200 s on a fresh machine (the full run on a GPU uses inductor)
            "--compile-backend",
            "aot_eager",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    stages = report["stages"]
    assert report["finished"] and list(stages) == ["env", "train_eager", "collator", "search", "train_compile", "fsdp"]
    assert not any(report["stages"]["env"]["optional"][m] for m in ABSENT_ON_GPU_MACHINE)

    eager = stages["train_eager"]
    assert eager["status"] == "ok" and eager["ours_over_bare"] > 0 and eager["ours_input_tokens_per_s"] > 0
    assert eager["first_loss_rel_diff"] < 1e-3  # same weights, batch and autocast in the module and the bare loop
    for side in ("ours", "bare"):
        assert eager[side]["loss_last"] < eager[side]["loss_first"]  # the repeated batch is being learned

    collator = stages["collator"]
    assert collator["status"] == "ok", collator
    assert [p["policy"] for p in collator["policies"]] == ["ssm_title_sentence", "span_corruption"]
    assert all(
        p["examples_per_s"] > 0 and p["over_step"] > 0 and p["mean_input_tokens"] > 0 for p in collator["policies"]
    )

    search = stages["search"]
    assert search["status"] == "ok" and search["torch_over_faiss_cpu"] > 0
    assert search["faiss_cpu"]["top1_ids_equal"] == 1.0 and search["faiss_cpu"]["topk_overlap"] >= 0.99  # both exact
    assert any(s.startswith("search: faiss-gpu") for s in report["skipped"])

    compiled = stages["train_compile"]
    assert compiled["status"] == "ok" and compiled["compile_backend"] == "aot_eager", compiled  # no C++ compiler needed
    assert compiled["first_loss_rel_diff"] < 1e-3  # through the Lightning module and the bare loop
    assert abs(compiled["ours"]["loss_first"] - eager["ours"]["loss_first"]) < 1e-2 * abs(eager["ours"]["loss_first"])
    assert compiled["ours"]["loss_last"] < compiled["ours"]["loss_first"]
    fsdp = stages["fsdp"]  # one CPU process in the dry run: the strategy, both activation modes and the export
    assert fsdp["status"] == "ok" and fsdp["gpus"] == 1, fsdp
    assert fsdp["stored"]["input_tokens_per_s"] > 0 and fsdp["checkpointed"]["input_tokens_per_s"] > 0
    assert fsdp["stored"]["loss_first"] == pytest.approx(fsdp["checkpointed"]["loss_first"], rel=1e-2)
    assert fsdp["export"]["loads"] and fsdp["export"]["parameters"] == fsdp["export"]["parameters_trained"]
    assert "ratio" in proc.stdout and "gpu_check: wrote" in proc.stdout
    print(
        f"dry run: {report['wall_s']} s; stages "
        + ", ".join(f"{k} {v.get('stage_wall_s')} s" for k, v in stages.items())
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_full_run_without_a_gpu_fails_fast_in_one_line(gpu_check, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.json"
    assert gpu_check.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gpu_check: error: no CUDA GPU visible") and "--dry-run" in err
    assert not out.exists()


def test_missing_package_fails_fast(gpu_check, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(gpu_check, "REQUIRED", (*gpu_check.REQUIRED, "no_such_package_xyz"))
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err == "gpu_check: error: missing Python package(s): no_such_package_xyz (pip install no_such_package_xyz)\n"


@pytest.mark.skipif(torch.cuda.device_count() > 1, reason="checks the skip on a machine with fewer than 2 GPUs")
def test_fsdp_stage_skipped_with_the_reason_below_two_gpus(gpu_check, tmp_path: Path) -> None:
    result = gpu_check.fsdp_stage(tmp_path, gpu_check.TOY, torch.device("cuda"), False, tmp_path)
    assert result["status"] == "skipped" and result["reason"].startswith("needs 2 or more GPUs")


def test_report_is_written_after_each_stage_and_survives_a_failure(gpu_check, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "r.json"
    seen_before_search: list[dict] = []

    def failing_search(size, dev):
        seen_before_search.append(json.loads(out.read_text()))  # what a run cut off here would have left
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(gpu_check, "search_stage", failing_search)
    assert gpu_check.main(["--dry-run", "--stages", "env", "search", "--out", str(out)]) == 1
    (before,) = seen_before_search
    assert not before["finished"] and before["stages"]["env"]["status"] == "ok"
    report = json.loads(out.read_text())
    search = report["stages"]["search"]
    assert report["finished"] and (search["status"], search["error"]) == ("error", "RuntimeError: simulated failure")


@pytest.mark.parametrize("gated", [True, False])
def test_train_flops_equal_torch_flop_counter(gpu_check, gated: bool) -> None:
    """MFU's numerator: the analytic matmul FLOPs of a training step equal what torch counts (eager attention)."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import T5Config, T5ForConditionalGeneration

    size = gpu_check.Size(
        **{**asdict(gpu_check.TOY), "src_len": 24, "tgt_len": 7, "num_decoder_layers": 3, "vocab": 500}
    )
    cfg = T5Config(
        vocab_size=size.vocab,
        d_model=size.d_model,
        d_ff=size.d_ff,
        num_layers=size.num_layers,
        num_decoder_layers=size.num_decoder_layers,
        num_heads=size.num_heads,
        d_kv=size.d_kv,
        feed_forward_proj="gated-gelu" if gated else "relu",
        dropout_rate=0.0,
        decoder_start_token_id=0,
        attn_implementation="eager",
    )  # (eager attention: CPU sdpa kernels are not counted by torch)
    net = T5ForConditionalGeneration(cfg).train()
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(3, size.vocab, (size.batch, size.src_len), generator=g),
        "labels": torch.randint(3, size.vocab, (size.batch, size.tgt_len), generator=g),
    }
    with FlopCounterMode(display=False) as counter:
        net(**batch).loss.backward()
    assert counter.get_total_flops() == gpu_check.t5_train_flops(size, gated=gated)
