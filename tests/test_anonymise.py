"""Entity anonymisation for readers (`cbqa.reader.anonymise`): sentinel placeholders per example, the same in passages, titles and
question, numbered by the example's generator, mapped back in the answer; on a blank English + entity ruler."""

from __future__ import annotations

import random

import pytest

from cbqa.core.errors import CbqaError
from cbqa.reader.anonymise import PLACEHOLDER, Anonymised, Anonymiser, example_rng, replacer
from cbqa.reader.floor import PassageNER
from retrieval_baseline.hits import Hit


@pytest.fixture(scope="module")
def anonymiser() -> Anonymiser:
    from spacy.lang.en import English

    import ner_masking  # noqa: F401  (registers salient_span_marker)

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "GPE", "pattern": "New York"},
            {"label": "GPE", "pattern": "New York City"},
            {"label": "GPE", "pattern": "Oslo"},
            {"label": "PERSON", "pattern": "Ada Berg"},
            {"label": "DATE", "pattern": "1956"},
            {"label": "WORK_OF_ART", "pattern": "Blue Hour"},
            {"label": "PERSON", "pattern": "Berg"},
            {"label": "PERSON", "pattern": "Ada Berg's"},
            {"label": "PERSON", "pattern": "Lars Holm"},
            {"label": "PERSON", "pattern": "Eva Holm"},
            {"label": "PERSON", "pattern": "Holm"},
        ]
    )
    nlp.add_pipe("rule_sentencizer", first=True)
    nlp.add_pipe("salient_span_marker", config={"labels": ["GPE", "PERSON", "DATE", "WORK_OF_ART"]})
    return Anonymiser(PassageNER(nlp=nlp))


HITS = [
    Hit("a#0", "Ada Berg", "Ada Berg was born in Oslo in 1956. She wrote Blue Hour.", 2.0),
    Hit("b#0", "New York City", "New York City is not New York state. Ada Berg moved to New York City.", 1.0),
]


def test_names_become_one_placeholder_each_everywhere(anonymiser: Anonymiser) -> None:
    a = anonymiser("Where was Ada Berg born?", HITS, random.Random(0))
    back = {name: ph for ph, name in a.names.items()}
    assert set(back) == {"Ada Berg", "Oslo", "1956", "Blue Hour", "New York City", "New York"}
    assert len(set(back.values())) == 6 and all(PLACEHOLDER.fullmatch(ph) for ph in back.values())
    assert "<extra_id_0>" not in back.values()  # the cloze blank of the reading task
    number = {name: int(ph[len("<extra_id_") : -1]) for name, ph in back.items()}  # a kind's own range of sentinels
    assert (
        number["Ada Berg"] in range(1, 25) and number["Oslo"] in range(25, 50) and number["New York"] in range(25, 50)
    )
    assert number["Blue Hour"] in range(50, 75) and number["1956"] in range(75, 100)
    assert a.question == f"Where was {back['Ada Berg']} born?"
    assert a.hits[0].title == back["Ada Berg"] and a.hits[1].title == back["New York City"]
    # the longest name wins where one holds another; nothing of a replaced name is left
    assert (
        a.hits[1].text
        == f"{back['New York City']} is not {back['New York']} state. {back['Ada Berg']} moved to {back['New York City']}."
    )
    assert not any(name in h.text for h in a.hits for name in back)
    assert [h.id for h in a.hits] == ["a#0", "b#0"] and [h.score for h in a.hits] == [2.0, 1.0]
    # answers: as the reader should write them first, then as given (an answer spaCy missed stays a string to copy)
    ph = back["Oslo"]
    assert a.answers(["Oslo", "Oslo, Norway", "Bergen"]) == (ph, f"{ph}, Norway", "Bergen", "Oslo", "Oslo, Norway")
    assert (
        a.restore(f"{back['Oslo']}") == "Oslo"
        and a.restore(f"near {back['New York']} and <extra_id_0>") == "near New York and <extra_id_0>"
    )
    assert a.in_question() == [back["Ada Berg"]]  # the question's own subject: never its answer
    cloze = anonymiser("Ada Berg: born in <extra_id_0> in 1956.", HITS, random.Random(1))
    assert cloze.question.count("<extra_id_0>") == 1 and "Ada Berg" not in cloze.question


def test_numbering_is_drawn_per_example_and_fixed_by_the_question_at_test_time(anonymiser: Anonymiser) -> None:
    drawn = {tuple(sorted(anonymiser("q", HITS, random.Random(seed)).names)) for seed in range(20)}
    assert len(drawn) > 15  # placeholders carry no identity from one example to the next
    q = "Where was Ada Berg born?"
    assert anonymiser(q, HITS, example_rng(q)).names == anonymiser(q, HITS, example_rng(q)).names
    assert anonymiser(q, HITS, example_rng(q)).names != anonymiser(q + " ", HITS, example_rng(q + " ")).names


def test_order_numbering_follows_first_mention_within_each_kind(anonymiser: Anonymiser) -> None:
    ordered = Anonymiser(anonymiser.ner, numbering="order")
    a = ordered("Where was Ada Berg born?", HITS, random.Random(0))
    assert {name: ph for ph, name in a.names.items()} == {
        "Ada Berg": "<extra_id_1>",
        "Oslo": "<extra_id_25>",
        "1956": "<extra_id_75>",
        "Blue Hour": "<extra_id_50>",
        "New York City": "<extra_id_26>",
        "New York": "<extra_id_27>",
    }
    assert ordered("q", HITS, random.Random(1)).names == ordered("q", HITS, random.Random(2)).names
    with pytest.raises(CbqaError, match="numbering"):
        Anonymiser(anonymiser.ner, numbering="alphabetical")


def test_a_person_is_one_placeholder_under_a_possessive_or_an_unambiguous_surname(anonymiser: Anonymiser) -> None:
    hits = [
        Hit(
            "a#0",
            "Ada Berg",
            "Ada Berg's alma mater is Oslo. Berg was born in 1956. Holm met Lars Holm and Eva Holm.",
            1.0,
        )
    ]
    a = Anonymiser(anonymiser.ner, numbering="order")("Where did Ada Berg study?", hits, random.Random(0))
    ada, lars, eva, holm = "<extra_id_1>", "<extra_id_3>", "<extra_id_4>", "<extra_id_2>"
    assert (
        a.hits[0].text
        == f"{ada}'s alma mater is <extra_id_25>. {ada} was born in <extra_id_75>. {holm} met {lars} and {eva}."
    )
    assert a.question == f"Where did {ada} study?" and a.hits[0].title == ada
    # the placeholder maps back to the full name; `Holm` (two people's surname) stays a name of its own
    assert a.names[ada] == "Ada Berg" and a.names[holm] == "Holm" and a.restore(ada) == "Ada Berg"


def test_helpers() -> None:
    fill = replacer({"Rome": "GPE1", "Romero": "PERSON2"})
    assert fill("Romero left Rome; Romeo stayed.") == "PERSON2 left GPE1; Romeo stayed."
    assert replacer({})("unchanged") == "unchanged"
    assert Anonymised("q", [], {}).restore("<extra_id_1>") == "<extra_id_1>"


def test_ban_tokens_masks_each_examples_beams() -> None:
    import torch

    from cbqa.reader.answering import BanTokens

    scores = BanTokens([[1], [], [0, 2]])(
        torch.zeros(6, 1, dtype=torch.long), torch.zeros(6, 4)
    )  # 3 examples x 2 beams
    inf = float("inf")
    assert scores.tolist() == [[0, -inf, 0, 0]] * 2 + [[0, 0, 0, 0]] * 2 + [[-inf, 0, -inf, 0]] * 2
