"""Extraction: the shingle index (exactly one document), the memorised rule (>= 8 words holding a salient span), the
rankings' precision@k, and `cbqa extract` end to end on a tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cbqa.memorisation.extraction import Sample, memorised_matches, precision_at, zlib_bits
from cbqa.memorisation.shingles import SEVERAL, ShingleIndex, shingle_hashes
from ner_masking.store import SpanDoc

DOCS = [
    "Laura Emerson was born in Ashford in 1901 and she later moved to the coast by the sea.",
    "The town of Barley is known for its mill and its old stone bridge over the river.",
    "The town of Barley is known for its mill and its long history of weaving.",
]
SPANS = [[(0, 13, "PERSON"), (26, 33, "GPE"), (37, 41, "DATE")], [(12, 18, "GPE")], [(12, 18, "GPE")]]


def store_doc(row: int) -> SpanDoc:
    return SpanDoc(f"d{row}", DOCS[row], [(0, len(DOCS[row]))], SPANS[row])


def test_index_and_memorised_rule() -> None:
    index = ShingleIndex.build(DOCS, chunk=5)  # several merges
    shared = shingle_hashes("the town of barley is known for its".split())
    assert index.lookup(shared).tolist() == [SEVERAL]
    assert index.lookup(shingle_hashes("was born in ashford in 1901 and she".split())).tolist() == [0]
    assert index.lookup(shingle_hashes("nothing of this is in any document at all".split())).tolist() == [-2, -2]

    hit = memorised_matches("so Laura Emerson was born in Ashford in 1901, truly", index, store_doc)
    assert hit == [
        {
            "doc_id": "d0",
            "row": 0,
            "text": "Laura Emerson was born in Ashford in 1901",
            "labels": ["DATE", "GPE", "PERSON"],
        }
    ]
    assert memorised_matches("later moved to the coast.", index, store_doc) == []  # fewer than 8 words
    assert memorised_matches("and she later moved to the coast by the sea", index, store_doc) == []  # no salient span
    # in two documents: not unique, so not memorised, although it holds a salient span (Barley)
    assert memorised_matches("The town of Barley is known for its mill", index, store_doc) == []
    # unique to d1 once it runs into "old stone", and the stretch that occurs there (all 12 words) holds Barley
    hit = memorised_matches("town of Barley is known for its mill and its old stone", index, store_doc)
    assert [(h["doc_id"], h["text"], h["labels"]) for h in hit] == [
        ("d1", "town of Barley is known for its mill and its old stone", ["GPE"])
    ]


def test_precision_at_k_by_both_rankings() -> None:
    def s(text: str, log_ppl: float, mem: bool) -> Sample:
        return Sample("p", text, text, log_ppl, zlib_bits(text), mem)

    repetitive = "a a a a a a a a a a a a a a a a"
    samples = [
        s(repetitive, 0.1, False),
        s("Laura Emerson was born in Ashford in 1901 and moved", 0.3, True),
        s("some other random words that nobody wrote down anywhere", 2.0, False),
    ]
    by_ppl = precision_at(samples, "perplexity", [1, 3])
    by_zlib = precision_at(samples, "zlib", [1, 3])
    assert by_ppl["precision_at_k"]["1"]["precision"] == 0.0 and by_zlib["precision_at_k"]["1"]["precision"] == 1.0
    assert by_ppl["precision_at_k"]["3"] == {"k": 3, "memorised": 1, "precision": pytest.approx(1 / 3, abs=1e-4)}
    assert zlib_bits(repetitive) < zlib_bits(samples[2].text) and math.isfinite(samples[0].zlib_ratio)


@pytest.mark.slow
def test_extract_command(tmp_path: Path, tiny_qa) -> None:
    from spacy.lang.en import English

    from cbqa.cli import main
    from cbqa.model.loading import T5Arch, build_from_config
    from ner_masking.annotate import AnnotateConfig, annotate_corpus

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "NORP", "pattern": c} for c in ("red", "blue", "green")])
    nlp.to_disk(tmp_path / "ruler")
    annotate_corpus(
        tiny_qa["corpus"], tmp_path / "spans", AnnotateConfig(spacy_model=str(tmp_path / "ruler"), progress=False)
    )
    net, tok = build_from_config(
        str(tiny_qa["tok"]), T5Arch(d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8)
    )
    net.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "x.json"
    with pytest.raises(SystemExit) as e:
        main(
            [
                "extract",
                "--model",
                str(tmp_path / "m"),
                "--corpus",
                str(tiny_qa["corpus"]),
                "--spans",
                str(tmp_path / "spans"),
                "--samples",
                "12",
                "--top-k",
                "2",
                "5",
                "--max-new-tokens",
                "16",
                "--json",
                str(out),
            ]
        )
    assert e.value.code == 0
    r = json.loads(out.read_text())
    assert r["samples"] == 12 and r["candidates"] <= r["distinct"] <= 12
    assert set(r["rankings"]) == {"perplexity", "zlib"} and set(r["rankings"]["zlib"]["precision_at_k"]) == {"2", "5"}
    assert r["index"]["shingles"] > 0
    for top in r["rankings"]["perplexity"]["top"]:
        assert len(top["text"].split()) >= 8 and math.isfinite(top["log_ppl"])
