"""`cbqa evaluate` and `cbqa nn-baseline`: per-category scores against a hand count, JSON schema, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.commands import evaluate as evaluate_cmd
from cbqa.commands import nn_baseline as nn_cmd
from cbqa.commands import overlap as overlap_cmd
from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.predictions import Prediction
from cbqa.core.formats.qa import QAExample
from cbqa.overlap.categories import LABELS, labels_for
from cbqa.overlap.evaluation import evaluate_systems

GOLD = [
    QAExample("1", "q1", ["Paris"]),
    QAExample("2", "q2", ["Leo Tolstoy", "Tolstoy"]),
    QAExample("3", "q3", ["eight"]),
    QAExample("4", "q4", ["blue sky"]),
]
LABELS_BY_ID = {
    "1": labels_for(True, True),
    "2": labels_for(True, False),
    "3": labels_for(False, False),
    "4": labels_for(True, None),
}
OVERLAP = [{"id": i, "labels": labels} for i, labels in LABELS_BY_ID.items()]


def _preds(*answers: str) -> list[Prediction]:
    return [Prediction(g.id, g.question, a) for g, a in zip(GOLD, answers)]


def test_per_category_scores_match_a_hand_count() -> None:
    # right, right (alias), wrong, half right (F1 of "sky" vs "blue sky" = 2*1*0.5/1.5 = 2/3)
    result = evaluate_systems({"s": _preds("the Paris", "tolstoy", "six", "sky")}, GOLD, OVERLAP)["s"]
    assert set(result) == set(LABELS)
    squad = {"normaliser": "squad"}  # every entry says which normaliser made it
    assert result["total"] == {"em": 50.0, "f1": pytest.approx(100 * (1 + 1 + 0 + 2 / 3) / 4), "n": 4, **squad}
    assert result["question_overlap"] == {"em": 100.0, "f1": 100.0, "n": 1, **squad}  # q1
    assert result["no_question_overlap"]["n"] == 2 and result["no_question_overlap"]["em"] == 50.0  # q2, q3
    assert result["answer_overlap"]["n"] == 3 and result["answer_overlap"]["em"] == pytest.approx(200 / 3)
    assert result["no_answer_overlap"] == {"em": 0.0, "f1": 0.0, "n": 1, **squad}
    assert result["answer_overlap_only"] == {"em": 100.0, "f1": 100.0, "n": 1, **squad}
    assert result["no_overlap"] == {"em": 0.0, "f1": 0.0, "n": 1, **squad}


def test_join_errors_and_allow_missing() -> None:
    with pytest.raises(CbqaError, match="not in the gold set"):
        evaluate_systems({"s": [Prediction("99", "", "x")]}, GOLD)
    with pytest.raises(CbqaError, match="3 of 4 gold questions have no prediction"):
        evaluate_systems({"s": _preds("Paris")}, GOLD)
    partial = evaluate_systems({"s": _preds("Paris")}, GOLD, allow_missing=True)["s"]
    assert partial == {"total": {"em": 100.0, "f1": 100.0, "n": 1, "normaliser": "squad"}}
    with pytest.raises(CbqaError, match="no overlap label row"):
        evaluate_systems({"s": _preds("a", "b", "c", "d")}, GOLD, OVERLAP[:2])


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_basic_json_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = _jsonl(
        tmp_path / "sys.jsonl",
        [
            {"id": "1", "question": "q", "prediction": "Paris", "answers": ["Paris"]},
            {"id": "2", "question": "q", "prediction": "no", "answers": ["yes"]},
        ],
    )
    out = tmp_path / "s.json"
    assert evaluate_cmd.main(["--predictions", str(preds), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == {"em": 50.0, "f1": 50.0, "n": 2, "normaliser": "squad"}
    assert "sys: EM 50.00  F1 50.00  n 2  (squad normaliser)" in capsys.readouterr().out


def test_cli_normaliser_choice_changes_the_score_and_is_recorded(tmp_path: Path) -> None:
    preds = _jsonl(
        tmp_path / "tqa.jsonl",
        [
            {"id": "1", "question": "q", "prediction": "Mary Kate and Ashley", "answers": ["Mary-Kate and Ashley"]},
            {"id": "2", "question": "q", "prediction": "hero", "answers": ["‘Hero’"]},
        ],
    )
    for name, em in (("squad", 0.0), ("triviaqa", 100.0)):
        out = tmp_path / f"{name}.json"
        assert evaluate_cmd.main(["--predictions", str(preds), "--normaliser", name, "--json", str(out)]) == 0
        assert json.loads(out.read_text()) == {
            "em": em,
            "f1": json.loads(out.read_text())["f1"],
            "n": 2,
            "normaliser": name,
        }


def test_cli_systems_with_overlap_writes_json_markdown_plot(tmp_path: Path) -> None:
    gold = _jsonl(tmp_path / "gold.jsonl", [g.to_json() for g in GOLD])
    a = _jsonl(tmp_path / "a.jsonl", [p.to_json() for p in _preds("Paris", "x", "eight", "blue sky")])
    b = _jsonl(tmp_path / "b.jsonl", [p.to_json() for p in _preds("x", "x", "x", "x")])
    ov = _jsonl(tmp_path / "ov.jsonl", OVERLAP)
    out_json, md, png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png"
    evaluate_cmd.main(
        [
            "--predictions",
            str(a),
            f"zero={b}",
            "--gold",
            str(gold),
            "--overlap",
            str(ov),
            "--json",
            str(out_json),
            "--markdown",
            str(md),
            "--plot",
            str(png),
        ]
    )
    result = json.loads(out_json.read_text())
    assert list(result) == ["a", "zero"]
    for per in result.values():
        assert list(per) == list(LABELS)
        assert all(set(v) == {"em", "f1", "n", "normaliser"} for v in per.values())
    assert result["zero"]["total"]["em"] == 0.0 and result["a"]["total"]["em"] == 75.0
    assert md.read_text().startswith("| system | total (n=4) | question_overlap (n=1) |")
    assert "| zero | 0.00 / 0.00 |" in md.read_text()
    assert "after the squad normaliser" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_malformed_inputs_name_file_and_line(tmp_path: Path) -> None:
    no_answers = _jsonl(
        tmp_path / "p.jsonl", [{"id": "1", "prediction": "a", "answers": ["a"]}, {"id": "2", "prediction": "b"}]
    )
    with pytest.raises(DataError, match=r"p\.jsonl:2: no 'answers'"):
        evaluate_cmd.main(["--predictions", str(no_answers)])
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"id": "1", "prediction": "a", "answers": ["a"]}\n{"id": 2,\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: invalid JSON"):
        evaluate_cmd.main(["--predictions", str(broken)])
    good = _jsonl(tmp_path / "g.jsonl", [{"id": "1", "prediction": "a", "answers": ["a"]}])
    labels = _jsonl(tmp_path / "ov.jsonl", [{"id": "1"}])
    with pytest.raises(DataError, match=r"ov\.jsonl:1: missing 'labels'"):
        evaluate_cmd.main(["--predictions", str(good), "--overlap", str(labels)])
    bad_train = _jsonl(tmp_path / "train.jsonl", [{"question": "q", "answers": ["a"]}, {"question": "q2"}])
    with pytest.raises(DataError, match=r"train\.jsonl:2: missing 'answers'"):
        overlap_cmd.main(["--train", str(bad_train), "--test", str(bad_train), "--out", str(tmp_path / "o.jsonl")])
    assert not (tmp_path / "o.jsonl").exists()


def test_nn_baseline_and_overlap_cli_on_a_tiny_set(tmp_path: Path) -> None:
    train = _jsonl(
        tmp_path / "train.jsonl",
        [
            {"id": "t1", "question": "who wrote war and peace", "answers": ["Leo Tolstoy"]},
            {"id": "t2", "question": "what is the capital of france", "answers": ["Paris"]},
        ],
    )
    test = _jsonl(
        tmp_path / "test.jsonl",
        [
            {"id": "a", "question": "who was the author of war and peace", "answers": ["Tolstoy", "Leo Tolstoy"]},
            {"id": "b", "question": "what city is the capital of france", "answers": ["Paris"]},
            {"id": "c", "question": "how many legs has a spider", "answers": ["eight"]},
        ],
    )
    preds = tmp_path / "nn.jsonl"
    nn_cmd.main(["--train", str(train), "--test", str(test), "--out", str(preds)])
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["prediction"] for r in rows[:2]] == ["Leo Tolstoy", "Paris"]
    assert rows[0]["neighbour_id"] == "t1" and rows[0]["answers"] == ["Tolstoy", "Leo Tolstoy"]
    ov = tmp_path / "ov.jsonl"
    overlap_cmd.main(["--train", str(train), "--test", str(test), "--threshold", "0.3", "--out", str(ov)])
    labels = {r["id"]: r["category"] for r in map(json.loads, ov.read_text().splitlines())}
    assert labels == {"a": "question_overlap", "b": "question_overlap", "c": "no_overlap"}
    result = evaluate_systems(
        {"nn": [Prediction(r["id"], r["question"], r["prediction"], r["answers"]) for r in rows]},
        None,
        [json.loads(x) for x in ov.read_text().splitlines()],
    )
    assert result["nn"]["question_overlap"]["em"] == 100.0 and result["nn"]["no_overlap"]["em"] == 0.0
