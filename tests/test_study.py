"""`cbqa study` on one's own data: a slice of SQuAD (../shared/data, skipped without it), one variant, no retrieval
arm: the demo's stages, files and report keys, the split recorded, the app's pages open on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.study_tree import check_study

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad_v1.1_dev" / "demo"
pytestmark = pytest.mark.skipif(not SQUAD.is_dir(), reason="../shared/data/squad_v1.1_dev/demo is absent")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    from cbqa.cli import main

    root = tmp_path_factory.mktemp("study")
    # the Normans article: 45 passages, 112 questions with their split
    passages = [json.loads(line) for line in (SQUAD / "passages.jsonl").read_text().splitlines()]
    (root / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages if p["title"] == "Normans"))
    rows = [json.loads(line) for line in (SQUAD / "qa.jsonl").read_text().splitlines()]
    (root / "qa.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows if r["passage_id"].startswith("Normans#"))
    )
    out = root / "out"
    argv = [
        "study",
        "--corpus",
        str(root / "passages.jsonl"),
        "--qa",
        str(root / "qa.jsonl"),
        "--out",
        str(out),
        "--variants",
        "none",
        "--no-retrieval",
        "--pretrain-steps",
        "4",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--lanes",
        "1",
    ]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    return out


def test_own_data_study_writes_what_the_demo_writes(study: Path) -> None:
    check_study(study, ["none"], retrieval=False)
    split = json.loads((study / "data" / "split.json").read_text())
    assert split["rule"] == "the rows' `split` field" and sum(split["counts"].values()) == 112
    shared = split["test_sharing_a_training_passage"]  # SQuAD: test questions were written from training passages
    assert shared["of"] == split["counts"]["test"] and 0 < shared["questions"] <= shared["of"]
    manifest = json.loads((study / "manifest.json").read_text())
    assert manifest["config"]["corpus"].endswith("passages.jsonl") and manifest["gold_overlap"] is None


def test_the_apps_pages_open_on_it(study: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CBQA_APP_RUNS", str(study))
    main = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
    for page in ("probe", "benchmark", "overlap", "runs"):
        at = AppTest.from_file(main, default_timeout=120)
        at.query_params["page"] = page
        at.run()
        assert not at.exception and not at.error, (page, at.exception, [e.value for e in at.error])
