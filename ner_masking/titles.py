"""Whether a document's title shows a span's text (whole words, case-folded): SSM with `title: true` does not mask
such a span, since the input would show the answer ("Emerson" is shown by the title "Laura Emerson"; the date
"May" is not shown by "Mayfield"). Pure functions, shared by the policy and by the store's per-document columns."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"\W+")


def words_key(text: str) -> str:
    """Lower-cased words joined by single spaces, padded with a space on each side, so a substring test on two
    keys matches whole words only."""
    return f" {_NON_WORD.sub(' ', text).strip().casefold()} "


def shown_by_title(title_key: str, span_text: str) -> bool:
    """`title_key` is `words_key(title)`."""
    return words_key(span_text) in title_key
