"""DPR has_answer semantics, and a real-data check on SQuAD where every answer is in its passage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval_baseline.has_answer import has_answer, simple_tokenize

SQUAD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "squad_v1.1_dev"


def test_tokenizer_splits_punctuation_and_lowercases() -> None:
    assert simple_tokenize("The U.S. Army's $12-million plan!") == [
        "the",
        "u",
        ".",
        "s",
        ".",
        "army",
        "'",
        "s",
        "$",
        "12",
        "-",
        "million",
        "plan",
        "!",
    ]


@pytest.mark.parametrize(
    ("answers", "text", "expected"),
    [
        (["Denver Broncos"], "The DENVER broncos won Super Bowl 50.", True),  # case
        (["denver broncos"], "...beat the Denver Broncos, 24-10.", True),  # trailing punctuation in the text
        (["$12"], "rose to nearly $12 globally", True),  # punctuation inside the answer
        (["U.S."], "the U.S. economy", True),
        (["U.S."], "the US economy", False),  # "us" is one token; "u . s ." is four
        (["24–10"], "won 24–10 over", True),  # non-ASCII dash is its own token on both sides
        (["art"], "the start of the party", False),  # not a substring of a longer token
        (["Broncos Denver"], "Denver Broncos", False),  # multi-token order matters
        (["New York City"], "in New York, City Hall", False),  # the comma breaks the run
        (["New York City"], "in New York City.", True),
        (["long-term"], "many long-term effects", True),
        (["long term"], "many long-term effects", False),  # "-" is a token between them
        (["nope", "effects"], "many long-term effects", True),  # any alias
        (["café"], "CAFÉ society", True),  # NFD + uncased
        (["cafe"], "café society", False),  # the accent is a combining mark inside the token (DPR keeps it)
        ([], "anything", False),
        (["..."], "no dots here", False),
    ],
)
def test_has_answer(answers: list[str], text: str, expected: bool) -> None:
    assert has_answer(answers, text) is expected


def test_squad_answers_are_found_in_their_own_passages() -> None:
    if not SQUAD.exists():
        pytest.skip(f"shared data folder {SQUAD} is absent")
    passages = {}
    with (SQUAD / "passages.jsonl").open(encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            passages[p["id"]] = p["text"]
    found = total = 0
    with (SQUAD / "qa.jsonl").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 3000:
                break
            q = json.loads(line)
            total += 1
            found += has_answer(q["answers"], passages[q["passage_id"]])
    # Every SQuAD answer is a verbatim span of its passage; token matching only misses spans cut mid-token.
    assert found / total > 0.99, (found, total)
