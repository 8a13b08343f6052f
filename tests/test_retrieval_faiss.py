"""FAISS index types against brute-force neighbours on small hand-made data."""

from __future__ import annotations

import numpy as np
import pytest

from cbqa.core.errors import CbqaError
from retrieval_baseline.faiss_index import (
    IndexSpec,
    auto_nlist,
    auto_pq_m,
    build_faiss_index,
    factory_string,
    gpu_available,
)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact_topk(db: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ db.T), axis=1, kind="stable")[:, :k]


def test_flat_finds_hand_made_neighbours() -> None:
    # Four axis vectors and their diagonal: the nearest neighbours by inner product are known by hand.
    db = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32)
    q = np.array([[0.9, 0.1, 0, 0], [0, 0, 0.2, 0.8], [0.45, 0.4, 0.3, 0.3]], dtype=np.float32)
    idx = build_faiss_index(db, IndexSpec("flat"), use_gpu=False, show_progress=False)
    scores, rows = idx.search(q, 2)
    assert rows.tolist() == [[0, 4], [3, 4], [4, 0]]
    np.testing.assert_allclose(scores[0], [0.9, 0.5], atol=1e-6)


def test_flat_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    db, q = _unit(rng, 200, 16), _unit(rng, 20, 16)
    idx = build_faiss_index(db, IndexSpec("flat"), use_gpu=False, show_progress=False)
    _, rows = idx.search(q, 5)
    assert rows.tolist() == _exact_topk(db, q, 5).tolist()


@pytest.mark.parametrize(
    "spec",
    [
        IndexSpec("ivf", nlist=4, nprobe=4),  # probing every cell makes IVF exhaustive: exact
        IndexSpec("hnsw", hnsw_m=16, ef_construction=200, ef_search=256),  # ef >= n: the graph search sees everything
    ],
    ids=["ivf", "hnsw"],
)
def test_approximate_indexes_exact_with_exhaustive_settings(spec: IndexSpec) -> None:
    rng = np.random.default_rng(1)
    db, q = _unit(rng, 200, 16), _unit(rng, 30, 16)
    idx = build_faiss_index(db, spec, use_gpu=False, show_progress=False)
    _, rows = idx.search(q, 5)
    assert rows.tolist() == _exact_topk(db, q, 5).tolist()


def test_ivf_with_one_probe_can_miss_but_nprobe_override_fixes_it() -> None:
    rng = np.random.default_rng(2)
    db, q = _unit(rng, 400, 16), _unit(rng, 50, 16)
    idx = build_faiss_index(db, IndexSpec("ivf", nlist=8, nprobe=1), use_gpu=False, show_progress=False)
    truth = _exact_topk(db, q, 10)
    _, approx = idx.search(q, 10)
    assert (approx != truth).any()  # one cell of eight: some true neighbours live elsewhere
    idx.set_search_params(nprobe=8)
    _, exact = idx.search(q, 10)
    assert exact.tolist() == truth.tolist()


def test_ivfpq_exact_when_codes_can_represent_the_data() -> None:
    # Every coordinate takes one of 5 levels and each 1-d sub-quantizer has 16 codes, so PQ reconstructs the
    # vectors (up to k-means' split-cluster jitter) and its scores match the true top-5. Integer data has ties,
    # so compare scores, not ids.
    rng = np.random.default_rng(3)
    db = rng.integers(-2, 3, size=(64, 8)).astype(np.float32)
    q = rng.standard_normal((20, 8)).astype(np.float32)
    idx = build_faiss_index(
        db, IndexSpec("ivfpq", nlist=1, nprobe=1, pq_m=8, pq_nbits=4), use_gpu=False, show_progress=False
    )
    scores, rows = idx.search(q, 5)
    exact = -np.sort(-(q @ db.T), axis=1)[:, :5]
    np.testing.assert_allclose(scores, exact, atol=0.02)
    np.testing.assert_allclose(np.take_along_axis(q @ db.T, rows, axis=1), exact, atol=0.02)


def test_k_larger_than_index_is_clamped() -> None:
    db = np.eye(3, dtype=np.float32)
    idx = build_faiss_index(db, IndexSpec("flat"), use_gpu=False, show_progress=False)
    _, rows = idx.search(db, 10)
    assert rows.shape == (3, 3) and rows[:, 0].tolist() == [0, 1, 2]


def test_factory_strings_and_auto_nlist() -> None:
    assert factory_string(IndexSpec("flat"), 100, 8) == "Flat"
    assert factory_string(IndexSpec("ivf", nlist=7), 100, 8) == "IVF7,Flat"
    assert factory_string(IndexSpec("ivf"), 3526, 8) == "IVF90,Flat"
    assert factory_string(IndexSpec("hnsw", hnsw_m=12), 100, 8) == "HNSW12,Flat"
    assert factory_string(IndexSpec("ivfpq", nlist=5, pq_m=4, pq_nbits=6), 100, 8) == "IVF5,PQ4x6"
    assert factory_string(IndexSpec("ivfpq"), 3526, 384) == "IVF90,PQ48x8"
    assert auto_nlist(10) == 1 and auto_nlist(3526) == 90 and auto_nlist(1_000_000) == 4000
    assert auto_pq_m(384) == 48 and auto_pq_m(768) == 96 and auto_pq_m(100) == 10 and auto_pq_m(4) == 1


@pytest.mark.parametrize(
    ("spec", "n", "dim", "message"),
    [
        (IndexSpec("ivf", nlist=50), 10, 4, "needs at least 50 vectors"),
        (IndexSpec("ivfpq", nlist=1, pq_m=5), 300, 16, "must divide the embedding dimension 16"),
        (IndexSpec("ivfpq", nlist=1, pq_m=4, pq_nbits=8), 100, 16, "needs >= 256 vectors"),
    ],
)
def test_unbuildable_settings_are_refused_clearly(spec: IndexSpec, n: int, dim: int, message: str) -> None:
    with pytest.raises(CbqaError, match=message):
        build_faiss_index(np.ones((n, dim), dtype=np.float32), spec, use_gpu=False, show_progress=False)


def test_bad_spec_and_query_shape() -> None:
    with pytest.raises(CbqaError, match="unknown index type"):
        IndexSpec("lsh")  # type: ignore[arg-type]
    idx = build_faiss_index(np.eye(4, dtype=np.float32), IndexSpec("flat"), use_gpu=False, show_progress=False)
    with pytest.raises(CbqaError, match="expects \\(n, 4\\)"):
        idx.search(np.ones((2, 3), dtype=np.float32), 1)


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs faiss-gpu and a CUDA GPU")
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_gpu_build_matches_cpu(kind: str, tmp_path) -> None:
    rng = np.random.default_rng(4)
    db, q = _unit(rng, 2000, 32), _unit(rng, 20, 32)
    spec = IndexSpec(kind, nlist=8, nprobe=8)  # type: ignore[arg-type]
    gpu = build_faiss_index(db, spec, use_gpu=True, show_progress=False)
    assert gpu.on_gpu
    _, rows = gpu.search(q, 5)
    assert rows.tolist() == _exact_topk(db, q, 5).tolist()
    gpu.save(tmp_path / "i.faiss")  # saved from CPU so it loads without a GPU
    from retrieval_baseline.faiss_index import read_faiss_index

    _, cpu_rows = read_faiss_index(tmp_path / "i.faiss", spec, use_gpu=False).search(q, 5)
    assert cpu_rows.tolist() == rows.tolist()
