"""`cbqa ner` and `cbqa mask` end to end on a blank English pipeline with an entity ruler."""

from __future__ import annotations

import pytest
from spacy.lang.en import English

from cbqa.cli import main as cbqa_main
from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document, write_corpus


@pytest.fixture(scope="module")
def store_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "GPE", "pattern": "Paris"},
            {"label": "DATE", "pattern": "1900"},
            {"label": "PERSON", "pattern": "Zoë Ångström"},
            {"label": "CARDINAL", "pattern": "three"},
        ]
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
    args = [
        "ner",
        "--corpus",
        str(root / "corpus.jsonl"),
        "--out",
        str(root / "store"),
        "--spacy-model",
        str(root / "model"),
        "--labels",
        "default",
        "CARDINAL",
        "--no-progress",
    ]
    assert run(args) == 0
    out = capsys.readouterr().out
    for label in ("PERSON", "GPE", "DATE", "CARDINAL"):
        assert label in out
    assert "wrote 1 shard(s) and manifest.json to" in out

    assert (
        run(
            [
                "mask",
                "--spans",
                str(root / "store"),
                "--policy",
                "typed_ssm",
                "--option",
                "labels=DATE",
                "--preview",
                "2",
            ]
        )
        == 0
    )
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
    assert (
        run(
            [
                "ner",
                "--corpus",
                str(tmp_path / "c.jsonl"),
                "--out",
                str(tmp_path / "s"),
                "--spacy-model",
                "no_such_model_xyz",
                "--no-progress",
            ]
        )
        == 2
    )
    assert (
        capsys.readouterr().err
        == "cbqa ner: error: spaCy pipeline 'no_such_model_xyz' is not installed: pip install no-such-model-xyz\n"
    )


def test_fill_in_items_golden_and_score():
    from cbqa.commands.fill_in import exact_match_percent, fill_in_items
    from ner_masking.store import SpanDoc

    text = "Zoë Ångström was born in Paris in 1900. She moved to Berlin."
    doc = SpanDoc(
        "z",
        text,
        [(0, 39), (40, 60)],
        [(0, 12, "PERSON"), (25, 30, "GPE"), (34, 38, "DATE"), (53, 59, "GPE")],
        title="Zoë Ångström",
    )
    items = fill_in_items([doc], n=10, seed=0)  # the default: the demo's preset ssm_title_sentence
    assert items == fill_in_items(
        [doc], 10, 0, "ssm", {"exclude_labels": ["PERSON"], "context": "sentence", "title": True}
    )
    assert sorted(items) == sorted(
        [
            ("Zoë Ångström. Zoë Ångström was born in <extra_id_0> in 1900.", "Paris"),
            ("Zoë Ångström. Zoë Ångström was born in Paris in <extra_id_0>.", "1900"),
            ("Zoë Ångström. She moved to <extra_id_0>.", "Berlin"),
        ]
    )
    assert len(fill_in_items([doc], n=2, seed=0, policy_name="ssm")) == 2  # sampled down to n (4 candidates)
    with pytest.raises(CbqaError, match="needs an SSM policy"):
        fill_in_items([doc], 2, 0, "span_corruption")
    assert exact_match_percent(
        ["paris", "1901", "Berlin."], [("a", "Paris"), ("b", "1900"), ("c", "Berlin")]
    ) == pytest.approx(200 / 3)


def test_fill_in_command_end_to_end(store_and_model, tiny_qa, tmp_path, capsys):
    import json

    from cbqa.model.loading import T5Arch, build_from_config

    root = store_and_model
    if not (root / "store" / "manifest.json").exists():
        assert (
            run(
                [
                    "ner",
                    "--corpus",
                    str(root / "corpus.jsonl"),
                    "--out",
                    str(root / "store"),
                    "--spacy-model",
                    str(root / "model"),
                    "--no-progress",
                ]
            )
            == 0
        )
    net, tok = build_from_config(
        str(tiny_qa["tok"]), T5Arch(d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8)
    )
    net.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "fi.json"
    assert (
        run(
            [
                "fill-in",
                "--model",
                str(tmp_path / "m"),
                "--spans",
                str(root / "store"),
                "--n",
                "5",
                "--option",
                "title=false",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["n"] == {"all": 5} and result["options"]["title"] is False
    assert 0.0 <= result["results"][str(tmp_path / "m")]["all"] <= 100.0
    assert "fill-in exact match" in capsys.readouterr().out

    bad = tmp_path / "qa.jsonl"
    bad.write_text(json.dumps({"id": "q", "question": "?", "answers": ["a"]}) + "\n")
    assert run(["fill-in", "--model", str(tmp_path / "m"), "--spans", str(root / "store"), "--qa", str(bad)]) == 2
    assert f"{bad}:1: row has no 'subject'" in capsys.readouterr().err
