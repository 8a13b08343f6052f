"""A retrieved passage with its score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)  # not frozen: frozen dataclasses construct ~3x slower, and search makes k per query
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
