"""The one sentence-splitting rule of the project, in pure Python (no spaCy needed to apply it).

A sentence ends at `.`, `!` or `?` (possibly repeated, possibly followed by closing quotes or brackets) when
whitespace and then an upper-case letter, a digit, an opening quote or bracket follow — unless the piece ends in
an initial ("Daniel B.") or a common abbreviation ("St.", "Dr."). Sentences are trimmed of surrounding whitespace.

`cbqa ner` applies it inside spaCy through the `rule_sentencizer` component (component.py), so the spans store's
sentences, SSM's sentence context and corpus overlap's evidence sentences all follow this same rule; corpus
overlap applies it directly (or reads the sentences of a spans store), which keeps it cheap on large corpora.
"""

from __future__ import annotations

import re

_END = re.compile(r"""[.!?]+["'”’)\]]*(\s+)(?=[A-Z0-9"'“‘(\[])""")
# A piece ending in an initial or a common abbreviation does not end a sentence.
_NOT_AN_END = re.compile(
    r"(?:\b[A-Z]|\b(?:St|Rep|Sen|Dr|Mr|Mrs|Ms|Jr|Sr|Prof|Gen|Col|Lt|Gov|No|vs|Mt|Ft|e\.g|i\.e))\.$"
)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) character offsets of the sentences of `text`, trimmed, in order; none for blank text."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        piece_end = m.start(1)  # the end punctuation (and closing quotes) stays with its sentence
        if _NOT_AN_END.search(text[start:piece_end]):
            continue
        s, e = _trim(text, start, piece_end)
        if s < e:
            out.append((s, e))
        start = m.end(1)
    s, e = _trim(text, start, len(text))
    if s < e:
        out.append((s, e))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (see `sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]
