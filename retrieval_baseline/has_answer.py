"""DPR's has-answer test: does an answer's token sequence occur in a passage's token sequence?

This follows DPR (`dpr/data/qa_validation.py`, `has_answer` with `match_type="string"`) and its
`SimpleTokenizer`: NFD-normalise, split into runs of letters/digits/marks or single other non-space
characters (so punctuation is its own token), lowercase, then look for the answer's tokens as a
contiguous run. Matching on tokens, not characters, is what stops "art" from matching inside "start".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import regex  # DPR's pattern needs Unicode property classes (\p{L}...), which `re` lacks

_ALPHA_NUM = r"[\p{L}\p{N}\p{M}]+"
_NON_WS = r"[^\p{Z}\p{C}]"
_TOKEN = regex.compile(f"{_ALPHA_NUM}|{_NON_WS}", flags=regex.IGNORECASE | regex.UNICODE | regex.MULTILINE)
# Tokens never hold control characters (\p{C} is excluded above), so NUL can delimit them: a token sequence
# occurs in another exactly when "\0a\0b\0" is a substring of "\0...\0", which `in` checks at C speed.
_SEP = "\x00"


def simple_tokenize(text: str) -> list[str]:
    """DPR SimpleTokenizer words, uncased, after NFD normalisation.

    Lowercasing the whole text before matching gives the same tokens as DPR's per-token lowercasing: it only
    maps letters to letters (or letter + combining mark, which stays inside the same alphanumeric run).
    """
    return _TOKEN.findall(unicodedata.normalize("NFD", text).lower())


def _joined(tokens: Iterable[str]) -> str:
    return _SEP + _SEP.join(tokens) + _SEP


def has_answer(answers: Iterable[str], text: str) -> bool:
    """True if any answer's token sequence appears in `text`'s token sequence."""
    return AnswerMatcher(answers)(text)


class AnswerMatcher:
    """has_answer for one question's answers against many passages, tokenising the answers once."""

    def __init__(self, answers: Iterable[str]) -> None:
        # An answer with no tokens (DPR would count it as found everywhere) is dropped: it is a data error, not a hit.
        self._needles = [_joined(t) for t in (simple_tokenize(a) for a in answers) if t]

    def __call__(self, text: str) -> bool:
        haystack = _joined(simple_tokenize(text))
        return any(n in haystack for n in self._needles)
