"""Synthetic corpora for tests of the real spaCy pipeline."""

from __future__ import annotations

from pathlib import Path

from cbqa.core.formats import Document, write_corpus


def generated_corpus(path: Path, n: int) -> Path:
    people = ["Marie Curie", "Alan Turing", "Ada Lovelace", "Niels Bohr"]
    places = ["Paris", "London", "Copenhagen", "Warsaw"]
    docs = [
        Document(
            id=f"g{i}",
            text=f"{people[i % 4]} visited {places[(i // 4) % 4]} in {1900 + i % 97}. "
            f"The University of {places[i % 4]} gave a lecture on {i % 28 + 1} May. It rained.",
        )
        for i in range(n)
    ]
    write_corpus(path, docs)
    return path
