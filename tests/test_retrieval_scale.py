"""The retrieval baseline at scale: sharded resumable encoding (--shard i/N; --engine ray in test_ray_engines.py), FAISS indexes built from
memory-mapped shards in chunks, memory-mapped loading, lazy search results."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from cbqa.core.errors import CbqaError
from retrieval_baseline import IndexSpec, ShardSpec, SplitConfig, build_index, encode_corpus, load_index
from retrieval_baseline.embeddings import EmbeddingShards, write_embedding_shard
from retrieval_baseline.faiss_index import build_faiss_index, read_faiss_index, training_rows
from retrieval_baseline.hits import Hit, SearchResults
from retrieval_baseline.passage_store import ListPassages
from retrieval_baseline.passages import Passage

from helpers.retrieval import DOCS, HashEncoder

QUESTIONS = ["Brandenburg Gate, Germany", "longest rivers, Africa", "capital of Japan"]


class CountingEncoder(HashEncoder):
    """HashEncoder that counts the passages it encodes (to prove which shards a run encoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode_passages(self, passages):
        self.encoded += len(passages)
        return super().encode_passages(passages)


def test_shards_on_n_machines_then_build_equals_one_shard_build(tmp_path: Path) -> None:
    one = build_index(DOCS, tmp_path / "one", encoder=HashEncoder(), show_progress=False, use_gpu=False)
    enc, out = CountingEncoder(), tmp_path / "many"
    encode_corpus(DOCS, out, enc, shard_size=2, shard=ShardSpec(0, 2), show_progress=False)
    assert enc.encoded == 3  # shards 0 and 2 of [2, 2, 1] documents
    with pytest.raises(CbqaError, match="unfinished build with other settings \\(split\\)"):
        encode_corpus(
            DOCS, out, enc, split=SplitConfig(words=5), shard_size=2, shard=ShardSpec(1, 2), show_progress=False
        )
    _, report, _ = encode_corpus(DOCS, out, enc, shard_size=2, shard=ShardSpec(1, 2), show_progress=False)
    assert enc.encoded == 5 and report.done == [0, 1, 2] and report.this_run == 1
    many = build_index(DOCS, out, encoder=enc, shard_size=2, show_progress=False, use_gpu=False)
    assert enc.encoded == 5  # building found every shard encoded: nothing encoded twice
    assert many.manifest["passages"]["fingerprint"] == one.manifest["passages"]["fingerprint"]
    assert len(many.manifest["passages"]["shards"]) == 3
    assert many.search(QUESTIONS, k=3) == one.search(QUESTIONS, k=3)
    assert not (tmp_path / ".many.build").exists()


def test_a_killed_build_resumes_at_the_first_missing_shard(tmp_path: Path) -> None:
    enc, out = CountingEncoder(), tmp_path / "idx"
    encode_corpus(DOCS, out, enc, shard_size=1, shard=ShardSpec(0, 3), show_progress=False)  # as if killed after 2
    (tmp_path / ".idx.build" / "embeddings" / "shard-00003.npy").unlink()  # ... and before shard 3's embeddings
    assert enc.encoded == 2
    build_index(DOCS, out, encoder=enc, shard_size=1, show_progress=False, use_gpu=False)
    assert enc.encoded == 6  # shards 1, 2, 4, and 3 (its passages were there, its embeddings not)
    # another build of other settings finds the unfinished one and discards it (only --shard refuses)
    enc2 = CountingEncoder()
    encode_corpus(DOCS, tmp_path / "x", enc2, shard_size=1, shard=ShardSpec(0, 2), show_progress=False)
    build_index(DOCS, tmp_path / "x", encoder=enc2, shard_size=2, show_progress=False, use_gpu=False)
    assert enc2.encoded == 3 + 5


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _shards(tmp_path: Path, x: np.ndarray, size: int, dtype: str = "float32") -> EmbeddingShards:
    paths = []
    for i, start in enumerate(range(0, len(x), size)):
        paths.append(tmp_path / f"shard-{i:05d}.npy")
        write_embedding_shard(paths[-1], x[start : start + size], dtype)
    return EmbeddingShards(paths)


@pytest.mark.parametrize(
    "spec",
    [
        IndexSpec("flat"),
        IndexSpec("ivf", nlist=8, nprobe=3),
        IndexSpec("hnsw", hnsw_m=8),
        IndexSpec("ivfpq", nlist=4, pq_m=4, pq_nbits=4),
    ],
    ids=["flat", "ivf", "hnsw", "ivfpq"],
)
def test_index_from_memory_mapped_shards_in_chunks_equals_one_array(tmp_path: Path, monkeypatch, spec) -> None:
    import retrieval_baseline.faiss_index as fi

    x, q = _vectors(700, 16), _vectors(20, 16, seed=1)
    whole = build_faiss_index(x, spec, use_gpu=False, show_progress=False)
    monkeypatch.setattr(fi, "ADD_CHUNK", 64)  # many chunks, crossing shard ends
    timings: dict[str, float] = {}
    chunked = build_faiss_index(_shards(tmp_path, x, 250), spec, use_gpu=False, show_progress=False, timings=timings)
    assert (
        set(timings) == {"train", "add", "allocate"}
        and 0 <= timings["allocate"] <= timings["add"]
        and chunked.ntotal == 700
    )
    assert np.array_equal(whole.search(q, 5)[1], chunked.search(q, 5)[1])
    if spec.type == "flat":  # the in-place fill gives exactly what FAISS's own add gives
        ref = faiss.IndexFlatIP(16)
        ref.add(x)
        assert np.array_equal(ref.search(q, 5)[1], chunked.search(q, 5)[1])
    if spec.type in ("ivf", "ivfpq"):  # the two-pass fill (reserved lists, add_core) equals FAISS's own add
        ref = faiss.clone_index(chunked.cpu_index)
        ref.reset()  # keeps the trained quantizer (and PQ)
        ref.add(x)
        assert _lists(ref) == _lists(chunked.cpu_index) and ref.ntotal == chunked.cpu_index.ntotal == 700
    chunked.save(tmp_path / "index.faiss")
    read = read_faiss_index(tmp_path / "index.faiss", chunked.spec, use_gpu=False)
    mapped = read_faiss_index(tmp_path / "index.faiss", chunked.spec, use_gpu=False, mmap=True)
    assert np.array_equal(read.search(q, 5)[1], mapped.search(q, 5)[1])
    assert np.array_equal(read.search(q, 5)[1], chunked.search(q, 5)[1])


def _lists(index: faiss.Index) -> list[tuple[bytes, bytes]]:
    """Every inverted list's ids and codes, as bytes."""
    ivf = faiss.extract_index_ivf(index)
    out = []
    for cell in range(ivf.nlist):
        size = ivf.invlists.list_size(cell)
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(cell), size).tobytes() if size else b""
        codes = faiss.rev_swig_ptr(ivf.invlists.get_codes(cell), size * ivf.code_size).tobytes() if size else b""
        out.append((ids, codes))
    return out


def test_reused_chunk_buffer_gives_the_same_rows(tmp_path: Path) -> None:
    x = _vectors(300, 8)
    shards = _shards(tmp_path, x, 110, dtype="float16")
    fresh = [c.copy() for c in shards.chunks(64)]
    reused = [c.copy() for c in shards.chunks(64, reuse=True)]
    assert [len(c) for c in fresh] == [64, 46, 64, 46, 64, 16] == [len(c) for c in reused]
    assert all(np.array_equal(a, b) and b.dtype == np.float32 and b.flags.c_contiguous for a, b in zip(fresh, reused))
    assert np.allclose(np.concatenate(reused), x, atol=1e-3)


def test_training_sample_is_seeded_and_capped_in_bytes(monkeypatch) -> None:
    import retrieval_baseline.faiss_index as fi

    spec = IndexSpec("ivf", nlist=10)
    assert training_rows(2000, 16, spec) is None  # under 256 per centroid: all rows
    rows = training_rows(5000, 16, spec)
    assert len(rows) == 2560 and len(set(rows.tolist())) == 2560 and np.array_equal(rows, training_rows(5000, 16, spec))
    monkeypatch.setattr(fi, "TRAIN_SAMPLE_BYTES", 4 * 16 * 1000)  # room for 1000 16-d vectors
    assert len(training_rows(5000, 16, spec)) == 1000
    monkeypatch.setattr(fi, "TRAIN_SAMPLE_BYTES", 4 * 16 * 100)  # never under 39 per centroid
    assert len(training_rows(5000, 16, spec)) == 390


def test_search_results_are_lazy_views_of_rows_and_scores() -> None:
    passages = ListPassages([Passage(f"p{i}", f"T{i}", f"text {i}") for i in range(4)])
    rows = np.array([[2, 0, -1], [3, -1, -1]])
    scores = np.array([[0.9, 0.5, -np.inf], [0.7, -np.inf, -np.inf]], dtype=np.float32)
    results = SearchResults(rows, scores, passages)
    assert len(results) == 2 and [len(h) for h in results] == [2, 1]
    first = results[0]
    assert first.ids() == ["p2", "p0"] and first[0] == Hit("p2", "T2", "text 2", pytest.approx(0.9))
    assert first[-1].id == "p0" and [h.id for h in first[:1]] == ["p2"]
    assert first == [Hit("p2", "T2", "text 2", float(np.float32(0.9))), Hit("p0", "T0", "text 0", 0.5)]
    with pytest.raises(IndexError):
        first[2]


def test_index_loads_without_reading_passages_and_maps_faiss(tmp_path: Path) -> None:
    built = build_index(
        DOCS,
        tmp_path / "idx",
        encoder=HashEncoder(),
        spec=IndexSpec("hnsw", hnsw_m=8),
        shard_size=2,
        show_progress=False,
        use_gpu=False,
    )
    mapped = load_index(tmp_path / "idx", encoder=HashEncoder(), mmap=True)
    results = mapped.search(QUESTIONS[:1], k=1)
    assert mapped.passages._rows._views == {}  # loading and searching open no passage shard...
    assert results[0][0].id == "berlin#0"
    assert len(mapped.passages._rows._views) == 1  # ... reading a hit opens only the shard that holds it
    assert mapped.search(QUESTIONS, k=3) == built.search(QUESTIONS, k=3)


def test_embeddings_from_another_index_are_hard_linked(tmp_path: Path) -> None:
    build_index(
        DOCS,
        tmp_path / "flat",
        encoder=HashEncoder(),
        save_embeddings="float16",
        shard_size=2,
        show_progress=False,
        use_gpu=False,
    )
    ivf = build_index(
        DOCS,
        tmp_path / "ivf",
        encoder=HashEncoder(),
        spec=IndexSpec("ivf", nlist=2, nprobe=2),
        embeddings_from=tmp_path / "flat",
        save_embeddings="float16",
        shard_size=2,
        show_progress=False,
        use_gpu=False,
    )
    a, b = (tmp_path / d / "embeddings" / "shard-00000.npy" for d in ("flat", "ivf"))
    assert a.stat().st_ino == b.stat().st_ino
    assert ivf.search(QUESTIONS, k=1)[2][0].id == "tokyo#0"


def test_asking_for_a_gpu_without_faiss_gpu_is_one_clear_error(tmp_path: Path) -> None:
    from retrieval_baseline.faiss_index import gpu_available

    if gpu_available():
        pytest.skip("faiss sees a GPU here")
    for spec in (IndexSpec("flat"), IndexSpec("ivf", nlist=4)):
        with pytest.raises(CbqaError, match="no GPU support here"):
            build_faiss_index(_vectors(200, 8), spec, use_gpu=True, show_progress=False)
    built = build_faiss_index(_vectors(200, 8), IndexSpec("ivf", nlist=4), show_progress=False)  # default: CPU here
    assert not built.on_gpu and built.ntotal == 200


def test_index_is_built_from_float32_embeddings_whatever_dtype_is_kept(tmp_path: Path) -> None:
    """--save-embeddings float16 keeps a float16 copy; the index itself is built from the encoder's float32 vectors,
    so it is byte for byte the index built without keeping embeddings."""
    plain = build_index(
        DOCS, tmp_path / "plain", encoder=HashEncoder(), shard_size=2, show_progress=False, use_gpu=False
    )
    kept = build_index(
        DOCS,
        tmp_path / "kept",
        encoder=HashEncoder(),
        save_embeddings="float16",
        shard_size=2,
        show_progress=False,
        use_gpu=False,
    )
    assert (tmp_path / "plain" / "index.faiss").read_bytes() == (tmp_path / "kept" / "index.faiss").read_bytes()
    shards = EmbeddingShards(sorted((tmp_path / "kept" / "embeddings").glob("shard-*.npy")))
    assert shards.dtype == "float16" and shards.n == plain.manifest["count"] == kept.manifest["count"]
    assert not [p.name for p in (tmp_path / "kept").iterdir() if p.name.startswith("embeddings.")]


def test_large_indexes_are_memory_mapped_by_default(tmp_path: Path, monkeypatch) -> None:
    import retrieval_baseline.faiss_index as fi

    built = build_index(DOCS, tmp_path / "idx", encoder=HashEncoder(), shard_size=2, show_progress=False, use_gpu=False)
    flags: list[int] = []
    real = fi.faiss.read_index
    monkeypatch.setattr(fi.faiss, "read_index", lambda path, f=0: flags.append(f) or real(path, f))
    load_index(tmp_path / "idx", encoder=HashEncoder(), use_gpu=False)  # a few KB: read
    monkeypatch.setattr(fi, "MMAP_AUTO_BYTES", 1)  # now every index counts as large
    mapped = load_index(tmp_path / "idx", encoder=HashEncoder(), use_gpu=False)
    load_index(tmp_path / "idx", encoder=HashEncoder(), use_gpu=False, mmap=False)  # asked: read
    assert flags[0] == 0 and flags[1] & fi.faiss.IO_FLAG_MMAP_IFC and flags[2] == 0
    assert not fi.auto_mmap(tmp_path / "idx" / "index.faiss", use_gpu=True)  # GPU search copies it to the GPU anyway
    assert mapped.search(QUESTIONS, k=3) == built.search(QUESTIONS, k=3)
