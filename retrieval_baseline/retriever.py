"""A loaded retrieval index: passages + FAISS index (+ BM25), searched densely, lexically or by fusion.

Every retriever returns, per question, a `Hits` view of passage rows and scores; `Hit` objects (with text read from the
passage store) are made only when a caller reads them (see hits.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.formats import QAExample
from cbqa.core.progress import progress_bar
from retrieval_baseline.bm25 import BM25Index
from retrieval_baseline.encoders import Encoder, EncoderConfig, load_encoder
from retrieval_baseline.evaluate import RetrievedQuestion, answer_flags
from retrieval_baseline.faiss_index import FaissIndex
from retrieval_baseline.hits import Hits, SearchResults
from retrieval_baseline.hybrid import RRF_K, reciprocal_rank_fusion
from retrieval_baseline.passage_store import Passages, as_passages
from retrieval_baseline.passages import Passage

Retriever = Literal["dense", "bm25", "hybrid"]
RETRIEVERS: tuple[str, ...] = ("dense", "bm25", "hybrid")


class RetrievalIndex:
    """Passages (by row id: an on-disk `PassageStore` or a list), a FAISS index, optionally BM25, and the encoder."""

    def __init__(
        self,
        passages: Passages | Sequence[Passage],
        dense: FaissIndex,
        manifest: dict[str, Any],
        bm25: BM25Index | None = None,
        encoder: Encoder | None = None,
        encoder_config: EncoderConfig | None = None,
    ) -> None:
        self.passages = as_passages(passages)
        self.dense = dense
        self.manifest = manifest
        self.bm25 = bm25
        self._encoder = encoder
        self._encoder_config = encoder_config  # loaded lazily: BM25-only use needs no model

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            cfg = self._encoder_config or EncoderConfig(name=self.manifest["encoder"]["name"])
            self._encoder = load_encoder(cfg)
            if self._encoder.dim != self.dense.dim:
                raise CbqaError(
                    f"encoder {cfg.name!r} gives {self._encoder.dim}-d vectors; the index holds {self.dense.dim}-d"
                )
        return self._encoder

    def search_vectors(self, vectors: np.ndarray, k: int) -> SearchResults:
        """Top-k per query vector: FAISS's row and score arrays as they come back, behind lazy per-query `Hits`
        views (no Python object per result is made here)."""
        scores, rows = self.dense.search(vectors, k)
        return SearchResults(rows, scores, self.passages)

    def search(
        self, questions: Sequence[str], k: int = 10, retriever: Retriever = "dense", fusion_depth: int = 100
    ) -> Sequence[Hits]:
        """Top-k passages per question, best first. Hybrid fuses the top `max(k, fusion_depth)` of each side."""
        if k < 1:
            raise CbqaError(f"k must be >= 1, got {k}")
        if retriever == "dense":
            return self.search_vectors(self.encoder.encode_questions(list(questions)), k)
        if retriever == "bm25":
            return [Hits(r, s, self.passages) for r, s in self._bm25().search_arrays(questions, k)]
        if retriever == "hybrid":
            depth = max(k, fusion_depth)
            dense = self.search_vectors(self.encoder.encode_questions(list(questions)), depth)
            lexical = self._bm25().search_arrays(questions, depth)
            out = []
            for d, (b_rows, _) in zip(dense, lexical):
                # rows are passage ids here: unique, and fusing them needs no passage read
                fused = reciprocal_rank_fusion([d.rows.tolist(), b_rows.tolist()], k=RRF_K, top=k)
                out.append(
                    Hits(
                        np.array([r for r, _ in fused], dtype=np.int64), np.array([s for _, s in fused]), self.passages
                    )
                )
            return out
        raise CbqaError(f"unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}")

    def _bm25(self) -> BM25Index:
        if self.bm25 is None:
            raise CbqaError("this index has no BM25 part; rebuild it with `cbqa index ... --bm25`")
        return self.bm25


def search(
    index: RetrievalIndex, questions: Sequence[str], k: int = 10, retriever: Retriever = "dense"
) -> Sequence[Hits]:
    """Function form of `RetrievalIndex.search`."""
    return index.search(questions, k, retriever)


def retrieve_examples(
    index: RetrievalIndex,
    examples: Sequence[QAExample],
    k: int,
    retriever: Retriever = "dense",
    batch_size: int = 1024,
    show_progress: bool = True,
    fusion_depth: int = 100,
) -> list[RetrievedQuestion]:
    """Search for every QA example in batches, keeping id / question / answers alongside the hits."""
    out: list[RetrievedQuestion] = []
    with progress_bar(f"retrieving ({retriever})", total=len(examples), enabled=show_progress) as advance:
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            hits = index.search([e.question for e in batch], k, retriever, fusion_depth)
            out += [RetrievedQuestion(e.id, e.question, e.answers, h) for e, h in zip(batch, hits)]
            advance(len(batch))
    return out


def retrieved_row(q: RetrievedQuestion, retriever: str) -> dict[str, Any]:
    """One output row; each passage also says whether it holds an answer (DPR's `has_answer`)."""
    hits = list(q.passages)  # each passage read once from the store
    if q.flags is None:
        q.flags = answer_flags(hits, q.answers)
    passages = [{**h.to_json(), "has_answer": f} for h, f in zip(hits, q.flags)]
    return {"id": q.id, "question": q.question, "answers": q.answers, "retriever": retriever, "passages": passages}
