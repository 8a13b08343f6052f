"""configs/paper: every recipe and every model file parsed by the training CLI's own parser (`--print_config`), in this
one process, with Roberts et al.'s settings checked in the resolved config; the GPU hours each comment states are
the results registry's estimates."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

from cbqa.results.registry import registry
from cbqa.training.cli import run_training

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper"
RECIPES = sorted(p for p in PAPER.glob("*.yaml"))
MODELS = sorted((PAPER / "models").glob("*.yaml"))
PREFIXES = {"nq": "nq question: ", "wq": "wq question: ", "tqa": "trivia_qa question: "}


def resolved(*configs: Path) -> dict:
    argv = [a for c in configs for a in ("-c", str(c))] + ["--print_config"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
        run_training(argv, "cbqa pretrain", "runs/paper")
    assert e.value.code == 0, out.getvalue()[-500:]
    return yaml.safe_load(out.getvalue())


def test_every_paper_config_parses_with_the_papers_settings() -> None:
    assert len(RECIPES) == 9 and len(MODELS) == 10
    for recipe in RECIPES:
        config = resolved(recipe)
        model, data, trainer = config["model"], config["data"], config["trainer"]
        assert (model["optimizer"], model["schedule"]) == ("adafactor", "constant"), recipe.name
        wq = recipe.stem.startswith("web_questions")
        assert model["lr"] == (0.002 if wq else 0.001), recipe.name  # WebQuestions: twice the rate, half the batch
        examples = data["batch_size"] * trainer["accumulate_grad_batches"]
        assert examples * data["max_input_len"] == (98_304 if wq else 196_608), recipe.name  # the paper's tokens/step
        full = recipe.stem.endswith("_test")
        steps = {"ssm": 100_000}.get(recipe.stem, 10_000 if full else 20_000)
        assert trainer["max_steps"] == steps, recipe.name
        tasks = data["tasks"]
        if recipe.stem == "ssm":
            assert [t["policy"] for t in tasks] == ["ssm_t5cbqa"]
            continue
        assert all(t["kind"] == "qa" and t["prefix"] == PREFIXES[t["name"]] for t in tasks), recipe.name
        assert all((t["normaliser"] == "triviaqa") == (t["name"] == "tqa") for t in tasks), recipe.name
        # the checkpoint is chosen on each dataset's own held-out split (none in the full protocol)
        assert all((t["val_file"] is None) == full for t in tasks), recipe.name
        if not full:
            assert all(t["val_file"].endswith(f"{Path(t['file']).parent.name}/validation.jsonl") for t in tasks)
            assert trainer["val_check_interval"] == 1000 * trainer["accumulate_grad_batches"]  # every 1,000 steps
        if recipe.stem.startswith("mixture"):
            assert [t["name"] for t in tasks] == ["nq", "wq", "tqa"] and data["mixing"]["method"] == "proportional"
    for model_file in MODELS:  # each model file on a recipe: the stack the comments show
        config = resolved(PAPER / "natural_questions_open.yaml", model_file)
        hub = config["model"]["model"]
        assert hub == model_file.stem or hub == f"google/{model_file.stem}"
        assert config["trainer"]["precision"] == "bf16-mixed"


def recipe_of(path: Path) -> str | None:
    if path.parent.name == "models":
        return None
    if path.stem == "ssm":
        return "ssm"
    return (
        "finetune" + ("_full" if path.stem.endswith("_test") else "") + ("_wq" if "web_questions" in path.stem else "")
    )


def test_every_config_states_its_gpu_hours_as_the_registry_estimates_them() -> None:
    reg = registry()
    for path in [*RECIPES, *MODELS]:
        comments = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        recipe = recipe_of(path)
        if recipe is None:
            stated = {(path.stem, r): float(v) for r, v in re.findall(r"\b(ssm|finetune\w*) ([\d.]+) h", comments)}
        else:
            stated = {(m, recipe): float(v) for m, v in re.findall(r"(t5-[\w-]+) ([\d.]+) h", comments)}
        assert len(stated) == (5 if recipe is None else 10), path.name
        for (model, r), hours in stated.items():
            entry = reg.entry(f"gpu_hours.{model}.{r}")
            assert entry.kind == "estimate" and entry.value == hours, (path.name, model, r)
            assert entry.inputs == ["nanot5.seconds_per_step"]
    rate = reg.entry("nanot5.seconds_per_step")
    assert rate.kind == "published" and "nanoT5" in rate.source
