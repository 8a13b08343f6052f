"""`cbqa ner` and `cbqa mask` end to end on a blank English pipeline with an entity ruler."""

from __future__ import annotations

import pytest
from spacy.lang.en import English

from cbqa.cli import main as cbqa_main
from cbqa.data import Document, write_corpus


@pytest.fixture(scope="module")
def store_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "GPE", "pattern": "Paris"}, {"label": "DATE", "pattern": "1900"},
         {"label": "PERSON", "pattern": "Zoë Ångström"}, {"label": "CARDINAL", "pattern": "three"}]  # fmt: skip
    )
    nlp.to_disk(root / "model")
    docs = [Document(id=f"d{i}", text=f"Zoë Ångström saw Paris in 1900 with three friends. Day {i}.") for i in range(6)]
    write_corpus(root / "corpus.jsonl", docs)
    return root


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cbqa_main(argv)
    return exit_info.value.code


def test_ner_then_mask(store_and_model, capsys):
    root = store_and_model
    args = ["ner", "--corpus", str(root / "corpus.jsonl"), "--out", str(root / "store"),
            "--spacy-model", str(root / "model"), "--labels", "default", "CARDINAL", "--no-progress"]  # fmt: skip
    assert run(args) == 0
    out = capsys.readouterr().out
    for label in ("PERSON", "GPE", "DATE", "CARDINAL"):
        assert label in out
    assert "wrote 1 shard(s) and manifest.json to" in out

    assert run(["mask", "--spans", str(root / "store"), "--policy", "typed_ssm", "--option", "labels=DATE",
                "--preview", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("<extra_id_0> 1900") == 2 and "DATE" in out

    # Same store, another label set: refused with a one-line reason and exit 2.
    assert run([*args[:-4], "--labels", "GPE", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cbqa ner: error:") and "--overwrite" in err and err.count("\n") == 1


def test_mask_errors(store_and_model, capsys, tmp_path):
    assert run(["mask", "--spans", str(tmp_path), "--policy", "ssm"]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert run(["mask", "--spans", str(store_and_model / "store"), "--option", "budget"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_missing_pipeline_one_line(tmp_path, capsys):
    write_corpus(tmp_path / "c.jsonl", [Document(id="a", text="Paris")])
    assert run(["ner", "--corpus", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "s"),
                "--spacy-model", "no_such_model_xyz", "--no-progress"]) == 2  # fmt: skip
    assert capsys.readouterr().err == "cbqa ner: error: spaCy pipeline 'no_such_model_xyz' is not installed: pip install no-such-model-xyz\n"
