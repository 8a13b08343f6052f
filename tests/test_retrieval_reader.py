"""The open-book reader path: prepare reader inputs from retrieved passages, predict in the common format."""

import json
from pathlib import Path

import pytest

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats import read_predictions, read_qa
from cbqa.reader.answering import predict, reader_input_of
from cbqa.reader.inputs import ReaderInput, prepare, read_reader_input, write_reader_input

ROWS = [
    {
        "id": "1",
        "question": "What colour is item 3?",
        "answers": ["amber"],
        "passages": [
            {"id": "d3#0", "title": "Item 3", "text": "Item 3 is painted amber.", "score": 1.0},
            {"id": "d4#0", "title": "Item 4", "text": "Item 4 is painted blue.", "score": 0.5},
        ],
    },
    {
        "id": "2",
        "question": "What colour is item 4?",
        "answers": ["blue"],
        "passages": [{"id": "d4#0", "title": "Item 4", "text": "Item 4 is painted blue.", "score": 0.9}],
    },
]


def retrieved(tmp_path: Path, rows=ROWS) -> Path:
    p = tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_prepare_formats_question_and_top_passages(tmp_path: Path) -> None:
    out = tmp_path / "reader.jsonl"
    assert prepare(retrieved(tmp_path), out, ReaderInput(max_passages=1)) == 2
    qa = read_qa(out)
    assert qa[0].question == "question: What colour is item 3? context: title: Item 3 text: Item 3 is painted amber."
    assert qa[0].answers == ["amber"]
    bad = retrieved(tmp_path, [{"id": "x", "question": "q"}])
    with pytest.raises(DataError, match=":1: missing 'passages'"):
        prepare(bad, out)


def test_predict_writes_common_format(tiny_qa, tmp_path: Path) -> None:
    from cbqa.model.loading import T5Arch, build_from_config

    net, tok = build_from_config(
        str(tiny_qa["tok"]), T5Arch(d_model=32, d_ff=64, num_heads=2, d_kv=16, num_layers=1, num_decoder_layers=1)
    )
    net.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "p.jsonl"
    assert predict(str(tmp_path / "m"), retrieved(tmp_path), out, num_beams=2, device="cpu") == 2
    preds = read_predictions(out)
    assert [p.id for p in preds] == ["1", "2"] and preds[0].answers == ["amber"]
    assert preds[0].extra["passages"][0]["id"] == "d3#0"


def test_reader_run_records_its_input_format(tmp_path: Path) -> None:
    run = tmp_path / "reader"
    assert read_reader_input(run) is None and reader_input_of(str(run)) == ReaderInput()
    write_reader_input(run, ReaderInput(max_passages=1, max_input_len=160))
    assert read_reader_input(run) == ReaderInput(1, 160)
    assert read_reader_input(run / "hf") == ReaderInput(1, 160)  # the run's HF export finds its run's record
    (run / "reader_input.json").write_text('{"max_passages": "x"}')
    with pytest.raises(CbqaError, match="reader_input.json: not a reader input record"):
        read_reader_input(run)
