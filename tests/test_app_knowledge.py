"""The app's Knowledge page (streamlit.testing AppTest): the run's cloze results drawn per relation and model, every
fact with each model's top candidates, a typed cloze ranked over its relation's objects (or generated when it matches
no template) by every model side by side, and the probe run here for a run that has no stored results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def app(monkeypatch, root: Path, page: str = "knowledge") -> AppTest:
    monkeypatch.setenv("CBQA_APP_RUNS", str(root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def chart_data(at: AppTest):
    """The data of the page's first Altair chart (Streamlit sends it as an Arrow dataset)."""
    import pyarrow as pa

    chart = at.get("vega_lite_chart")[0]
    assert json.loads(chart.proto.spec)["encoding"]["xOffset"]["field"] == "model"
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()


def typed_table(at: AppTest):
    return next(d.value for d in at.dataframe if "rank" in d.value.columns and "subject" not in d.value.columns)


def captions(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.caption]


def test_knowledge_page_reads_the_runs_cloze_results_and_answers_a_typed_cloze(monkeypatch, app_runs_template):
    at = app(monkeypatch, app_runs_template)
    assert not at.exception and not at.error, [e.value for e in at.error]
    results = json.loads((app_runs_template / "demo" / "cloze" / "cloze.json").read_text())
    chart = chart_data(at)
    assert set(zip(chart["model"], chart["relation"])) == {
        (m, r) for m in results["models"] for r in [*results["relations"], "all"]
    }
    overall = chart[chart["relation"] == "all"].set_index("model")["value"]
    assert all(overall[m] == results["models"][m]["overall"]["p@1"] for m in results["models"])
    facts = next(d.value for d in at.dataframe if "subject" in d.value.columns)
    assert len(facts) == results["facts"] and {"models/none rank", "models/ssm top"} <= set(facts.columns)
    assert any("Ask questions in Probe" in c and "page=probe" in c for c in captions(at))

    # the default cloze is the first fact's template: each model ranks the relation's objects
    first = json.loads((app_runs_template / "demo" / "cloze" / "facts.jsonl").read_text().splitlines()[0])
    assert at.text_input(key="knowledge_cloze").value.startswith(first["subject"])
    assert any(c.startswith(f"Matches relation **{first['relation']}**") for c in captions(at))
    typed = typed_table(at)
    assert list(typed.columns) == ["rank", "models/none", "models/ssm"]  # both models, side by side
    answers = results["relations"][first["relation"]]["answers"]
    assert len(typed) == min(5, len(answers))
    assert all(cell.rsplit(" (", 1)[0] in answers for m in ("models/none", "models/ssm") for cell in typed[m])
    assert any("answered in: models/none" in c for c in captions(at))

    # a cloze no template matches: the models write the span
    at.text_input(key="knowledge_cloze").set_value("The painter of the moon was ___ .").run()
    assert not at.exception
    assert any(c.startswith("Matches no relation's template") for c in captions(at))
    assert any("beam score" in c for c in captions(at)) and len(typed_table(at)) == 5
    at.text_input(key="knowledge_cloze").set_value("no blank here").run()
    assert any("exactly one blank" in str(w.value) for w in at.warning)

    # the held-out subjects and the length-normalised ranking redraw the chart
    at.radio(key="knowledge_split").set_value("held_out").run()
    at.toggle(key="knowledge_normalised").set_value(True).run()
    assert not at.exception and not at.error
    overall = chart_data(at).query("relation == 'all'").set_index("model")["value"]
    held_out = {m: v["splits"]["held_out"]["length_normalised"]["p@1"] for m, v in results["models"].items()}
    assert overall.to_dict() == held_out


def test_knowledge_page_runs_the_probe_for_a_run_without_results(monkeypatch, tmp_path, app_runs_template):
    root = tmp_path / "runs"
    shutil.copytree(app_runs_template, root, symlinks=True)
    stored = root / "demo" / "cloze"
    shutil.rmtree(stored.resolve())
    stored.unlink()
    at = app(monkeypatch, root)
    assert not at.exception
    assert any("no stored cloze results" in str(i.value) for i in at.info)
    assert not at.get("vega_lite_chart")
    at.button(key="knowledge_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("computed here" in c for c in captions(at)) and at.get("vega_lite_chart")
    # the probe page links here
    probe = app(monkeypatch, root, "probe")
    assert any("page=knowledge" in c for c in captions(probe))


def test_a_model_gone_from_the_run_is_left_out(monkeypatch, tmp_path, app_runs_template):
    root = tmp_path / "runs"
    shutil.copytree(app_runs_template, root, symlinks=True)
    shutil.rmtree(root / "demo" / "models" / "ssm")
    at = app(monkeypatch, root)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(typed_table(at).columns) == ["rank", "models/none"]  # the stored results still chart both
    assert set(chart_data(at)["model"]) == {"models/none", "models/ssm"}
