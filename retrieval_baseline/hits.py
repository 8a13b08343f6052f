"""Retrieved passages: `Hit` (one passage with its score) and the lazy views a search returns.

A search returns `SearchResults`: the row and score arrays FAISS (or BM25, or fusion) gave back, untouched, one
`Hits` view per query made only when asked for, and a `Hit` (id, title, text read from the passage store by row)
only when a caller reads one. So the search call costs what the index's own search costs, whatever k, and callers
that need text (writing `cbqa retrieve` rows, the reader, the app) still index and iterate `Hit`s as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np


@dataclass(slots=True)  # not frozen: frozen dataclasses construct ~3x slower
class Hit:
    id: str
    title: str
    text: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "score": self.score}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Hit:
        return cls(str(obj["id"]), str(obj.get("title", "")), str(obj["text"]), float(obj.get("score", 0.0)))


class _RowScores:
    """Row ids and scores as FAISS returned them, and the passages they index (read only on access)."""

    __slots__ = ("rows", "scores", "_passages")

    def __init__(self, rows: np.ndarray, scores: np.ndarray, passages: Any) -> None:
        self.rows = rows
        self.scores = scores
        self._passages = passages


class Hits(_RowScores, Sequence[Hit]):
    """The hits of one query, best first: `rows` and `scores` arrays; `hits[i]` reads passage `rows[i]`."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> Hit: ...

    @overload
    def __getitem__(self, i: slice) -> list[Hit]: ...

    def __getitem__(self, i: int | slice) -> Hit | list[Hit]:
        if isinstance(i, slice):
            return [self._hit(j) for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"hit {i} out of range for {len(self)} hits")
        return self._hit(i % len(self))

    def _hit(self, i: int) -> Hit:
        p = self._passages[int(self.rows[i])]
        return Hit(p.id, p.title, p.text, float(self.scores[i]))

    def __iter__(self) -> Iterator[Hit]:
        for i in range(len(self)):
            yield self._hit(i)

    def ids(self) -> list[str]:
        """Passage ids (reads only the ids, not the text)."""
        return [self._passages.id(int(r)) for r in self.rows]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Hits):
            return self.ids() == other.ids() and np.array_equal(self.scores, other.scores)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Hits(rows={self.rows.tolist()}, scores={np.round(self.scores, 4).tolist()})"


class SearchResults(_RowScores, Sequence[Hits]):
    """The results of a batched dense search: FAISS's (n_queries, k) row and score arrays as they came back (rows are
    -1 where fewer than k passages qualify), with a `Hits` view per query made on access."""

    __slots__ = ()

    def __len__(self) -> int:
        return self.rows.shape[0]

    @overload
    def __getitem__(self, q: int) -> Hits: ...

    @overload
    def __getitem__(self, q: slice) -> list[Hits]: ...

    def __getitem__(self, q: int | slice) -> Hits | list[Hits]:
        if isinstance(q, slice):
            return [self[j] for j in range(*q.indices(len(self)))]
        rows, scores = self.rows[q], self.scores[q]
        if len(rows) and rows[-1] < 0:  # FAISS puts the missing results last
            keep = rows >= 0
            rows, scores = rows[keep], scores[keep]
        return Hits(rows, scores, self._passages)

    def __iter__(self) -> Iterator[Hits]:
        for q in range(len(self)):
            yield self[q]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]
