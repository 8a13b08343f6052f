"""Corpus files: JSONL `{"id", "title"?, "text"}`, plain text (one document per line), or an HF dataset dir."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbqa.data.jsonl import read_jsonl, read_text_lines, write_jsonl
from cbqa.errors import CbqaError, DataError


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"id": self.id}
        if self.title:
            row["title"] = self.title
        row["text"] = self.text
        return row


def parse_document(obj: dict[str, Any], path: Path | str, line: int | None) -> Document:
    did, text, title = obj.get("id"), obj.get("text"), obj.get("title", "")
    if did is None:
        raise DataError(path, line, "missing 'id'")
    if not isinstance(did, (str, int)) or isinstance(did, bool):
        raise DataError(path, line, f"'id' must be a string, got {type(did).__name__}")
    if text is None:
        raise DataError(path, line, "missing 'text'")
    if not isinstance(text, str):
        raise DataError(path, line, f"'text' must be a string, got {type(text).__name__}")
    if title is None:
        title = ""
    if not isinstance(title, str):
        raise DataError(path, line, f"'title' must be a string, got {type(title).__name__}")
    return Document(id=str(did), text=text, title=title)


def _iter_jsonl(path: Path) -> Iterator[Document]:
    seen: dict[str, int] = {}
    for line, obj in read_jsonl(path):
        doc = parse_document(obj, path, line)
        if doc.id in seen:
            raise DataError(path, line, f"duplicate id {doc.id!r} (first on line {seen[doc.id]})")
        seen[doc.id] = line
        yield doc


def _iter_text(path: Path) -> Iterator[Document]:
    for line, text in read_text_lines(path):
        if text.strip():
            yield Document(id=f"{path.stem}-{line}", text=text.strip())


def _iter_hf_dataset(path: Path) -> Iterator[Document]:
    try:
        import datasets  # optional: only needed for corpora saved with `save_to_disk`
    except ImportError:
        raise CbqaError(f"{path}: is a Hugging Face dataset directory; `pip install datasets` to read it") from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise CbqaError(f"{path}: holds several splits {list(ds)}; point at one split's directory")
    for i, obj in enumerate(ds):
        yield parse_document({"id": obj.get("id", str(i)), **obj}, path, None)


def iter_corpus(path: str | Path) -> Iterator[Document]:
    path = Path(path)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return _iter_hf_dataset(path)
        raise DataError(path, None, "is a directory but not a Hugging Face dataset saved with save_to_disk")
    if path.suffix.lower() == ".txt":
        return _iter_text(path)
    return _iter_jsonl(path)


def read_corpus(path: str | Path) -> list[Document]:
    return list(iter_corpus(path))


def write_corpus(path: str | Path, docs: Iterable[Document]) -> int:
    return write_jsonl(path, (d.to_json() for d in docs))
