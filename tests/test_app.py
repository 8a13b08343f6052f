"""The Streamlit app, page by page, on a tiny run made here (streamlit.testing AppTest: no browser, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


@pytest.fixture(scope="module")
def runs_root(app_runs_template) -> Path:
    return app_runs_template  # shared with test_app_broken_runs.py, which breaks a copy


def app(monkeypatch, root: Path, page: str = "probe") -> AppTest:
    monkeypatch.setenv("CBQA_APP_RUNS", str(root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


def test_probe_without_question_asks_for_one(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root)
    no_failure(at)
    assert at.sidebar.selectbox(key="run").value == "demo"
    assert any("Type a question" in t for t in texts(at.info))


def test_probe_test_question_side_by_side(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root)
    test = [json.loads(line) for line in (runs_root / "demo" / "world" / "test.jsonl").read_text().splitlines()]
    pick = at.selectbox(key="probe_pick")
    assert pick.options[1:] == [q["question"] for q in test]
    pick.set_value(test[0]["question"]).run()
    no_failure(at)
    assert at.text_input(key="probe_question").value == test[0]["question"]
    md = texts(at.markdown)
    assert "**none**" in md and "**ssm**" in md  # both models answer, side by side
    # An untrained model is wrong: gold is known, so each answer carries a verdict.
    assert sum("wrong" in t or "right" in t for t in md) >= 2
    assert sum("answered in" in t for t in texts(at.caption)) == 2
    # Retrieval: this run has no index, and says so.
    assert any("no retrieval index" in t for t in texts(at.info))
    # Overlap facts, with the gold answer, and the stored categories of this test question.
    assert any(t.startswith("**Answer among training answers:**") and "gold answer" in t for t in md)
    assert any(t.startswith("**Answer in the pretraining corpus:** yes") for t in md)
    rows = {
        json.loads(line)["id"]: json.loads(line)
        for line in (runs_root / "demo" / "overlap" / "test_overlap.jsonl").read_text().splitlines()
    }
    assert any(f"`{rows[test[0]['id']]['category']}`" in t and "Computed" in t for t in md)
    frames = [e.value for e in at.dataframe]
    nearest = next(f for f in frames if "train question" in f.columns)
    assert len(nearest) == 5 and nearest["similarity"].is_monotonic_decreasing
    stored = next(f for f in frames if "system" in f.columns)
    assert list(stored["system"]) == ["closed_book_none", "closed_book_ssm"]
    assert bool(stored["right"].iloc[0]) is True  # question 0 is one the fixture answers right


def test_probe_beam_candidates(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root)
    at.sidebar.multiselect[0].set_value(["none"])
    at.sidebar.slider[0].set_value(4)
    at.sidebar.slider[1].set_value(3)
    at.text_input(key="probe_question").set_value("Where was somebody born?").run()
    no_failure(at)
    cands = next(e.value for e in at.dataframe if "log-prob" in e.value.columns)
    assert len(cands) == 3 and "right" not in cands.columns  # no gold for a typed question
    assert list(cands["log-prob"]) == sorted(cands["log-prob"], reverse=True)


@pytest.mark.parametrize(
    "question, level, words",
    [
        ("   ", "info", "Type a question"),
        ("why " * 400, "error", "characters long"),
        ("Кто основал эту компанию?", "warning", "does not look English"),
    ],
)
def test_probe_bad_questions_give_messages(monkeypatch, runs_root, question, level, words) -> None:
    at = app(monkeypatch, runs_root)
    at.text_input(key="probe_question").set_value(question).run()
    assert not at.exception
    assert any(words in t for t in texts(getattr(at, level)))
    # A refused question is not answered; a non-English one is, with the warning above it.
    answered = any("answered in" in t for t in texts(at.caption))
    assert answered == (level == "warning")


def test_benchmark_table_matches_results(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root, "benchmark")
    no_failure(at)
    result = json.loads((runs_root / "demo" / "report" / "results.json").read_text())
    table = at.dataframe[0].value  # systems as rows (a run may have many), categories with their n as columns
    n_total = result["closed_book_none"]["total"]["n"]
    assert list(table.index) == ["closed_book_none", "closed_book_ssm"] and f"total (n={n_total})" in table.columns
    assert table.loc["closed_book_ssm", f"total (n={n_total})"] == pytest.approx(
        result["closed_book_ssm"]["total"]["em"], abs=0.05
    )
    at.radio(key="bench_metric").set_value("f1").run()
    no_overlap = next(c for c in at.dataframe[0].value.columns if c.startswith("no_overlap"))
    assert at.dataframe[0].value.loc["closed_book_none", no_overlap] == pytest.approx(
        result["closed_book_none"]["no_overlap"]["f1"], abs=0.05
    )
    # every category labelled on the chart (Vega-Lite would drop overlapping labels), one colour per system
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["x"]["axis"]["labelOverlap"] is False
    assert spec["encoding"]["color"]["scale"]["domain"] == ["closed_book_none", "closed_book_ssm"]
    assert at.get("vega_lite_chart")


def test_benchmark_disagreements(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root, "benchmark")
    at.selectbox(key="bench_filter").set_value("only the second is right").run()
    no_failure(at)
    rows = at.dataframe[1].value
    # ssm is right on even questions, none on every third: only-ssm-right = even and not a multiple of 3.
    n = len((runs_root / "demo" / "world" / "test.jsonl").read_text().splitlines())
    assert len(rows) == sum(1 for k in range(n) if k % 2 == 0 and k % 3 != 0)
    assert rows["closed_book_ssm right"].all() and not rows["closed_book_none right"].any()
    at.selectbox(key="bench_category").set_value("no_overlap").run()
    assert len(at.dataframe[1].value) < len(rows)


def test_overlap_explorer(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root, "overlap")
    no_failure(at)
    sizes = at.dataframe[0].value
    n = len((runs_root / "demo" / "world" / "test.jsonl").read_text().splitlines())
    assert sizes["questions"].sum() == n
    at.slider(key="overlap_margin").set_value(0.5).run()
    near = at.dataframe[1].value
    # Only the questions with a training question sharing a gold answer have a decision score (the detector's default,
    # Lewis et al.'s definition); the others can never be question overlap.
    rows = [
        json.loads(line) for line in (runs_root / "demo" / "overlap" / "test_overlap.jsonl").read_text().splitlines()
    ]
    scored = [r for r in rows if r["question_decision"]["tfidf"]["score"] is not None]
    assert 0 < len(scored) < n and all(r["answer_overlap"] for r in scored)
    within = [r for r in scored if abs(r["question_decision"]["tfidf"]["score"] - 0.8) <= 0.5 + 1e-9]
    assert len(near) == len(within) and {
        "test question",
        "nearest train question",
        "similarity",
        "gold category",
    } <= set(near.columns)
    assert len(at.get("download_button")) == 6  # CSV + PNG of the categories and the histogram; the pairs, near and all


def test_masking_lab(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root, "masking")
    no_failure(at)
    spans = at.dataframe[0].value
    assert "Matthew Collins" in list(spans["span"]) and "PERSON" in list(spans["label"])
    codes = texts(at.code)
    assert len(codes) == 4 and any("<extra_id_0>" in c for c in codes)
    at.text_area(key="mask_text").set_value("").run()
    assert any("Paste some text" in t for t in texts(at.info))


def test_runs_page(monkeypatch, runs_root) -> None:
    at = app(monkeypatch, runs_root, "runs")
    no_failure(at)
    assert at.multiselect(key="runs_chosen").value == ["none/finetune", "ssm/finetune"]
    assert len(at.get("vega_lite_chart")) == 2  # train_loss and val_em
    summary = at.dataframe[0].value
    assert list(summary["best_val_em"]) == [22.5, 23.5]


@pytest.mark.parametrize("page", ["probe", "benchmark", "overlap", "masking", "runs", "knowledge"])
def test_missing_runs_directory(monkeypatch, tmp_path, page) -> None:
    at = app(monkeypatch, tmp_path / "nowhere", page)
    assert not at.exception
    assert any("does not exist" in t for t in texts(at.sidebar.warning))


def test_half_written_manifest(monkeypatch, tmp_path) -> None:
    run = tmp_path / "partial"
    run.mkdir()
    (run / "manifest.json").write_text('{"name": "partial", "train": "wor')
    for page in ("probe", "benchmark", "overlap", "runs"):
        at = app(monkeypatch, tmp_path, page)
        assert not at.exception
        assert any("not valid JSON" in t for t in texts(at.sidebar.error))


def test_run_with_missing_pieces(monkeypatch, runs_root, tmp_path) -> None:
    """A manifest whose files are not there yet (demo still running): messages, no traceback."""
    run = tmp_path / "early"
    run.mkdir()
    (run / "manifest.json").write_text(
        json.dumps(
            {"name": "early", "train": "world/train.jsonl", "models": {"none": "m"}, "predictions": {"a": "p.jsonl"}}
        )
    )
    at = app(monkeypatch, run, "benchmark")
    assert not at.exception and any("nothing to score" in t for t in texts(at.info))
    at = app(monkeypatch, run, "probe")
    at.text_input(key="probe_question").set_value("Who?").run()
    assert not at.exception and any("No closed-book model" in t for t in texts(at.info))
    at.sidebar.text_input(key="probe_other_model").set_value(str(tmp_path / "no-model")).run()
    assert not at.exception and any("no-model: not a model here" in t for t in texts(at.error))


def test_app_command_binds_localhost_headless() -> None:
    from cbqa.commands.app import parser, streamlit_command

    args = parser().parse_args([])
    cmd = streamlit_command("runs", args.port, args.host)
    joined = " ".join(cmd)
    assert cmd[cmd.index("run") + 1].endswith("app/main.py")
    assert "--server.address 127.0.0.1" in joined and "--server.headless true" in joined
    assert "--browser.gatherUsageStats false" in joined and joined.endswith("-- --runs runs")
    assert cmd[1:4] == ["-m", "cbqa_app.serve", "run"]  # Streamlit's CLI, with the first question's imports warmed


def test_server_warms_imports_and_a_failing_one_does_not_stop_it() -> None:
    from cbqa_app.serve import WARM_IMPORTS, warm_imports

    assert warm_imports(("json", "cbqa_no_such_module")) == ["cbqa_no_such_module"]
    assert "cbqa.model.inference" in WARM_IMPORTS  # the model stack, the heaviest part of the first answer


@pytest.mark.slow
def test_probe_with_retrieval_index(monkeypatch, runs_root, tmp_path) -> None:
    """With a retrieval index in the manifest: passages come back, and the gold answer is highlighted in them."""
    retrieval = pytest.importorskip("retrieval_baseline")
    if not hasattr(retrieval, "build_index"):
        pytest.skip("retrieval_baseline has no build_index here (the retrieval branch has not landed)")
    import shutil

    run = tmp_path / "with_index"
    shutil.copytree(runs_root / "demo", run)
    retrieval.build_index(run / "world" / "corpus.jsonl", run / "index", bm25=True, show_progress=False)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "index": "index"}))
    at = app(monkeypatch, run)
    test = json.loads((run / "world" / "test.jsonl").read_text().splitlines()[0])
    at.selectbox(key="probe_pick").set_value(test["question"]).run()
    no_failure(at)
    assert any("no reader model" in t for t in texts(at.info))
    assert at.radio(key="probe_retriever").options == ["dense", "bm25", "hybrid"]
    passages = [t for t in texts(at.markdown) if t.startswith("**1. ") or "score " in t]
    assert len(passages) == 5
    assert any("<mark" in t and test["answers"][0] in t for t in passages)  # the toy corpus states every fact
    at.radio(key="probe_retriever").set_value("bm25").run()
    no_failure(at)


def test_benchmark_table3_closed_book_vs_retrieval(monkeypatch, runs_root, tmp_path) -> None:
    """Lewis et al.'s Table 3 view: systems grouped open-book / closed-book / floor, the total and the three disjoint
    buckets as columns, and the share of a reader's EM copied from the passages it read."""
    import shutil

    from cbqa.core.formats import Prediction, read_predictions, read_qa, write_predictions
    from cbqa.core.formats.jsonl import read_jsonl, write_json
    from cbqa.overlap import evaluate_systems

    run = tmp_path / "demo"
    shutil.copytree(runs_root / "demo", run)
    test = read_qa(run / "world" / "test.jsonl")
    # A reader that reads: right on every question, copying the answer on even ones (odd ones: not in its passage).
    reader = [
        Prediction(
            q.id,
            q.question,
            q.answers[0],
            q.answers,
            {
                "passages": [{"id": "p", "title": "T", "text": f"... {q.answers[0]} ..." if k % 2 == 0 else "..."}],
                "read": 1,
            },
        )
        for k, q in enumerate(test)
    ]
    write_predictions(run / "predictions" / "retrieval_fid.jsonl", reader)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["predictions"]["retrieval_fid"] = "predictions/retrieval_fid.jsonl"
    write_json(run / "manifest.json", manifest)
    preds = {s: read_predictions(run / p) for s, p in manifest["predictions"].items()}
    overlap = [r for _, r in read_jsonl(run / "overlap" / "test_overlap.jsonl")]
    result = evaluate_systems(preds, test, overlap)
    write_json(run / "report" / "results.json", result)

    at = app(monkeypatch, tmp_path, "benchmark")
    no_failure(at)
    table = at.table[0].value
    kinds, systems = [k for k, _ in table.index], [s for _, s in table.index]
    assert systems == ["retrieval_fid", "closed_book_none", "closed_book_ssm"]  # open-book first, as in Table 3
    assert kinds[0].startswith("Open-book") and kinds[1] == kinds[2] == "Closed-book"
    n = result["closed_book_none"]
    assert list(table.columns) == [
        f"Total (n={n['total']['n']})",
        f"Question overlap (n={n['question_overlap']['n']})",
        f"Answer overlap only (n={n['answer_overlap_only']['n']})",
        f"No overlap (n={n['no_overlap']['n']})",
        "EM copied from passages (%)",
    ]
    row = table.iloc[2]
    assert row.iloc[3] == f"{result['closed_book_ssm']['no_overlap']['em']:.1f}" and row.iloc[4] == "-"
    copied = result["retrieval_fid"]["total"]["copied_share"]
    assert table.iloc[0].iloc[0] == "100.0" and table.iloc[0].iloc[4] == f"{copied:.1f}" and 40 < copied < 60
    at.radio(key="bench_metric").set_value("f1").run()
    assert at.table[0].value.iloc[1].iloc[0] == f"{result['closed_book_none']['total']['f1']:.1f}"
