"""The demo pipeline end to end at smoke size (tiny model, few steps): every stage runs and writes its outputs."""

import json
from pathlib import Path

import pytest

from cbqa.commands.demo import main


@pytest.mark.slow
def test_demo_smoke_end_to_end_and_resume(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["--smoke", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["models"]) == {"none", "span_corruption", "ssm"}
    for path in manifest["predictions"].values():
        assert (out / path).exists()
    results = json.loads((out / "report" / "results.json").read_text())
    assert {"closed_book_ssm", "closed_book_none", "nearest_neighbour_tfidf"} <= set(results)
    gold_n = {c: results["closed_book_ssm"][c]["n"] for c in ("question_overlap", "answer_overlap_only", "no_overlap")}
    assert all(n > 0 for n in gold_n.values())
    assert (out / "report" / "results.png").stat().st_size > 0
    assert (out / "models" / "ssm" / "hf" / "config.json").exists()
    capsys.readouterr()

    # A second run finds every stage done and only rewrites the report.
    assert main(["--smoke", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "pretrain ssm: already done" in log and "train ssm: already done" in log and "predict ssm: already done" in log


def test_ssm_recipe_experiment_rows_are_well_formed() -> None:
    """The README's recipe table comes from experiments/ssm_recipe.py: its rows must build and use the demo's SSM."""
    import importlib.util
    import sys

    path = Path(__file__).parents[1] / "experiments" / "ssm_recipe.py"
    spec = importlib.util.spec_from_file_location("ssm_recipe", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ssm_recipe"] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["ssm_recipe"]
    assert {"ssm_then_mixed", "qa_only", "ssm_alone_linear"} <= set(module.ROWS)
    recipe = module.ROWS["ssm_then_mixed"]
    assert [(s.qa, s.steps, s.lr) for s in recipe] == [(False, 1000, 2e-3), (True, 500, 1e-3)]
    assert all(s.objective == module.VARIANTS["ssm"] for s in recipe)
