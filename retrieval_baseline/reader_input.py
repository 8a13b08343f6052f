"""Reader input text for a T5 reader: the question followed by its retrieved passages, best first."""

from __future__ import annotations

from collections.abc import Sequence

from retrieval_baseline.hits import Hit


def format_reader_input(question: str, passages: Sequence[Hit], max_passages: int) -> str:
    """`question: Q context: title: T1 text: X1 title: T2 text: X2 ...` (the tokenizer truncates the tail).

    The same "question: ... context: ..." prefix T5 saw for SQuAD in its multi-task mixture, with each
    passage tagged by title as FiD does, so one string carries several passages.
    """
    if max_passages < 0:
        raise ValueError(f"max_passages must be >= 0, got {max_passages}")
    parts = [f"question: {' '.join(question.split())}", "context:"]
    for hit in list(passages)[:max_passages]:
        parts.append(f"title: {hit.title} text: {hit.text}" if hit.title else f"text: {hit.text}")
    return " ".join(parts)
