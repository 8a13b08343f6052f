"""Reader input text for a T5 reader: the question followed by its retrieved passages, best first.

Two layouts: one string holding the question and the top passages (`format_reader_input`, the one-passage reader's
input), and Fusion-in-Decoder's one input per passage, each with the question (`fid_inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval_baseline.hits import Hit


def format_passage(hit: Hit) -> str:
    """`title: T text: X` (FiD's passage tagging), or `text: X` for an untitled passage."""
    return f"title: {hit.title} text: {hit.text}" if hit.title else f"text: {hit.text}"


def format_reader_input(question: str, passages: Sequence[Hit], max_passages: int) -> str:
    """`question: Q context: title: T1 text: X1 title: T2 text: X2 ...` (the tokenizer truncates the tail).

    The same "question: ... context: ..." prefix T5 saw for SQuAD in its multi-task mixture, with each
    passage tagged by title as FiD does, so one string carries several passages.
    """
    if max_passages < 0:
        raise ValueError(f"max_passages must be >= 0, got {max_passages}")
    parts = [f"question: {' '.join(question.split())}", "context:"]
    parts += [format_passage(hit) for hit in list(passages)[:max_passages]]
    return " ".join(parts)


def fid_inputs(question: str, passages: Sequence[Hit], k: int) -> list[str]:
    """Fusion-in-Decoder: one encoder input per passage of the top `k`, each `question: Q context: title: T text: X`
    (an input of the question alone when there is no passage)."""
    if k < 1:
        raise ValueError(f"a Fusion-in-Decoder reader reads at least 1 passage, got {k}")
    top = list(passages)[:k]
    return [format_reader_input(question, [hit], 1) for hit in top] or [format_reader_input(question, [], 0)]
