"""Small display helpers shared by the views: messages for bad input, answer verdicts, highlighted text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from cbqa.core.metrics import max_em, max_f1, normalize_answer

MAX_QUESTION_CHARS = 1000  # longer input is refused: no QA question is this long, it is a pasted document


@dataclass(frozen=True)
class InputNote:
    level: str  # "info" (nothing to do), "warning" (answered anyway) or "error" (refused)
    message: str


def check_question(question: str) -> InputNote | None:
    """Why a question cannot be answered, or should be read with care; None when it looks fine."""
    q = question.strip()
    if not q:
        return InputNote("info", "Type a question above, or pick one from the test set.")
    if len(q) > MAX_QUESTION_CHARS:
        return InputNote(
            "error",
            f"The question is {len(q):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Closed-book models read only the first 128 tokens: ask a short question.",
        )
    letters = [c for c in q if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) / len(letters) < 0.5:
        return InputNote(
            "warning",
            "This question does not look English (most letters are outside the Latin alphabet). The models "
            "were trained on English text, so their answers are unlikely to mean anything.",
        )
    return None


def show_note(note: InputNote) -> None:
    {"info": st.info, "warning": st.warning, "error": st.error}[note.level](note.message)


@contextmanager
def reported(what: str) -> Iterator[None]:
    """Run a block; an error becomes one red line in the page (what failed, and why), never a traceback."""
    try:
        yield
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        st.error(f"{what}: {reason}")


def verdict(prediction: str, golds: Sequence[str] | None) -> str:
    """A short right/wrong mark for an answer; empty when no gold answer is known."""
    if not golds:
        return ""
    if max_em(prediction, golds):
        return ":green[**right**]"
    partial = max_f1(prediction, golds)
    return f":orange[**partly right** (F1 {100 * partial:.0f})]" if partial > 0 else ":red[**wrong**]"


def is_right(prediction: str, golds: Sequence[str] | None, normaliser: str = "squad") -> bool | None:
    return None if not golds else bool(max_em(prediction, golds, normaliser))


def highlight(text: str, marks: Mapping[str, str]) -> str:
    """HTML of `text` (escaped) with each occurrence of a needle (case-insensitive, whole words) marked in
    its colour; `marks` maps needle -> CSS colour, and the longest needle wins where two overlap."""
    colours = {n.strip().lower(): c for n, c in marks.items() if normalize_answer(n)}
    if not colours:
        return html.escape(text)
    terms = sorted(colours, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        colour = colours[m.group(0).lower()]
        out += [
            html.escape(text[last : m.start()]),
            f'<mark style="background:{colour}">{html.escape(m.group(0))}</mark>',
        ]
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


ENTITY_COLOURS = {
    "PERSON": "#ffd6a5",
    "ORG": "#caffbf",
    "GPE": "#9bf6ff",
    "LOC": "#a0c4ff",
    "DATE": "#fdffb6",
    "NORP": "#bdb2ff",
    "FAC": "#ffc6ff",
    "EVENT": "#ffadad",
    "WORK_OF_ART": "#e4c1f9",
}


def entity_html(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """Escaped `text` with labelled character spans (start, end, label) shown as coloured marks."""
    out, last = [], 0
    for start, end, label in sorted(spans):
        if start < last:
            continue  # overlapping spans cannot be drawn inline; the span table lists them all
        colour = ENTITY_COLOURS.get(label, "#e0e0e0")
        out += [
            html.escape(text[last:start]),
            f'<mark style="background:{colour};padding:0 .2em;border-radius:.3em">{html.escape(text[start:end])}'
            f' <sub style="font-size:.7em">{html.escape(label)}</sub></mark>',
        ]
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)
