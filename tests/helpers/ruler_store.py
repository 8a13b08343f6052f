"""A small spans store made with an entity ruler (fast and exact, no statistical model): for training tests that need
salient spans but not spaCy's NER."""

from __future__ import annotations

from pathlib import Path

from spacy.lang.en import English

from cbqa.core.formats import Document, write_corpus
from ner_masking.annotate import AnnotateConfig, annotate_corpus

NAMES = ["Anna Berg", "Paul Roth", "Mia Lind", "Jon Falk"]
PLACES = ["Paris", "Lund", "Oslo", "Bern", "Riga"]
# The smallest T5 that trains: a few thousand parameters, a step in milliseconds.
TINY_ARCH = [
    "--model.arch.d_model",
    "32",
    "--model.arch.d_ff",
    "64",
    "--model.arch.num_heads",
    "2",
    "--model.arch.d_kv",
    "16",
    "--model.arch.num_layers",
    "1",
    "--model.arch.num_decoder_layers",
    "1",
]


def ruler_store(root: Path, n_docs: int = 21) -> Path:
    """Write `n_docs` two-sentence biographies under `root` and annotate them (PERSON, GPE, DATE); returns the store."""
    docs = [
        Document(
            f"d{i}",
            f"{NAMES[i % 4]} was born in {PLACES[i % 5]} in {1900 + i}. {NAMES[(i + 1) % 4]} "
            f"moved to {PLACES[(i + 2) % 5]} in {1950 + i}.",
        )
        for i in range(n_docs)
    ]
    write_corpus(root / "c.jsonl", docs)
    nlp = English()
    patterns = [{"label": "PERSON", "pattern": n} for n in NAMES] + [{"label": "GPE", "pattern": p} for p in PLACES]
    nlp.add_pipe("entity_ruler").add_patterns(patterns + [{"label": "DATE", "pattern": [{"SHAPE": "dddd"}]}])
    nlp.to_disk(root / "ruler")
    annotate_corpus(root / "c.jsonl", root / "spans", AnnotateConfig(spacy_model=str(root / "ruler"), progress=False))
    return root / "spans"
