"""`cbqa ner --engine ray`: the same spaCy pipeline as Ray Data actors, on a local Ray or a cluster.

The driver plans shards (`scan_corpus`); Ray Data maps the pending shard descriptors over a pool of spaCy actors
(`cbqa.core.ray_engine.map_shards`: `map_batches`, one descriptor per call; the engine `cbqa index --engine ray`
shares). Each actor loads the pipeline once, reads its shard from the corpus by byte
offset or row (so the corpus path must be readable from every node: shared storage on a cluster), annotates it and
writes the shard file itself, atomically, into the store directory (also shared storage); only the shard's counts go
back to the driver, which writes the manifest. Which process annotates which shard does not change what a shard
holds, so both engines produce the same store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cbqa.core.formats.corpus import CorpusShard, read_corpus_slice
from cbqa.core.ray_engine import map_shards, start_ray
from ner_masking.store import shard_name, write_shard

__all__ = ["SpacyShardActor", "ray_engine", "start_ray"]


class SpacyShardActor:
    """A Ray actor: one spaCy pipeline, annotating and writing whole shards."""

    def __init__(
        self,
        corpus: str,
        out_dir: str,
        spacy_model: str,
        labels: list[str],
        merge_adjacent: bool,
        drop_cross_sentence: bool,
        batch_size: int,
        max_length: int,
        piece_chars: int,
    ) -> None:
        from ner_masking.pipeline import build_pipeline

        self.corpus, self.out_dir, self.labels, self.batch_size = Path(corpus), Path(out_dir), labels, batch_size
        self.nlp = build_pipeline(spacy_model, labels, merge_adjacent, drop_cross_sentence)
        self.nlp.max_length = max(self.nlp.max_length, max_length)
        self.piece_chars = piece_chars

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        from ner_masking.pipeline import annotate_docs

        out: dict[str, list[Any]] = {"index": [], "file": [], "docs": [], "spans": [], "label_counts": []}
        for i in range(len(batch["index"])):
            shard = CorpusShard(**{k: int(batch[k][i]) for k in ("index", "start", "count", "offset", "line")})
            docs = annotate_docs(
                self.nlp, read_corpus_slice(self.corpus, shard), self.batch_size, piece_chars=self.piece_chars
            )
            stats = write_shard(self.out_dir / shard_name(shard.index), docs, self.labels)
            for key in ("file", "docs", "spans"):
                out[key].append(stats[key])
            out["index"].append(shard.index)
            out["label_counts"].append(json.dumps(stats["label_counts"]))  # a string: keys differ between shards
        return out


def ray_engine(
    corpus: Path, pending: list[CorpusShard], out_dir: Path, config: Any, nlp: Any
) -> Iterator[dict[str, Any]]:
    """Annotate the pending shards with `config.n_process` spaCy actors; yields each finished shard's counts."""
    if not pending:
        return
    ray = start_ray(config.ray_address, config.n_process)
    results = map_shards(
        ray,
        SpacyShardActor,
        [asdict(s) for s in pending],
        {
            "corpus": str(corpus.resolve()),
            "out_dir": str(out_dir.resolve()),
            "spacy_model": str(Path(config.spacy_model).resolve())
            if Path(config.spacy_model).exists()
            else config.spacy_model,
            "labels": list(config.labels),
            "merge_adjacent": config.merge_adjacent,
            "drop_cross_sentence": config.drop_cross_sentence,
            "batch_size": config.batch_size,
            "max_length": nlp.max_length,
            "piece_chars": config.piece_chars,
        },
        concurrency=config.n_process,
    )
    for row in results:
        yield {
            "index": int(row["index"]),
            "file": row["file"],
            "docs": int(row["docs"]),
            "spans": int(row["spans"]),
            "label_counts": json.loads(row["label_counts"]),
        }
