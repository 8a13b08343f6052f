"""Previews: what a policy makes of some stored documents, as rows or a rich table."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ner_masking.masked import MaskedExample, Policy
from ner_masking.store import SpanStore, read_shard


def sample_examples(store: SpanStore, policy: Policy, n: int, seed: int = 0) -> list[tuple[str, MaskedExample]]:
    """Up to `n` (doc id, example) pairs from documents drawn at random; reads one shard at a time, so a
    preview of a huge store stays cheap. Documents with nothing to mask are skipped."""
    rng = random.Random(seed)
    out: list[tuple[str, MaskedExample]] = []
    for doc_id, example in _examples(store, policy, rng):
        out.append((doc_id, example))
        if len(out) >= n:
            break
    return out


def _examples(store: SpanStore, policy: Policy, rng: random.Random) -> Iterator[tuple[str, MaskedExample]]:
    shards = list(store.shard_paths)
    rng.shuffle(shards)
    for path in shards:
        docs = read_shard(path)
        rng.shuffle(docs)
        for doc in docs:
            example = policy(doc, rng)
            if example is not None:
                yield doc.id, example


def preview_table(rows: list[tuple[str, MaskedExample]], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    table.add_column("doc", style="dim", overflow="fold")
    table.add_column("input", overflow="fold", ratio=3)
    table.add_column("target", overflow="fold", ratio=1)
    table.add_column("label")
    for doc_id, ex in rows:
        table.add_row(doc_id, ex.input_text, ex.target_text, ex.label or "-")
    return table
