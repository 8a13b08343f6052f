"""Open-domain retrieval baseline: passages, dense encoders, FAISS indexes, BM25, hybrid fusion, recall@k.

Python API (see docs/retrieval.md):

    from retrieval_baseline import build_index, load_index, recall_at_k
    index = build_index("corpus.jsonl", "runs/index", encoder="default", bm25=True)
    index = load_index("runs/index")
    hits = index.search(["who founded X?"], k=20, retriever="hybrid")   # per question a `Hits` view of `Hit`s
"""

from retrieval_baseline.bm25 import BM25Config
from retrieval_baseline.encoders import EncoderConfig, load_encoder
from retrieval_baseline.evaluate import recall_at_k
from retrieval_baseline.faiss_index import IndexSpec
from retrieval_baseline.has_answer import has_answer
from retrieval_baseline.hits import Hit, Hits, SearchResults
from retrieval_baseline.hybrid import reciprocal_rank_fusion
from retrieval_baseline.index_build import ShardSpec, build_index, encode_corpus
from retrieval_baseline.index_dir import load_index, verify_index
from retrieval_baseline.passages import Passage, SplitConfig, split_document
from retrieval_baseline.retriever import RetrievalIndex, search

__all__ = [
    "BM25Config",
    "EncoderConfig",
    "Hit",
    "Hits",
    "IndexSpec",
    "Passage",
    "RetrievalIndex",
    "SearchResults",
    "ShardSpec",
    "SplitConfig",
    "build_index",
    "encode_corpus",
    "has_answer",
    "load_encoder",
    "load_index",
    "recall_at_k",
    "reciprocal_rank_fusion",
    "search",
    "split_document",
    "verify_index",
]
