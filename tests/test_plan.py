"""`cbqa plan` offline: parameters counted from hub configs on the meta device (T5.1.1's head untied), per-GPU memory
under DDP and FSDP, which combinations fit; the scale guide's table drawn from registry entries the planner regenerates
exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.cli import main as cbqa_main
from cbqa.training.memory import GB, Setting, hub_configs, model_size, plan_rows

REPO = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cbqa_main(argv)
    return exit_info.value.code


@pytest.mark.parametrize(
    ("model", "parameters", "shown"),
    [
        ("t5-small", 60_506_624, "60.5M"),
        ("google/t5-v1_1-base", 247_577_856, "247.6M"),
        ("google/t5-v1_1-xl", 2_849_757_184, "2.85B"),
        ("google/t5-v1_1-xxl", 11_135_332_352, "11.14B"),
    ],
)
def test_parameters_of_hub_models_counted_offline(model: str, parameters: int, shown: str) -> None:
    from cbqa.commands.plan import params

    size = model_size(model)
    assert size.parameters == parameters and params(size.parameters) == shown
    assert size.tied == (not model.startswith("google/"))  # transformers 5 would tie T5.1.1 too: 11.00B for xxl


def test_every_known_hub_config_builds() -> None:
    assert set(hub_configs()) == {
        *(f"t5-{s}" for s in ("small", "base", "large", "3b", "11b")),
        *(f"google/t5-v1_1-{s}" for s in ("small", "base", "large", "xl", "xxl")),
    }
    assert model_size("t5-11b").parameters == 11_307_321_344


def test_plan_xxl_on_8_gpus_offline(tmp_path: Path, capsys) -> None:
    out = tmp_path / "plan.json"
    argv = ["plan", "--model", "google/t5-v1_1-xxl", "--gpus", "8", "--gpu-memory", "80", "--json", str(out)]
    assert run_cli(argv) == 0
    printed = capsys.readouterr().out
    assert "google/t5-v1_1-xxl: 11.14B parameters (head untied); 8 GPUs x 80 GB" in printed
    plan = json.loads(out.read_text())
    assert plan["parameters"] == 11_135_332_352
    fits = {(r["strategy"], r["checkpointing"]): r["fits"] for r in plan["rows"]}
    assert fits == {("ddp", False): False, ("ddp", True): False, ("fsdp", False): False, ("fsdp", True): True}
    fsdp = next(r for r in plan["rows"] if r["strategy"] == "fsdp")
    # FSDP shards weights (4 B), gradients (4 B) and AdamW's moments (8 B) over the 8 GPUs
    assert fsdp["weights"] + fsdp["gradients"] + fsdp["optimizer"] == pytest.approx(16 * 11_135_332_352 / 8)


def test_plan_reads_a_local_config_and_fails_in_one_line_on_an_unknown_hub_name(tmp_path: Path, capsys) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(hub_configs()["google/t5-v1_1-base"]))
    assert run_cli(["plan", "--model", str(tmp_path / "m"), "--gpus", "1", "--gpu-memory", "24", "--batch", "4"]) == 0
    assert "247.6M parameters" in capsys.readouterr().out
    assert run_cli(["plan", "--model", "someone/no-such-t5", "--gpus", "1", "--gpu-memory", "24"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cbqa plan: error: someone/no-such-t5: not a T5 known offline"), err


def test_adafactor_fsdp_rows_are_refused_and_fits_follow_the_memory() -> None:
    size = model_size("google/t5-v1_1-large")
    small = plan_rows(size, Setting(gpus=1, gpu_memory_gb=80, batch=1, input_len=64, target_len=8))
    assert all(r.fits(80) for r in small) and not any(r.fits(1) for r in small)
    ada = Setting(gpus=8, gpu_memory_gb=80, optimizer="adafactor")
    from cbqa.training.memory import row_dict

    rows = [row_dict(r, ada) for r in plan_rows(size, ada)]
    assert all(r["refused"] and not r["fits"] for r in rows if r["strategy"] == "fsdp")
    ddp = next(r for r in rows if r["strategy"] == "ddp")
    assert ddp["optimizer"] < 0.01 * 8 * size.parameters  # factored: rows + columns, not a moment per weight
    stored, checkpointed = plan_rows(size, Setting(gpus=1, gpu_memory_gb=80))[:2]
    assert checkpointed.activations < 0.25 * stored.activations and stored.activations > 5 * GB


def test_registry_scale_plan_entries_are_what_the_planner_computes_and_the_guide_shows_them() -> None:
    from cbqa.results import scale_plan
    from cbqa.results.pages import regenerated, render
    from cbqa.results.registry import registry

    reg = registry()
    stored = [e.model_dump(exclude_defaults=True) for e in reg.table(scale_plan.TABLE)]
    fresh = scale_plan.entries()
    assert [e["id"] for e in stored] == [e["id"] for e in fresh]
    assert {e["id"]: e["value"] for e in stored} == {e["id"]: e["value"] for e in fresh}, (
        "registry.yaml's scale-plan entries drifted from the planner: run python -m cbqa.results.scale_plan, then "
        "python -m cbqa.results.pages"
    )
    guide = (REPO / "docs" / "scale.md").read_text(encoding="utf-8")
    assert "<!-- results: scale-plan -->" in guide and regenerated(guide, reg) == guide  # the page is up to date
    assert "| t5-v1_1-xxl | ≈ 11.14B |" in render(reg, scale_plan.TABLE)
