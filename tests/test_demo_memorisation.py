"""`cbqa demo --memorisation`'s report: exposure means per variant over its seeds' models, split by salience,
extraction precision@k (rankings with no long-enough sample left out), dev EM; and its markdown table."""

from __future__ import annotations

import json
from pathlib import Path

from cbqa.demo.memorisation import markdown, variant_row


def test_variant_rows_average_over_seeds_and_split_by_salience(tmp_path: Path) -> None:
    models = {f"ssm-s{s}": tmp_path / f"ssm-s{s}" for s in (0, 1)} | {"none-s0": tmp_path / "none-s0"}
    for i, run in enumerate(models.values()):
        run.mkdir()
        (run / "summary.json").write_text(json.dumps({"best_val_em": 10.0 * (i + 1)}))
    rows = [
        {"model": str(models["ssm-s0"]), "repeats": 16, "salience": "salient", "exposure": 12.0},
        {"model": str(models["ssm-s1"]), "repeats": 16, "salience": "salient", "exposure": 8.0},
        {"model": str(models["ssm-s1"]), "repeats": 16, "salience": "not salient", "exposure": 1.0},
        {"model": str(models["ssm-s0"]), "repeats": 0, "salience": "salient", "exposure": 1.5},
        {"model": str(models["none-s0"]), "repeats": 16, "salience": "salient", "exposure": 2.0},
    ]
    exposure = {"canary_exposures": rows, "space_size": 100000, "method": "skewnorm"}
    ex = tmp_path / "extraction"
    ex.mkdir()
    for name, memorised in (("ssm-s0", 3), ("ssm-s1", 1), ("none-s0", 0)):
        body = {"precision_at_k": {"100": {"k": 100, "memorised": memorised, "precision": memorised / 100}}}
        empty = {"precision_at_k": {"100": {"k": 0, "memorised": 0, "precision": None}}}
        (ex / f"extract-{name}.json").write_text(json.dumps({"rankings": {"perplexity": body, "zlib": empty}}))
    ssm = variant_row("ssm", ["ssm-s0", "ssm-s1"], models, exposure, ex)
    assert ssm["exposure"]["16|salient"] == {"mean": 10.0, "n": 2} and ssm["exposure"]["16|not salient"] == {
        "mean": 1.0,
        "n": 1,
    }
    assert ssm["exposure"]["16|all"] == {"mean": 7.0, "n": 3} and ssm["exposure"]["0|all"] == {"mean": 1.5, "n": 1}
    assert ssm["precision"] == {"perplexity@100": 2.0} and ssm["dev_em"] == 15.0  # zlib: nothing ranked, left out
    none = variant_row("none", ["none-s0"], models, exposure, ex)
    table = markdown({"seeds": [0, 1], "space_size": 100000, "method": "skewnorm", "variants": [none, ssm]})
    line = next(x for x in table.splitlines() if x.startswith("| ssm"))
    assert "| 1.50 (1) |" in line and "7.00 (3) / 10.00 (2) / 1.00 (1)" in line and "2.0 / –" in line
