"""The app fed broken run directories (streamlit.testing AppTest): truncated JSON and JSONL, a model directory without
weights, a half-written training log, missing files, a broken index manifest. Each page shows an in-page message that
names what is broken, never a traceback, and the parts of the run that are fine keep working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture(scope="module")
def broken(tmp_path_factory, app_runs_template) -> Path:
    """One run with something broken for every page; its other parts are intact."""
    root = tmp_path_factory.mktemp("broken")
    run = root / "demo"
    shutil.copytree(app_runs_template / "demo", run)
    truncate(run / "report" / "results.json")  # Benchmark
    truncate(run / "overlap" / "test_overlap.jsonl", 0.7)  # Overlap explorer (and the Probe's stored labels)
    hf = run / "models" / "none" / "finetune" / "hf"  # Probe: a model directory without its weights
    for weights in hf.glob("*.safetensors"):
        weights.unlink()
    truncate(run / "models" / "ssm" / "finetune" / "summary.json")  # Runs: a summary cut short ...
    with (run / "models" / "none" / "finetune" / "logs" / "metrics.csv").open("a") as f:
        f.write('0,100,"4.')  # ... and a training log whose last row is half-written (an unclosed quote)
    index = run / "index"  # Probe: a retrieval index whose manifest is malformed
    index.mkdir()
    from retrieval_baseline.index_dir import VERSION

    (index / "manifest.json").write_text(
        json.dumps({"format": "cbqa-retrieval-index", "version": VERSION, "encoder": "x"})
    )
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "index": "index"}))
    return root


def app(monkeypatch, root: Path, page: str) -> AppTest:
    monkeypatch.setenv("CBQA_APP_RUNS", str(root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def messages(at: AppTest) -> list[str]:
    return texts(at.error) + texts(at.warning) + texts(at.info)


def test_probe_names_the_broken_model_index_and_labels_and_the_rest_answers(monkeypatch, broken) -> None:
    at = app(monkeypatch, broken, "probe")
    question = json.loads((broken / "demo" / "world" / "test.jsonl").read_text().splitlines()[0])["question"]
    at.selectbox(key="probe_pick").set_value(question).run()
    assert not at.exception
    errors = texts(at.error)
    assert any(e.startswith("Model none:") for e in errors), errors  # the model without weights says so ...
    assert sum("answered in" in t for t in texts(at.caption)) == 1  # ... and the intact model still answers
    assert any(e.startswith("Retrieval index") and "manifest.json" in e and "encoder" in e for e in errors), errors
    assert any("test_overlap.jsonl" in e and "invalid JSON" in e for e in errors), errors
    assert not any(" failed: " in e for e in errors), errors  # no page-level catch-all: each part reports itself


def test_benchmark_names_the_truncated_report(monkeypatch, broken) -> None:
    at = app(monkeypatch, broken, "benchmark")
    assert not at.exception
    errors = texts(at.error)
    assert any("results.json" in e and ("JSON" in e or "Expecting" in e) for e in errors), errors
    assert not any(" failed: " in e for e in errors), errors


def test_overlap_explorer_names_the_truncated_labels(monkeypatch, broken) -> None:
    at = app(monkeypatch, broken, "overlap")
    assert not at.exception
    errors = texts(at.error)
    assert any("test_overlap.jsonl" in e and "invalid JSON" in e for e in errors), errors


def test_runs_page_reports_broken_logs_and_plots_the_rest(monkeypatch, broken) -> None:
    at = app(monkeypatch, broken, "runs")
    assert not at.exception
    shown = messages(at)
    assert any("summary.json" in m for m in shown), shown
    assert any("metrics.csv" in m for m in shown), shown
    assert len(at.get("vega_lite_chart")) >= 1  # the intact run's curves are drawn


def test_masking_lab_does_not_depend_on_the_broken_run(monkeypatch, broken) -> None:
    at = app(monkeypatch, broken, "masking")
    assert not at.exception and not at.error
    assert len(texts(at.code)) == 4


@pytest.fixture(scope="module")
def hollow(tmp_path_factory, broken) -> Path:
    """A run whose manifest names files that are gone (deleted, or never written by an interrupted demo)."""
    root = tmp_path_factory.mktemp("hollow")
    run = root / "demo"
    shutil.copytree(broken / "demo", run)
    for gone in ("world/test.jsonl", "report", "predictions/closed_book_ssm.jsonl", "models/ssm", "overlap"):
        p = run / gone
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return root


@pytest.mark.parametrize(
    "page, words",
    [
        ("probe", "missing piece"),
        ("benchmark", "no test set"),
        ("overlap", "no overlap labels"),
        ("runs", "missing piece"),
    ],
)
def test_missing_files_are_listed_and_pages_still_render(monkeypatch, hollow, page, words) -> None:
    at = app(monkeypatch, hollow, page)
    assert not at.exception
    sidebar = [str(e.label) for e in at.sidebar.expander]
    listed = [str(m.value) for m in at.sidebar.markdown]
    assert any("missing piece" in label for label in sidebar), sidebar
    assert any("test" in m and "is missing" in m for m in listed), listed
    if words != "missing piece":
        assert any(words in m for m in messages(at)), messages(at)
