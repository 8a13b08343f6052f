"""Lewis et al. (2021) overlap labels and the single-category summary, as pure logic.

A test question gets the label list the released QA-Overlap annotations use:
`total` always; `answer_overlap` or `no_answer_overlap`; `question_overlap` or `no_question_overlap` only
where a question-overlap decision exists (the released NQ file has it for 996 of 3,610 questions);
`answer_overlap_only` when the answer overlaps but the question was judged not to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TOTAL = "total"
QUESTION_OVERLAP = "question_overlap"
NO_QUESTION_OVERLAP = "no_question_overlap"
ANSWER_OVERLAP = "answer_overlap"
NO_ANSWER_OVERLAP = "no_answer_overlap"
ANSWER_OVERLAP_ONLY = "answer_overlap_only"
NO_OVERLAP = "no_overlap"

# Order of the released labels (and of our tables); `no_overlap` is ours: neither answer nor question
# overlaps, the bucket Lewis et al. call "no overlap" in their result tables.
LABELS: tuple[str, ...] = (
    TOTAL,
    QUESTION_OVERLAP,
    NO_QUESTION_OVERLAP,
    ANSWER_OVERLAP,
    NO_ANSWER_OVERLAP,
    ANSWER_OVERLAP_ONLY,
    NO_OVERLAP,
)

# The single `category` field: mutually exclusive, None where question overlap is undecided.
CATEGORIES: tuple[str, ...] = (QUESTION_OVERLAP, ANSWER_OVERLAP_ONLY, NO_OVERLAP)


def labels_for(answer_overlap: bool, question_overlap: bool | None) -> list[str]:
    """The label list for one test question; `question_overlap=None` means "not annotated"."""
    labels = [TOTAL]
    if question_overlap is not None:
        labels.append(QUESTION_OVERLAP if question_overlap else NO_QUESTION_OVERLAP)
    labels.append(ANSWER_OVERLAP if answer_overlap else NO_ANSWER_OVERLAP)
    if question_overlap is False and answer_overlap:
        labels.append(ANSWER_OVERLAP_ONLY)
    if question_overlap is False and not answer_overlap:
        labels.append(NO_OVERLAP)
    return labels


def category_for(answer_overlap: bool, question_overlap: bool | None) -> str | None:
    """question_overlap > answer_overlap_only > no_overlap; None if question overlap is undecided."""
    if question_overlap is None:
        return None
    if question_overlap:
        return QUESTION_OVERLAP
    return ANSWER_OVERLAP_ONLY if answer_overlap else NO_OVERLAP


def decisions_from_labels(labels: Iterable[str]) -> tuple[bool, bool | None]:
    """Inverse of `labels_for`: (answer_overlap, question_overlap or None) from a label list.

    Raises ValueError on contradictory or unknown labels, so a bad labels file is reported, not guessed at.
    """
    found = set(labels)
    unknown = found - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; expected some of {list(LABELS)}")
    if ANSWER_OVERLAP in found and NO_ANSWER_OVERLAP in found:
        raise ValueError("both 'answer_overlap' and 'no_answer_overlap'")
    if QUESTION_OVERLAP in found and NO_QUESTION_OVERLAP in found:
        raise ValueError("both 'question_overlap' and 'no_question_overlap'")
    if ANSWER_OVERLAP not in found and NO_ANSWER_OVERLAP not in found:
        raise ValueError("neither 'answer_overlap' nor 'no_answer_overlap'")
    answer = ANSWER_OVERLAP in found
    question: bool | None = None
    if QUESTION_OVERLAP in found:
        question = True
    elif NO_QUESTION_OVERLAP in found:
        question = False
    return answer, question


def count_labels(label_lists: Sequence[Sequence[str]]) -> dict[str, int]:
    """How many questions carry each label, in `LABELS` order (zero counts kept)."""
    counts = dict.fromkeys(LABELS, 0)
    for labels in label_lists:
        for label in set(labels):
            if label in counts:
                counts[label] += 1
    return counts


def overlap_row(
    qid: str, question: str, answers: list[str], answer_overlap: bool, question_overlap: bool | None
) -> dict:
    """The fields every overlap.jsonl row has, whether computed here or converted from released labels."""
    return {
        "id": qid,
        "question": question,
        "answers": answers,
        "labels": labels_for(answer_overlap, question_overlap),
        "category": category_for(answer_overlap, question_overlap),
        "answer_overlap": answer_overlap,
        "question_overlap": question_overlap,
    }


def at_threshold(row: dict, method: str, threshold: float) -> dict:
    """`row` (a computed overlap row) relabelled as if `method`'s threshold were `threshold`: question overlap when
    any method's decision passes (this one at the new threshold, the others as stored), so its category follows.
    Rows without a score for `method` (released labels) are returned unchanged."""
    decisions = row.get("question_decision") or {}
    if method not in decisions:
        return row
    score = decisions[method].get("score")
    passed = {m: bool(d.get("overlap")) for m, d in decisions.items()}
    passed[method] = score is not None and score >= threshold
    question = any(passed.values())
    answer = bool(row.get("answer_overlap"))
    return {
        **row,
        "question_overlap": question,
        "labels": labels_for(answer, question),
        "category": category_for(answer, question),
    }
