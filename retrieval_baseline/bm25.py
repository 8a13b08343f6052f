"""BM25 over passages with `bm25s` (its own numpy/JSON save format, loaded with allow_pickle=False).

Defaults follow Pyserini's BM25 baseline (Lucene scoring, k1=0.9, b=0.4, English stopwords). Pyserini also
Porter-stems; here stemming needs the optional PyStemmer package (`--bm25-stemmer english`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.progress import progress_bar
from retrieval_baseline.encoders import passage_text
from retrieval_baseline.passages import Passage

_META = "bm25.json"


@dataclass(frozen=True)
class BM25Config:
    k1: float = 0.9
    b: float = 0.4
    method: str = "lucene"
    stopwords: str = "en"
    stemmer: str = "none"  # "none" or a PyStemmer language such as "english"


def _stemmer(name: str):
    if name == "none":
        return None
    try:
        import Stemmer  # PyStemmer, optional
    except ImportError:
        raise CbqaError(f"BM25 stemmer {name!r} needs the PyStemmer package (pip install PyStemmer)") from None
    return Stemmer.Stemmer(name)


class BM25Index:
    def __init__(self, retriever, config: BM25Config, count: int) -> None:
        self.retriever = retriever
        self.config = config
        self.count = count
        self._stem = _stemmer(config.stemmer)

    @classmethod
    def build(
        cls, passages: Iterable[Passage], config: BM25Config = BM25Config(), show_progress: bool = True
    ) -> BM25Index:
        """BM25 over the passages in row order. bm25s indexes in memory (the token ids of every passage): fine for
        millions of passages, not for DPR's 21M on one machine (see docs/retrieval.md)."""
        import bm25s

        texts = [passage_text(p) for p in passages]
        if not texts:
            raise CbqaError("no passages to index with BM25")
        # the project's one bar, not bm25s's four ("Split strings", "BM25S Count Tokens", ...) in every log
        with progress_bar(f"BM25 index of {len(texts):,} passages", total=None, enabled=show_progress):
            tokens = bm25s.tokenize(
                texts, stopwords=config.stopwords, stemmer=_stemmer(config.stemmer), show_progress=False
            )
            del texts
            retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
            retriever.index(tokens, show_progress=False)
        return cls(retriever, config, len(tokens.ids))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.retriever.save(str(directory), allow_pickle=False)
        (directory / _META).write_text(
            json.dumps({"config": asdict(self.config), "count": self.count}, indent=2) + "\n"
        )

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = False) -> BM25Index:
        import bm25s

        directory = Path(directory)
        meta_path = directory / _META
        if not meta_path.exists():
            raise CbqaError(f"{directory}: no BM25 index here (build one with `cbqa index ... --bm25`)")
        try:
            meta = json.loads(meta_path.read_text())
            config, count = BM25Config(**meta["config"]), int(meta["count"])
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise CbqaError(f"{meta_path}: not a BM25 index description ({type(e).__name__}: {e})") from None
        try:
            retriever = bm25s.BM25.load(str(directory), allow_pickle=False, mmap=mmap, show_progress=False)
        except (OSError, ValueError, KeyError) as e:  # a file of it missing or cut short
            what = f"{Path(e.filename).name} is missing" if isinstance(e, FileNotFoundError) else f"unreadable ({e})"
            raise CbqaError(
                f"{directory}: BM25 index incomplete: {what}; rebuild it with `cbqa index ... --bm25`"
            ) from None
        return cls(retriever, config, count)

    def search_arrays(self, questions: Sequence[str], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per question, (passage rows, scores) best first; passages sharing no term with the question are dropped."""
        import bm25s

        if not questions:
            return []
        tokens = bm25s.tokenize(
            list(questions), stopwords=self.config.stopwords, stemmer=self._stem, return_ids=False, show_progress=False
        )
        rows, scores = self.retriever.retrieve(tokens, k=min(k, self.count), show_progress=False, n_threads=1)
        rows, scores = np.asarray(rows, dtype=np.int64), np.asarray(scores)
        keep = scores > 0
        return [(r[m], s[m]) for r, s, m in zip(rows, scores, keep)]

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """As `search_arrays`, as (row, score) pairs."""
        return [list(zip(r.tolist(), s.tolist())) for r, s in self.search_arrays(questions, k)]
