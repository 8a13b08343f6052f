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
