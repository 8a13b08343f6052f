"""Split corpus documents into DPR-style passages: ~100-word windows, title kept, stable ids `{doc_id}#{k}`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats import Document
from cbqa.core.formats.jsonl import read_jsonl, write_jsonl
from cbqa.core.io import fingerprint_chunks


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text}


@dataclass(frozen=True)
class SplitConfig:
    """`words` per passage; `stride` words between window starts (None = `words`: DPR's non-overlapping windows).

    `words=0` keeps each document whole as one passage (for corpora that are already passages).
    """

    words: int = 100
    stride: int | None = None

    def __post_init__(self) -> None:
        if self.words < 0:
            raise CbqaError(f"passage words must be >= 0, got {self.words}")
        if self.stride is not None and not self.stride > 0:
            raise CbqaError(f"passage stride must be > 0, got {self.stride}")
        if self.stride is not None and self.words and self.stride > self.words:
            raise CbqaError(f"passage stride {self.stride} > words {self.words} would skip text")


def split_document(doc: Document, config: SplitConfig = SplitConfig()) -> list[Passage]:
    words = doc.text.split()
    if not words:
        return []
    if config.words == 0:
        return [Passage(f"{doc.id}#0", doc.title, " ".join(words))]
    stride = config.stride or config.words
    passages = []
    for k, start in enumerate(range(0, len(words), stride)):
        passages.append(Passage(f"{doc.id}#{k}", doc.title, " ".join(words[start : start + config.words])))
        if start + config.words >= len(words):
            break  # the last window already reaches the end; with a stride, later ones would be suffixes of it
    return passages


def split_corpus(docs: Iterable[Document], config: SplitConfig = SplitConfig()) -> Iterator[Passage]:
    for doc in docs:
        yield from split_document(doc, config)


def write_passages(path: str | Path, passages: Iterable[Passage]) -> int:
    return write_jsonl(path, (p.to_json() for p in passages))


def passages_fingerprint(passages: Iterable[Passage]) -> str:
    """`cbqa.core.io.fingerprint` of the passages file `write_passages` would write, computed without writing it."""
    return fingerprint_chunks((json.dumps(p.to_json(), ensure_ascii=False) + "\n").encode("utf-8") for p in passages)


def read_passages(path: str | Path) -> list[Passage]:
    out = []
    for line, obj in read_jsonl(path):
        pid, title, text = obj.get("id"), obj.get("title", ""), obj.get("text")
        if not isinstance(pid, str) or not isinstance(text, str) or not isinstance(title, str):
            raise DataError(path, line, "a passage needs string 'id', 'title' and 'text'")
        out.append(Passage(pid, title, text))
    return out
