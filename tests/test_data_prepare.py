"""`cbqa data prepare`: the paper's splits of the real WebQuestions file, the Hugging Face path on local `datasets`
fixtures in the hub's schema, the original-file readers of every dataset, and bad input as one line with nothing
written. Tests on ../shared/data skip when it is absent."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cbqa.benchmarks.prepare import prepare, read_prepared
from cbqa.benchmarks.protocols import DATASETS, Part
from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.qa import read_qa

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WEBQ = DATA / "webquestions"


def small(name: str, at: int | None = None) -> object:
    """The dataset's spec without its size checks and, with `at`, its train split cut at row `at`."""
    spec = DATASETS[name]
    protocols = spec.protocols
    if at is not None:
        protocols = {
            **protocols,
            "heldout": {
                **protocols["heldout"],
                "train": (Part("train", None, at),),
                "validation": (Part("train", at),),
            },
        }
    return replace(spec, sizes={}, protocols=protocols)


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.skipif(not WEBQ.is_dir(), reason="../shared/data/webquestions absent (developer data only)")
def test_webquestions_heldout_and_full_protocols(tmp_path: Path, capsys) -> None:
    from cbqa.cli import main

    with pytest.raises(SystemExit) as e:
        main(["data", "prepare", "web_questions", "--source", str(WEBQ), "--out", str(tmp_path / "wq")])
    assert e.value.code == 0
    m = read_prepared(tmp_path / "wq")
    assert {k: s.rows for k, s in m.splits.items()} == {"train": 3417, "validation": 361, "test": 2032}
    original = read_qa(WEBQ / "train.jsonl")  # brmson's qId order, the original order
    validation = lines(tmp_path / "wq" / "validation.jsonl")
    assert [r["id"] for r in validation] == [e.id for e in original[-361:]]  # the last 361, in order
    assert [r["answers"] for r in validation] == [e.answers for e in original[-361:]]  # every answer kept
    assert m.splits["validation"].parts == ["train[3417:]"] and m.heldout_ids_fingerprint.startswith("sha256:")
    assert (m.prefix, m.normaliser) == ("wq question: ", "squad")
    assert "train 3,417, validation 361, test 2,032" in capsys.readouterr().out
    full = prepare(DATASETS["web_questions"], tmp_path / "full", str(WEBQ), "full")
    assert {k: s.rows for k, s in full.splits.items()} == {"train": 3778, "validation": 0, "test": 2032}
    assert full.heldout_ids_fingerprint is None
    assert (tmp_path / "full" / "validation.jsonl").read_text() == ""


def _hub_fixture(tmp_path: Path, monkeypatch, splits: dict[str, list[dict]]) -> None:
    """A local DatasetDict with the hub dataset's column names, saved to disk; load_dataset reads it."""
    import datasets

    dd = datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()})
    dd.save_to_disk(str(tmp_path / "hub"))
    calls = []

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name))
        return datasets.load_from_disk(str(tmp_path / "hub"))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_source_web_questions_in_the_hubs_schema(tmp_path: Path, monkeypatch) -> None:
    row = lambda i, split: {
        "url": f"http://www.freebase.com/view/en/x{i}",
        "question": f"{split} q{i}?",
        "answers": [f"a{i}", "b"],
    }
    calls = _hub_fixture(
        tmp_path,
        monkeypatch,
        {"train": [row(i, "train") for i in range(3778)], "test": [row(i, "test") for i in range(2032)]},
    )
    m = prepare(DATASETS["web_questions"], tmp_path / "wq", "hf")
    assert calls == [("stanfordnlp/web_questions", None)]
    assert {k: s.rows for k, s in m.splits.items()} == {"train": 3417, "validation": 361, "test": 2032}
    val = lines(tmp_path / "wq" / "validation.jsonl")
    assert val[0] == {"id": "train-3417", "question": "train q3417?", "answers": ["a3417", "b"]}
    assert m.source == "hf" and m.sources[0].hub == "stanfordnlp/web_questions:train" and m.sources[0].fingerprint


def test_unreachable_hub_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError(
            "Couldn't reach 'stanfordnlp/web_questions' on the Hub (LocalEntryNotFoundError)\ndetails"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(CbqaError) as e:
        prepare(DATASETS["web_questions"], tmp_path / "wq", "hf")
    assert str(e.value) == (
        "cannot load stanfordnlp/web_questions from the Hugging Face hub (Couldn't reach 'stanfordnlp/web_questions' "
        "on the Hub (LocalEntryNotFoundError)); pass --source DIR with the original files"
    )
    assert not (tmp_path / "wq").exists()


def test_hub_source_trivia_qa_aliases_hidden_test_and_wrong_sizes(tmp_path: Path, monkeypatch) -> None:
    def row(i: int, split: str, hidden: bool = False) -> dict:
        answer = {"aliases": [] if hidden else [f"A{i}", f"Alias {i}"], "value": "<unk>" if hidden else f"A{i}"}
        answer |= {
            "normalized_aliases": [],
            "matched_wiki_entity_name": "",
            "normalized_value": "",
            "type": "",
            "normalized_matched_wiki_entity_name": "",
        }
        return {"question": f"{split} {i}?", "question_id": f"{split}_{i}", "question_source": "", "answer": answer}

    _hub_fixture(
        tmp_path,
        monkeypatch,
        {
            "train": [row(i, "train") for i in range(6)],
            "validation": [row(i, "dev") for i in range(3)],
            "test": [row(i, "test", hidden=True) for i in range(2)],
        },
    )
    spec = small("trivia_qa", at=4)
    m = prepare(spec, tmp_path / "tqa", "hf")
    assert {k: s.rows for k, s in m.splits.items()} == {"train": 4, "validation": 2, "test": 3}
    assert lines(tmp_path / "tqa" / "train.jsonl")[0]["answers"] == ["A0", "Alias 0"]  # value (the target) first
    assert (m.normaliser, m.prefix, m.target) == ("triviaqa", "trivia_qa question: ", "answer.value")
    full = prepare(spec, tmp_path / "full", "hf", "full")
    assert {k: s.rows for k, s in full.splits.items()} == {"train": 9, "validation": 0, "test": 2}
    assert not full.splits["test"].answers and "answers" not in lines(tmp_path / "full" / "test.jsonl")[0]
    with pytest.raises(
        DataError, match=r"mandarjoshi/trivia_qa/unfiltered.nocontext:train: 6 questions, expected 87,622 in the train"
    ):
        prepare(DATASETS["trivia_qa"], tmp_path / "sized", "hf")
    assert not (tmp_path / "sized").exists()


def test_original_files_of_every_dataset(tmp_path: Path) -> None:
    # NQ-open JSONL (no ids: SPLIT-ROW), and DPR's csv as the test file
    nq = tmp_path / "nq"
    jsonl(nq / "NQ-open.train.jsonl", [{"question": f"q{i}", "answer": [f"a{i}", "x"]} for i in range(5)])
    (nq / "nq-test.qa.csv").write_text("who got the first nobel prize in physics\t['Wilhelm Conrad Röntgen']\n")
    m = prepare(small("natural_questions_open", at=3), tmp_path / "o_nq", str(nq))
    assert [r["id"] for r in lines(tmp_path / "o_nq" / "validation.jsonl")] == ["train-3", "train-4"]
    assert lines(tmp_path / "o_nq" / "test.jsonl")[0]["answers"] == ["Wilhelm Conrad Röntgen"]
    assert m.prefix == "nq question: " and m.sources[1].path.endswith("nq-test.qa.csv")
    # WebQuestions, Berant et al.'s JSON
    wq = tmp_path / "wq"
    wq.mkdir()
    item = lambda i: {"url": "u", "targetValue": f'(list (description "A {i}") (description B))', "utterance": f"q{i}?"}
    (wq / "webquestions.examples.train.json").write_text(json.dumps([item(i) for i in range(4)]))
    (wq / "webquestions.examples.test.json").write_text(json.dumps([item(9)]))
    m = prepare(small("web_questions", at=3), tmp_path / "o_wq", str(wq))
    assert lines(tmp_path / "o_wq" / "validation.jsonl") == [
        {"id": "train-3", "question": "q3?", "answers": ["A 3", "B"]}
    ]
    # TriviaQA's unfiltered JSON, with its test set without answers
    tq = tmp_path / "tq" / "triviaqa-unfiltered"
    tq.mkdir(parents=True)
    qa = lambda i, s: {
        "Question": f"{s}{i}?",
        "QuestionId": f"{s}_{i}",
        "Answer": {"Value": f"V{i}", "Aliases": [f"V{i}", f"W{i}"]},
    }
    (tq / "unfiltered-web-train.json").write_text(json.dumps({"Data": [qa(i, "tr") for i in range(4)]}))
    (tq / "unfiltered-web-dev.json").write_text(json.dumps({"Data": [qa(i, "dv") for i in range(2)]}))
    (tq / "unfiltered-web-test-without-answers.json").write_text(
        json.dumps({"Data": [{"Question": "t?", "QuestionId": "t_0"}]})
    )
    m = prepare(small("trivia_qa", at=3), tmp_path / "o_tq", str(tmp_path / "tq"), "full")
    assert {k: s.rows for k, s in m.splits.items()} == {"train": 6, "validation": 0, "test": 1}
    assert lines(tmp_path / "o_tq" / "train.jsonl")[0] == {"id": "tr_0", "question": "tr0?", "answers": ["V0", "W0"]}
    # EntityQuestions: per relation and split; --relation keeps some, each row says its relation
    eq = tmp_path / "eq"
    for split in ("train", "dev", "test"):
        for rel in ("P17", "P19"):
            jsonl_rows = [{"question": f"{rel} {split} {i}?", "answers": [f"{rel}-{i}"]} for i in range(2)]
            (eq / split).mkdir(parents=True, exist_ok=True)
            (eq / split / f"{rel}.{split}.json").write_text(json.dumps(jsonl_rows))
    m = prepare(DATASETS["entity_questions"], tmp_path / "o_eq", str(eq))
    assert m.relations == {r: {"train": 2, "validation": 2, "test": 2} for r in ("P17", "P19")}
    test = lines(tmp_path / "o_eq" / "test.jsonl")
    assert test[0] == {"id": "P17-test-0", "question": "P17 test 0?", "answers": ["P17-0"], "relation": "P17"}
    only = prepare(DATASETS["entity_questions"], tmp_path / "o_eq19", str(eq), relations=["P19"])
    assert set(only.relations) == {"P19"} and only.splits["test"].rows == 2
    # EfficientQA: NQ-open train, EfficientQA's dev (checkpoint choice) and test, annotations kept
    ef = tmp_path / "ef"
    jsonl(ef / "NQ-open.train.jsonl", [{"question": f"q{i}", "answer": ["a"]} for i in range(3)])
    jsonl(ef / "NQ-open.efficientqa.dev.1.1.jsonl", [{"question": "d?", "answer": ["1988"]}])
    jsonl(
        ef / "NQ-open.efficientqa.test.1.1.jsonl",
        [{"question": "t?", "answer": ["Nine"], "def_correct_predictions": ["9"]}],
    )
    m = prepare(small("efficientqa"), tmp_path / "o_ef", str(ef))
    assert {k: s.rows for k, s in m.splits.items()} == {"train": 3, "validation": 1, "test": 1}
    assert lines(tmp_path / "o_ef" / "test.jsonl")[0]["def_correct_predictions"] == ["9"]


def test_bad_files_are_one_line_and_leave_the_output_as_it_was(tmp_path: Path, capsys) -> None:
    from cbqa.cli import main

    src = tmp_path / "src"
    jsonl(src / "train.jsonl", [{"question": "q", "answers": ["a"]}] * 3)
    jsonl(src / "test.jsonl", [{"question": "q", "answers": ["a"]}])
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:  # the real protocol wants WebQuestions' 3,778 training questions
        main(["data", "prepare", "web_questions", "--source", str(src), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"cbqa data: error: {src / 'train.jsonl'}: 3 questions, expected 3,778 in the train split of WebQuestions; the "
        "protocol's splits are fixed row positions, so a different file would give different splits (is this the "
        "right, complete file?)"
    )
    assert not out.exists()
    good = prepare(small("web_questions", at=2), out, str(src))
    (src / "test.jsonl").write_text('{"question": "q", "answers": ["a"]}\n{"question": "q2", "answers": []}\n')
    with pytest.raises(DataError, match=r"test\.jsonl:2: 'answers' is an empty list"):
        prepare(small("web_questions", at=2), out, str(src))
    assert read_prepared(out) == good and len(lines(out / "test.jsonl")) == 1  # the earlier output, untouched
    assert not [p for p in tmp_path.iterdir() if ".stage-" in p.name]  # no staging directory left
    with pytest.raises(CbqaError, match="no train.jsonl or webquestions.examples.train.json"):
        prepare(DATASETS["web_questions"], tmp_path / "o2", str(tmp_path / "src" / ".."))
    (tmp_path / "mine").mkdir()
    with pytest.raises(CbqaError, match="exists and is not a prepared dataset"):
        prepare(small("web_questions", at=2), tmp_path / "mine", str(src))
    with pytest.raises(CbqaError, match="no Hugging Face dataset is known"):
        prepare(DATASETS["entity_questions"], tmp_path / "o3", "hf")
