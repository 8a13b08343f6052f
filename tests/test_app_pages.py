"""The app pages as a researcher uses them (streamlit.testing AppTest): the overlap table follows the threshold, the
masking lab takes labels and names a mixture's draw, runs are plotted at total training steps with one colour each,
and no machine path is shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from cbqa_app.colors import color_for, color_scale
from cbqa_app.run_dir import steps_before

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def app(monkeypatch, root: Path, page: str) -> AppTest:
    monkeypatch.setenv("CBQA_APP_RUNS", str(root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def shown_text(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error") for e in at.get(kind)]
    return "\n".join(parts)


def test_overlap_category_table_follows_the_threshold(monkeypatch, app_runs_template) -> None:
    at = app(monkeypatch, app_runs_template, "overlap")
    assert not at.exception
    slider = at.slider(key="overlap_threshold_tfidf")

    def question_overlap() -> int:
        sizes = at.dataframe[0].value
        return int(sizes.loc[sizes["category"] == "question_overlap", "questions"].sum())

    counts = {}
    for threshold in (1.0, 0.5, 0.0):
        slider.set_value(threshold).run()
        counts[threshold] = question_overlap()
    assert counts[1.0] < counts[0.5] <= counts[0.0], counts
    assert "passes the threshold of any method" in shown_text(at)
    pairs = at.dataframe[1].value  # every pair links to its question in Probe, by query parameters
    assert all(link == f"?page=probe&run=demo&q={qid}" for link, qid in zip(pairs["probe"], pairs["id"]))
    assert str(app_runs_template) not in shown_text(at)  # paths relative to the runs directory


def test_masking_lab_typed_ssm_with_labels_and_the_mixtures_draw(monkeypatch, app_runs_template) -> None:
    at = app(monkeypatch, app_runs_template, "masking")
    at.multiselect(key="mask_policies").set_value(["typed_ssm"]).run()
    assert not at.exception and not at.error
    assert "type them in the Labels field" in shown_text(at)
    at.text_input(key="mask_labels").set_value("DATE").run()
    (masked, target) = [str(c.value) for c in at.code]
    assert "<extra_id_0>" in masked and "1984" not in masked and "1984" in target  # the sample's one date
    at.multiselect(key="mask_policies").set_value(["mixture"]).run()
    assert "drawn from the mixture's component" in shown_text(at)


def test_runs_at_total_training_steps(monkeypatch, tmp_path, app_runs_template) -> None:
    root = tmp_path / "runs"
    shutil.copytree(app_runs_template, root)
    pretrain = root / "demo" / "pretrain" / "ssm"
    pretrain.mkdir(parents=True)
    (pretrain / "summary.json").write_text(json.dumps({"global_step": 800}))
    finetune = root / "demo" / "models" / "ssm" / "finetune"
    (finetune / "config.yaml").write_text(f"model:\n  model: {pretrain / 'hf'}\n")
    assert steps_before(finetune) == 800 and steps_before(root / "demo" / "models" / "none" / "finetune") == 0

    at = app(monkeypatch, root, "runs")
    assert not at.exception and not at.error
    assert "ssm/finetune +800" in shown_text(at)
    assert len(at.get("vega_lite_chart")) == 2
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["x"]["field"] == "total_step"
    assert spec["encoding"]["color"]["scale"]["range"] == [color_for("none/finetune"), color_for("ssm/finetune")]
    assert len(at.get("download_button")) == 2 * 2 + 1  # CSV + PNG per chart, CSV of the summaries


def test_one_colour_per_variant_everywhere() -> None:
    assert color_for("closed_book_ssm") == color_for("ssm/finetune") == color_for("pretrain/ssm")
    assert color_for("closed_book_span_corruption") != color_for("closed_book_ssm")
    assert (
        len(
            {
                color_for(n)
                for n in (
                    "closed_book_none",
                    "closed_book_ssm",
                    "closed_book_span_corruption",
                    "retrieval_reader",
                    "nearest_neighbour_tfidf",
                    "nearest_neighbour_dense",
                )
            }
        )
        == 6
    )
    assert color_for("my-run") == color_for("my-run")  # other names: stable, from a hash
    assert color_scale(["b_ssm", "a_none"]).domain == ["a_none", "b_ssm"]


def test_probe_gold_box_and_pick_follow_the_question_on_screen(monkeypatch, app_runs_template) -> None:
    at = app(monkeypatch, app_runs_template, "probe")
    test = [json.loads(line) for line in (app_runs_template / "demo" / "world" / "test.jsonl").read_text().splitlines()]
    at.selectbox(key="probe_pick").set_value(test[0]["question"]).run()
    golds = [t for t in at.text_input if t.key.startswith("probe_gold_")]
    assert golds[0].value == " | ".join(test[0]["answers"])
    assert any("its row in Benchmark" in str(m.value) and f"q={test[0]['id']}" in str(m.value) for m in at.markdown)
    at.text_input(key="probe_question").set_value("Who painted the moon?").run()
    assert not at.exception
    assert at.selectbox(key="probe_pick").value == "(type your own)"
    golds = [t for t in at.text_input if t.key.startswith("probe_gold_")]
    assert golds[0].value == ""  # not the picked question's answer
    golds[0].set_value("Nobody").run()
    at.text_input(key="probe_question").set_value("Who painted the sun?").run()
    assert [t for t in at.text_input if t.key.startswith("probe_gold_")][0].value == ""  # a new typed question: empty


def test_probe_opens_a_linked_question_and_names_a_bad_model_path(monkeypatch, app_runs_template) -> None:
    test = [json.loads(line) for line in (app_runs_template / "demo" / "world" / "test.jsonl").read_text().splitlines()]
    monkeypatch.setenv("CBQA_APP_RUNS", str(app_runs_template))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params.update({"page": "probe", "run": "demo", "q": test[3]["id"]})
    at.run()
    assert not at.exception
    assert at.text_input(key="probe_question").value == test[3]["question"]
    at.text_input(key="probe_other_model").set_value("/no/such/model").run()
    errors = [str(e.value) for e in at.error]
    assert any(e.startswith("/no/such/model: not a model here") for e in errors), errors
    assert sum("answered in" in str(c.value) for c in at.caption) == 2  # the run's two models still answer


def test_mean_token_logprob_prefers_the_models_own_answer(app_runs_template) -> None:
    from cbqa.model.inference import Answerer

    model = Answerer(str(app_runs_template / "demo" / "models" / "ssm" / "finetune" / "hf"), device="cpu")
    questions = ["Who founded the company?", "Where was she born?"]
    own = [c[0].text for c in model.answer(questions)]
    mine, other = model.mean_token_logprob(questions, own), model.mean_token_logprob(questions, ["zebra quartet"] * 2)
    assert all(m <= 0 for m in mine) and all(a > b for a, b in zip(mine, other))


def test_memorisation_page_reads_exposure_and_extraction_results(monkeypatch, tmp_path, app_runs_template) -> None:
    from cbqa.memorisation.exposure import summarise

    root = tmp_path / "runs"
    shutil.copytree(app_runs_template, root)
    at = app(monkeypatch, root, "memorisation")
    assert not at.exception and "No `exposure.json`" in shown_text(at) and "No extraction result" in shown_text(at)

    rows = [
        {"model": f"/abs/{m}", "canary": f"c{i}", "repeats": rep, "salience": sal, "exposure": e}
        for i, (m, rep, sal, e) in enumerate(
            [
                ("ssm", 0, "not salient", 1.2),
                ("ssm", 16, "salient", 15.0),
                ("ssm", 16, "not salient", 0.9),
                ("none", 16, "salient", 2.0),
            ]
        )
    ]
    (root / "exposure").mkdir()
    (root / "exposure" / "exposure.json").write_text(
        json.dumps(
            {
                "format": "digits",
                "space_size": 100_000,
                "max_exposure": 16.61,
                "method": "skewnorm",
                "summary": summarise(rows),
                "canary_exposures": rows,
            }
        )
    )
    top = [
        {
            "prompt": "<extra_id_0>",
            "text": "Laura Emerson was born in Hartmouth in 1950 and studied at Glenford.",
            "log_ppl": 0.4,
            "zlib_ratio": 0.002,
            "memorised": True,
            "matches": [{"doc_id": "d7"}],
        }
    ]
    (root / "extract-ssm.json").write_text(
        json.dumps(
            {
                "model": "/abs/ssm",
                "samples": 10,
                "distinct": 8,
                "candidates": 3,
                "memorised": 1,
                "rankings": {
                    "zlib": {"precision_at_k": {"10": {"k": 3, "memorised": 1, "precision": 0.33}}, "top": top},
                    "perplexity": {"precision_at_k": {"10": {"k": 3, "memorised": 1, "precision": 0.33}}, "top": top},
                },
            }
        )
    )
    at = app(monkeypatch, root, "memorisation")
    assert not at.exception and not at.error
    text = shown_text(at)
    assert "|R| = 100,000" in text and "1 memorised" in text and "precision@10: **0.33**" in text
    assert "/abs/" not in text  # model names, not machine paths
    at.radio(key="mem_split").set_value("NER salience of the secret").run()
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["strokeDash"]["field"] == "salience"
    assert list(at.dataframe[1].value["documents"]) == ["d7"]
    assert "overlap labels computed with `--corpus`" in text or "hold no corpus sentences" in text


def test_restoring_a_sentence_masks_the_answer_where_it_is_written() -> None:
    from cbqa_app.views.memorisation import _masked

    assert _masked("Laura Emerson was born in Hartmouth.", "hartmouth") == "Laura Emerson was born in <extra_id_0>."
    assert _masked("Laura Emerson was born in Hartmouth.", "Glenford") is None


def test_benchmark_rows_link_to_probe_and_a_link_back_shows_its_row(monkeypatch, app_runs_template) -> None:
    at = app(monkeypatch, app_runs_template, "benchmark")
    at.selectbox(key="bench_filter").set_value("all questions").run()
    rows = at.dataframe[1].value
    assert all(link == f"?page=probe&run=demo&q={qid}" for link, qid in zip(rows["probe"], rows["id"]))
    wanted = str(rows["id"].iloc[3])
    monkeypatch.setenv("CBQA_APP_RUNS", str(app_runs_template))
    back = AppTest.from_file(MAIN, default_timeout=120)
    back.query_params.update({"page": "benchmark", "run": "demo", "q": wanted})
    back.run()
    back.selectbox(key="bench_filter").set_value("all questions").run()
    assert list(back.dataframe[1].value["id"]) == [wanted]
    assert str(app_runs_template) not in shown_text(back)
