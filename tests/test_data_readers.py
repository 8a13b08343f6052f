import json
import subprocess
import sys
from pathlib import Path

import pytest

from cbqa.core.errors import DataError
from cbqa.core.formats import (
    Document,
    Prediction,
    QAExample,
    read_corpus,
    read_predictions,
    read_qa,
    write_predictions,
    write_qa,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_qa_our_format_and_nq_open(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "qa.jsonl",
        '{"id": "a", "question": "Who?", "answers": ["X", "Y"], "split": "train", "relation": "r"}\n'
        "\n"
        '{"question": "When?", "answer": ["1999"]}\n',
    )
    qa = read_qa(p)
    assert qa[0] == QAExample("a", "Who?", ["X", "Y"], "train", {"relation": "r"})
    assert qa[1].id == "1" and qa[1].answers == ["1999"] and qa[1].split is None
    assert [e.id for e in read_qa(p, split="train")] == ["a"]
    with pytest.raises(DataError, match="no examples with split='test'"):
        read_qa(p, split="test")


def test_qa_round_trip(tmp_path: Path) -> None:
    ex = [QAExample("1", "Q ü?", ["A"], "dev", {"k": 1})]
    write_qa(tmp_path / "o.jsonl", ex)
    assert read_qa(tmp_path / "o.jsonl") == ex


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"question": "Q", "answers": ["A"]', "invalid JSON"),
        ('["Q", "A"]', "expected a JSON object"),
        ('{"answers": ["A"]}', "missing 'question'"),
        ('{"question": "", "answers": ["A"]}', "'question' is empty"),
        ('{"question": 3, "answers": ["A"]}', "'question' must be a string"),
        ('{"question": "Q", "answers": []}', "empty list"),
        ('{"question": "Q", "answers": "A"}', "must be a list"),
        ('{"question": "Q", "answers": [1]}', "must hold strings"),
        ('{"question": "Q", "answers": [" "]}', "empty answer"),
        ('{"question": "Q"}', "missing 'answers'"),
        ('{"question": "Q", "answers": ["A"], "split": 1}', "'split' must be a string"),
    ],
)
def test_qa_malformed_names_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    p = write(tmp_path, "bad.jsonl", '{"question": "ok", "answers": ["fine"]}\n' + line + "\n")
    with pytest.raises(DataError) as e:
        read_qa(p)
    assert str(e.value).startswith(f"{p}:2: ")
    assert reason in str(e.value)


def test_non_utf8_and_duplicates(tmp_path: Path) -> None:
    p = write(
        tmp_path, "latin.jsonl", b'{"question": "ok", "answers": ["a"]}\n{"question": "caf\xe9", "answers": ["a"]}\n'
    )
    with pytest.raises(DataError, match=r":2: not valid UTF-8"):
        read_qa(p)
    p = write(
        tmp_path,
        "dup.jsonl",
        '{"id": "x", "question": "a", "answers": ["a"]}\n{"id": "x", "question": "b", "answers": ["b"]}\n',
    )
    with pytest.raises(DataError, match=r":2: duplicate id 'x' \(first on line 1\)"):
        read_qa(p)
    with pytest.raises(DataError, match="no such file"):
        read_qa(tmp_path / "missing.jsonl")


def test_dpr_tsv_triviaqa_and_webquestions_originals(tmp_path: Path) -> None:
    tsv = write(tmp_path, "t.qa.csv", "who is it\t['Röntgen', \"O'Neil\"]\nwhat\t\"['a, b']\"\n")
    qa = read_qa(tsv)
    assert qa[0].answers == ["Röntgen", "O'Neil"] and qa[0].id == "0" and qa[1].answers == ["a, b"]
    bad = write(tmp_path, "b.csv", "q\t__import__('os')\n")
    with pytest.raises(DataError, match=":1: answers column is not a list literal"):
        read_qa(bad)
    tqa = {
        "Data": [{"Question": "Q1?", "QuestionId": "tc_1", "Answer": {"Value": "Paris", "Aliases": ["Paris", "Paree"]}}]
    }
    qa = read_qa(write(tmp_path, "tqa.json", json.dumps(tqa)))
    assert qa == [QAExample("tc_1", "Q1?", ["Paris", "Paree"])]
    wq = [
        {"url": "u", "targetValue": '(list (description "Jazmine Grayson") (description Mexico))', "utterance": "who?"}
    ]
    qa = read_qa(write(tmp_path, "wq.json", json.dumps(wq)))
    assert qa[0].answers == ["Jazmine Grayson", "Mexico"]
    with pytest.raises(DataError, match="unrecognised JSON"):
        read_qa(write(tmp_path, "x.json", "{}"))


def test_entityquestions_brmson_webquestions_efficientqa_and_triviaqa_without_answers(tmp_path: Path) -> None:
    # EntityQuestions (Sciavolino et al. 2021): one JSON list per relation and split, e.g. test/P17.test.json
    eq = [
        {"question": "Which country is Lyon located in?", "answers": ["France"]},
        {"question": "Q2?", "answers": ["A", "B"]},
    ]
    qa = read_qa(write(tmp_path, "P17.test.json", json.dumps(eq)))
    assert [(e.id, e.answers) for e in qa] == [("0", ["France"]), ("1", ["A", "B"])]
    with pytest.raises(DataError, match=r"P17\.bad\.json: \[1\]: 'answers' must be a list of strings"):
        read_qa(write(tmp_path, "P17.bad.json", json.dumps([eq[0], {"question": "Q", "answers": "A"}])))
    # brmson's re-packaging of WebQuestions: qId / qText / answers
    brmson = [{"qId": "wqr000001", "answers": ["Padmé Amidala"], "qText": "what character did natalie portman play?"}]
    assert read_qa(write(tmp_path, "val.json", json.dumps(brmson))) == [
        QAExample("wqr000001", "what character did natalie portman play?", ["Padmé Amidala"])
    ]
    # EfficientQA: NQ-open JSONL with its annotation fields kept as extras
    eff = {
        "question": "how many 5 star generals are there in the us",
        "answer": ["Nine"],
        "def_correct_predictions": [],
    }
    (ex,) = read_qa(write(tmp_path, "NQ-open.efficientqa.test.1.1.jsonl", json.dumps(eff) + "\n"))
    assert ex.answers == ["Nine"] and ex.extra == {"def_correct_predictions": []}
    # TriviaQA's test without answers reads only for prediction
    hidden = write(
        tmp_path,
        "unfiltered-web-test-without-answers.json",
        json.dumps({"Data": [{"Question": "Q?", "QuestionId": "t1"}]}),
    )
    with pytest.raises(DataError, match=r"Data\[0\]: expected an object with 'Question' and 'Answer'"):
        read_qa(hidden)
    assert read_qa(hidden, require_answers=False) == [QAExample("t1", "Q?", [])]


def test_corpus_formats_and_errors(tmp_path: Path) -> None:
    p = write(tmp_path, "c.jsonl", '{"id": "d1", "title": "T", "text": "Body."}\n{"id": 2, "text": "Two."}\n')
    assert read_corpus(p) == [Document("d1", "Body.", "T"), Document("2", "Two.", "")]
    t = write(tmp_path, "c.txt", "first doc\n\nsecond doc\n")
    assert [d.text for d in read_corpus(t)] == ["first doc", "second doc"]
    with pytest.raises(DataError, match=r"c2.jsonl:1: missing 'text'"):
        read_corpus(write(tmp_path, "c2.jsonl", '{"id": "x"}\n'))
    with pytest.raises(DataError, match=r":1: 'text' must be a string"):
        read_corpus(write(tmp_path, "c3.jsonl", '{"id": "x", "text": 5}\n'))


def test_predictions(tmp_path: Path) -> None:
    preds = [Prediction("1", "Q", "", ["a"], {"candidates": []}), Prediction("2", "Q2", "b")]
    write_predictions(tmp_path / "p.jsonl", preds)
    assert read_predictions(tmp_path / "p.jsonl") == preds
    with pytest.raises(DataError, match=r":1: missing 'prediction'"):
        read_predictions(write(tmp_path, "bad.jsonl", '{"id": "1"}\n'))


def test_write_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")

    def rows():
        yield Prediction("1", "q", "a").to_json()
        raise RuntimeError("boom")

    from cbqa.core.formats.jsonl import write_jsonl

    with pytest.raises(RuntimeError):
        write_jsonl(target, rows())
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not present")
@pytest.mark.parametrize(
    "rel, n",
    [
        ("squad_v1.1_dev/qa.jsonl", 10570),
        ("squad_v1.1_dev/demo/qa.jsonl", 1433),
        ("webquestions/train.jsonl", 3778),
        ("webquestions/test.jsonl", 2032),
        ("nq_open/NQ-open.dev.jsonl", 3610),
        ("qa_overlap/nq-test.qa.csv", 3610),
    ],
)
def test_every_shared_qa_file_reads(rel: str, n: int) -> None:
    assert len(read_qa(SHARED / rel)) == n


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not present")
def test_shared_corpora_read() -> None:
    assert len(read_corpus(SHARED / "squad_v1.1_dev/passages.jsonl")) == 2067
    assert len(read_corpus(SHARED / "squad_v1.1_dev/demo/passages.jsonl")) == 191
    assert {e.split for e in read_qa(SHARED / "squad_v1.1_dev/qa.jsonl")} == {"train", "dev", "test"}


def test_cli_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.jsonl", '{"question": "Q", "answers": []}\n')
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cbqa",
            "predict",
            "--model",
            "x",
            "--questions",
            str(bad),
            "--out",
            str(tmp_path / "p.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"cbqa predict: error: {bad}:1: 'answers' is an empty list"
    assert not (tmp_path / "p.jsonl").exists()


def test_questions_without_answers_for_prediction(tmp_path: Path) -> None:
    p = write(
        tmp_path, "q.jsonl", '{"id": "1", "question": "Who?"}\n{"id": "2", "question": "When?", "answers": ["now"]}\n'
    )
    with pytest.raises(DataError, match="missing 'answers'"):
        read_qa(p)
    qa = read_qa(p, require_answers=False)
    assert [q.answers for q in qa] == [[], ["now"]]
