"""Index directories: build / save / load round trip, refusal on mismatches, atomic writes, BM25 and hybrid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document
from retrieval_baseline import BM25Config, IndexSpec, SplitConfig, build_index, load_index
from retrieval_baseline.index_dir import load_embeddings
from retrieval_baseline.passages import Passage

from helpers.retrieval import DOCS, HashEncoder


def _build(tmp_path, **kw):
    kw.setdefault("encoder", HashEncoder())
    kw.setdefault("bm25", True)
    return build_index(DOCS, tmp_path / "idx", show_progress=False, use_gpu=False, **kw)


def _entries(directory) -> list[str]:
    """Names in `directory`, apart from the live versions its symlinks point to (cbqa.core.io.replace_dir)."""
    live = {p.resolve() for p in directory.iterdir() if p.is_symlink()}
    return sorted(p.name for p in directory.iterdir() if p not in live)


def test_directory_layout_and_manifest(tmp_path) -> None:
    _build(tmp_path, save_embeddings="float16", shard_size=2)
    d = tmp_path / "idx"
    assert {p.name for p in d.iterdir()} == {"manifest.json", "index.faiss", "passages", "bm25", "embeddings"}
    m = json.loads((d / "manifest.json").read_text())
    assert m["encoder"]["name"] == "test-hash-encoder" and m["dimension"] == 64 and m["metric"] == "ip"
    assert m["index"]["type"] == "flat" and m["count"] == 5 and m["passages"]["fingerprint"].startswith("sha256:")
    assert [s["rows"] for s in m["passages"]["shards"]] == [2, 2, 1]  # 2 documents per shard, one passage each
    store = load_index(d, encoder=HashEncoder()).passages
    assert [store.id(r) for r in range(5)] == ["paris#0", "berlin#0", "tokyo#0", "nile#0", "amazon#0"]
    assert store[2].title == "Tokyo"
    assert {np.load(d / "embeddings" / f).dtype for f in m["embeddings"]["shards"]} == {np.dtype(np.float16)}
    # no work dir or staging dir left behind: only the version the `idx` symlink points to (cbqa.core.io.replace_dir)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == [d.resolve()]


@pytest.mark.parametrize(
    "spec",
    [IndexSpec("flat"), IndexSpec("ivf", nlist=2, nprobe=2), IndexSpec("hnsw", hnsw_m=8, ef_search=32)],
    ids=["flat", "ivf", "hnsw"],
)
def test_round_trip_gives_same_results(tmp_path, spec: IndexSpec) -> None:
    built = _build(tmp_path, spec=spec)
    questions = ["Brandenburg Gate, Germany", "longest rivers, Africa"]
    before = built.search(questions, k=3)
    loaded = load_index(tmp_path / "idx", encoder=HashEncoder())
    after = loaded.search(questions, k=3)
    assert before == after
    assert after[0][0].id == "berlin#0" and after[1][0].id == "nile#0"
    assert after[0][0].title == "Berlin" and "Brandenburg" in after[0][0].text
    assert loaded.manifest["index"]["params"] == spec.params()


def test_mismatched_encoder_is_refused(tmp_path) -> None:
    _build(tmp_path)
    with pytest.raises(CbqaError, match="was built with encoder 'test-hash-encoder'"):
        load_index(tmp_path / "idx", encoder=HashEncoder(name="another-encoder"))
    with pytest.raises(CbqaError, match="holds 64-d vectors"):
        load_index(tmp_path / "idx", encoder=HashEncoder(dim=32))


def test_mismatched_corpus_is_refused(tmp_path) -> None:
    _build(tmp_path)
    load_index(tmp_path / "idx", encoder=HashEncoder(), corpus=DOCS)  # same corpus: fine
    edited = [*DOCS[:-1], Document("amazon", "The Amazon is a river.", "Amazon")]
    with pytest.raises(CbqaError, match="built from a different corpus"):
        load_index(tmp_path / "idx", encoder=HashEncoder(), corpus=edited)


def test_tampered_directory_is_refused_by_verify_and_missing_files_at_load(tmp_path) -> None:
    from retrieval_baseline.index_dir import verify_index
    from retrieval_baseline.passage_store import write_passage_shard

    _build(tmp_path, shard_size=2)
    d = tmp_path / "idx"
    assert verify_index(d)["passages"] == 5
    shard = d / "passages" / "shard-00001.arrow"
    edited = [Passage("tokyo#0", "Tokyo", "Kyoto is the capital of Japan."), Passage("nile#0", "Nile", "The Nile.")]
    shard.unlink()  # the published files are hard to edit in place on purpose: replace one
    write_passage_shard(shard, edited)
    load_index(d, encoder=HashEncoder())  # loading reads no passage: it cannot tell
    with pytest.raises(CbqaError, match="do not match the manifest's passages fingerprint"):
        load_index(d, encoder=HashEncoder(), verify=True)
    write_passage_shard(shard, edited[:1])
    with pytest.raises(CbqaError, match="shard-00001.arrow: holds 1 passages, the manifest says 2"):
        verify_index(d)
    shard.unlink()
    with pytest.raises(CbqaError, match="passage shards missing: shard-00001.arrow"):
        load_index(d, encoder=HashEncoder())
    with pytest.raises(CbqaError, match="not an index directory"):
        load_index(tmp_path, encoder=HashEncoder())


def test_existing_output_needs_overwrite_and_failed_build_leaves_old_index(tmp_path) -> None:
    _build(tmp_path)
    with pytest.raises(CbqaError, match="already exists"):
        _build(tmp_path)
    with pytest.raises(CbqaError, match="needs at least 50 vectors"):
        _build(tmp_path, spec=IndexSpec("ivf", nlist=50), overwrite=True)
    assert load_index(tmp_path / "idx", encoder=HashEncoder()).manifest["index"]["type"] == "flat"
    _build(tmp_path, spec=IndexSpec("hnsw"), overwrite=True)
    assert load_index(tmp_path / "idx", encoder=HashEncoder()).manifest["index"]["type"] == "hnsw"
    # the index and the version it replaced (kept until the next build for readers that opened it: cbqa.core.io)
    assert _entries(tmp_path) == [".idx.prev", "idx"]


def test_bm25_and_hybrid(tmp_path) -> None:
    _build(tmp_path, bm25=BM25Config())
    index = load_index(tmp_path / "idx", encoder=HashEncoder())
    bm25 = index.search(["Brandenburg Gate", "zzzz unknown"], k=3, retriever="bm25")
    assert bm25[0][0].id == "berlin#0" and bm25[0][0].score > 0
    assert bm25[1] == []  # no shared term: nothing, rather than arbitrary zero-score passages
    hybrid = index.search(["Olympics 1964 capital"], k=5, retriever="hybrid")
    assert hybrid[0][0].id == "tokyo#0"
    assert hybrid[0][0].score == pytest.approx(2 / 61)  # first in both rankings
    assert [h.score for h in hybrid[0]] == sorted((h.score for h in hybrid[0]), reverse=True)


def test_no_bm25_part_is_a_clear_error(tmp_path) -> None:
    _build(tmp_path, bm25=False)
    with pytest.raises(CbqaError, match="no BM25 part"):
        load_index(tmp_path / "idx", encoder=HashEncoder()).search(["x"], k=1, retriever="bm25")


def test_embeddings_reuse_requires_same_passages(tmp_path) -> None:
    _build(tmp_path, save_embeddings="float32", spec=IndexSpec("flat"))
    stored = load_embeddings(tmp_path / "idx")
    assert stored.shape == (5, 64)
    reused = build_index(
        DOCS,
        tmp_path / "hnsw",
        encoder=HashEncoder(),
        spec=IndexSpec("hnsw"),
        embeddings_from=tmp_path / "idx",
        show_progress=False,
    )
    assert reused.search(["capital of Japan"], k=1)[0][0].id == "tokyo#0"
    with pytest.raises(CbqaError, match="different corpus or passage split"):
        build_index(
            DOCS,
            tmp_path / "other",
            encoder=HashEncoder(),
            split=SplitConfig(words=5),
            embeddings_from=tmp_path / "idx",
            show_progress=False,
        )


def test_manifest_records_resolved_defaults(tmp_path) -> None:
    built = _build(tmp_path, spec=IndexSpec("ivf"))  # nlist left to the rule of thumb
    assert built.manifest["index"]["params"] == {"nlist": 1, "nprobe": 16}
    assert built.manifest["index"]["factory"] == "IVF1,Flat"


def test_overwrite_never_replaces_something_that_is_not_an_index(tmp_path) -> None:
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "notes.txt").write_text("mine")
    with pytest.raises(CbqaError, match="not an index directory; refusing"):
        _build(tmp_path, overwrite=True)
    assert (tmp_path / "idx" / "notes.txt").read_text() == "mine"
    assert _entries(tmp_path) == ["idx"]
