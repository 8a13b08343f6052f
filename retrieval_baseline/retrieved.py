"""`cbqa retrieve` output files: one JSON row per question with its top passages (`id`, `question`, `answers`,
`passages`: [{"id", "title", "text", "score"}, ...], best first), read back as `Hit`s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cbqa.core.errors import DataError
from cbqa.core.formats.jsonl import read_jsonl
from retrieval_baseline.hits import Hit


def retrieved_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, row in read_jsonl(path):
        for key in ("id", "question", "passages"):
            if key not in row:
                raise DataError(path, line, f"missing '{key}' (is this a `cbqa retrieve` output?)")
        yield line, row


def hits_of(row: dict[str, Any]) -> list[Hit]:
    return [
        Hit(id=p["id"], title=p.get("title", ""), text=p["text"], score=float(p.get("score", 0.0)))
        for p in row["passages"]
    ]
