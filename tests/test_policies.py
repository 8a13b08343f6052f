"""Golden cases for the masking policies, T5's span-corruption arithmetic, determinism and the registry."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cbqa.core.errors import CbqaError
from ner_masking.policies import POLICY_NAMES, MaskedExample, PolicyConfig, make_policy, parse_option
from ner_masking.span_corruption import _roll, noise_counts, noise_spans
from ner_masking.store import SpanDoc

TEXT = "Zoë Ångström was born in Paris in 1900. She moved to Berlin. Nothing here."
DOC = SpanDoc(
    id="z",
    text=TEXT,
    sentences=[(0, 39), (40, 60), (61, 74)],
    spans=[(0, 12, "PERSON"), (25, 30, "GPE"), (34, 38, "DATE"), (53, 59, "GPE")],
)
EMPTY = SpanDoc(id="e", text="", sentences=[], spans=[])
NO_SPANS = SpanDoc(id="n", text="Nothing here at all.", sentences=[(0, 20)], spans=[])


# T5's mask as a boolean list and its runs: test-side views of `noise_spans`, to compare with T5's own arithmetic.
def random_spans_noise_mask(
    length: int, rng: random.Random, noise_density: float = 0.15, mean_noise_span_length: float = 3.0
) -> list[bool]:
    """T5's noise mask (True marks a noise unit), padded to length 2 and cut back, as T5 does."""
    mask = [False] * max(length, 2)
    for start, end in noise_spans(max(length, 2), rng, noise_density, mean_noise_span_length):
        mask[start:end] = [True] * (end - start)
    return mask[:length]


def noise_runs(mask: list[bool]) -> list[tuple[int, int]]:
    """[first, last] unit indices of each run of noise units."""
    runs: list[tuple[int, int]] = []
    for i, noisy in enumerate(mask):
        if noisy and (i == 0 or not mask[i - 1]):
            runs.append((i, i))
        elif noisy:
            runs[-1] = (runs[-1][0], i)
    return runs


def test_golden_doc_offsets():
    assert [TEXT[s:e] for s, e, _ in DOC.spans] == ["Zoë Ångström", "Paris", "1900", "Berlin"]
    assert [TEXT[s:e] for s, e in DOC.sentences] == [
        "Zoë Ångström was born in Paris in 1900.",
        "She moved to Berlin.",
        "Nothing here.",
    ]


def outputs(policy, doc=DOC, seeds=range(200)) -> set[tuple[str, str, str | None]]:
    out = set()
    for seed in seeds:
        ex = policy(doc, random.Random(seed))
        out.add((ex.input_text, ex.target_text, ex.label))
    return out


def test_ssm_masks_one_span_in_its_sentence_and_each_is_sampled():
    assert outputs(make_policy("ssm")) == {
        ("<extra_id_0> was born in Paris in 1900.", "<extra_id_0> Zoë Ångström <extra_id_1>", "PERSON"),
        ("Zoë Ångström was born in <extra_id_0> in 1900.", "<extra_id_0> Paris <extra_id_1>", "GPE"),
        ("Zoë Ångström was born in Paris in <extra_id_0>.", "<extra_id_0> 1900 <extra_id_1>", "DATE"),
        ("She moved to <extra_id_0>.", "<extra_id_0> Berlin <extra_id_1>", "GPE"),
    }


def test_ssm_t5cbqa_is_the_papers_format():
    """t5_closed_book_qa's mask_salient_spans: `nem: ` + sentence[:start] + `_X_` + sentence[limit:], target the span."""
    policy = make_policy("ssm_t5cbqa")
    assert [policy.example_for(DOC, span, random.Random(0)) for span in policy.spans(DOC)] == [
        MaskedExample("nem: _X_ was born in Paris in 1900.", "Zoë Ångström", "PERSON", "ssm_t5cbqa"),
        MaskedExample("nem: Zoë Ångström was born in _X_ in 1900.", "Paris", "GPE", "ssm_t5cbqa"),
        MaskedExample("nem: Zoë Ångström was born in Paris in _X_.", "1900", "DATE", "ssm_t5cbqa"),
        MaskedExample("nem: She moved to _X_.", "Berlin", "GPE", "ssm_t5cbqa"),
    ]
    assert policy.per_span  # training makes one item per span (next test)
    # as a plain policy it draws one of those four, each of them
    assert {(x, t) for x, t, _ in outputs(policy)} == {
        (e.input_text, e.target_text) for e in (policy.example_for(DOC, s, None) for s in policy.spans(DOC))
    }
    no_people = make_policy("ssm_t5cbqa", exclude_labels=["PERSON"])
    assert [s[2] for s in no_people.spans(DOC)] == ["GPE", "DATE", "GPE"]
    assert make_policy("ssm_t5cbqa")(NO_SPANS, random.Random(0)) is None
    assert make_policy("ssm_t5cbqa", prefix="fill: ", mask="<M>")(
        SpanDoc("x", "In 1900.", [(0, 8)], [(3, 7, "DATE")]), random.Random(0)
    ) == MaskedExample("fill: In <M>.", "1900", "DATE", "ssm_t5cbqa")


def test_ssm_t5cbqa_training_task_makes_one_item_per_span(tmp_path):
    from cbqa.training.tasks import MaskedTask, TaskConfig
    from ner_masking.store import load_span_store

    from helpers.ruler_store import ruler_store

    spans = ruler_store(tmp_path, n_docs=5)
    store = load_span_store(spans)
    task = MaskedTask(TaskConfig(name="ssm", kind="masked", spans=str(spans), policy="ssm_t5cbqa"))
    docs = store.docs()
    assert len(task) == sum(len(d.spans) for d in docs) == 30  # two names, two places, two years per document
    made = [task.example(i, random.Random(i)) for i in range(len(task))]
    expected = [
        ("nem: " + d.text[lo:s] + "_X_" + d.text[e:hi], d.text[s:e])
        for d in docs
        for s, e, _ in d.spans
        for lo, hi in [next((a, b) for a, b in d.sentences if a <= s and e <= b)]
    ]
    assert [(m.input_text, m.target_text) for m in made] == expected  # every (sentence, span) once, in order
    assert made[0].answers == (made[0].target_text,)
    dates = MaskedTask(
        TaskConfig(name="d", kind="masked", spans=str(spans), policy="ssm_t5cbqa", policy_options={"labels": ["DATE"]})
    )
    assert len(dates) == 10 and all(
        re.fullmatch(r"\d{4}", dates.example(i, random.Random(0)).target_text) for i in range(10)
    )


def test_span_corruption_over_one_sentence():
    policy = make_policy("span_corruption_t5cbqa")
    sentences = {TEXT[a:b] for a, b in DOC.sentences}
    for seed in range(50):
        ex = policy(DOC, random.Random(seed))
        restored = ex.input_text
        pieces = re.split(r"<extra_id_\d+>", ex.target_text)[1:]
        for i, piece in enumerate(pieces):
            restored = restored.replace(f"<extra_id_{i}>", piece.strip(), 1)
        assert restored in sentences  # one sentence of the document, corrupted; never the whole text
    assert (
        make_policy("span_corruption", context="sentence")(SpanDoc("x", "One.", [(0, 4)], []), random.Random(0)) is None
    )
    with pytest.raises(CbqaError, match="context must be one of document, sentence"):
        make_policy("span_corruption", context="page")


def test_ssm_label_options():
    assert {lab for *_, lab in outputs(make_policy("ssm", exclude_labels=["PERSON"]))} == {"GPE", "DATE"}
    assert {lab for *_, lab in outputs(make_policy("ssm", labels="DATE,PERSON"))} == {"DATE", "PERSON"}
    assert outputs(make_policy("typed_ssm", labels=["DATE"])) == {
        ("Zoë Ångström was born in Paris in <extra_id_0>.", "<extra_id_0> 1900 <extra_id_1>", "DATE")
    }
    assert make_policy("typed_ssm", labels=["ORG"])(DOC, random.Random(0)) is None
    with pytest.raises(CbqaError, match="typed_ssm needs labels"):
        make_policy("typed_ssm")


def test_ssm_passage_context_whole_text_when_it_fits():
    got = outputs(make_policy("ssm", context="passage", budget=1000, labels=["GPE"]))
    assert got == {
        (
            "Zoë Ångström was born in <extra_id_0> in 1900. She moved to Berlin. Nothing here.",
            "<extra_id_0> Paris <extra_id_1>",
            "GPE",
        ),
        (
            "Zoë Ångström was born in Paris in 1900. She moved to <extra_id_0>. Nothing here.",
            "<extra_id_0> Berlin <extra_id_1>",
            "GPE",
        ),
    }


def test_ssm_passage_word_budget_windows():
    # "Berlin." is one whitespace word: it stays whole; 2 more words go left or right, as drawn.
    got = {ex[0] for ex in outputs(make_policy("ssm", context="passage", budget=3, labels=["GPE"]))}
    assert got == {
        "moved to <extra_id_0>.",
        "to <extra_id_0>. Nothing",
        "<extra_id_0>. Nothing here.",
        "born in <extra_id_0>",
        "in <extra_id_0> in",
        "<extra_id_0> in 1900.",
    }


@pytest.mark.parametrize("unit", ["words", "chars"])
@pytest.mark.parametrize("budget", [1, 2, 5, 12, 30, 80])
def test_ssm_passage_window_properties(unit, budget):
    policy = make_policy("ssm", context="passage", budget=budget, budget_unit=unit)
    words = re.findall(r"\S+", TEXT)
    for seed in range(60):
        ex = policy(DOC, random.Random(seed))
        span = ex.target_text.split(" ", 1)[1].rsplit(" ", 1)[0]
        window = ex.input_text.replace("<extra_id_0>", span)
        assert window in TEXT and span in window
        window_words = window.split()
        assert all(w in words for w in window_words)  # whole words only
        touched = [w for w in window_words if span.split()[0] in w or span.split()[-1] in w]
        size = len(window_words) if unit == "words" else len(window)
        floor = len(span.split()) if unit == "words" else len(" ".join(touched))
        assert size <= max(budget, floor)


def test_ssm_title_prefixes_the_subject_and_drops_spans_the_title_shows():
    doc = SpanDoc(id="z", text=TEXT, sentences=DOC.sentences, spans=DOC.spans, title="Zoë Ångström")
    assert outputs(make_policy("ssm", title=True), doc) == {
        ("Zoë Ångström. Zoë Ångström was born in <extra_id_0> in 1900.", "<extra_id_0> Paris <extra_id_1>", "GPE"),
        ("Zoë Ångström. Zoë Ångström was born in Paris in <extra_id_0>.", "<extra_id_0> 1900 <extra_id_1>", "DATE"),
        ("Zoë Ångström. She moved to <extra_id_0>.", "<extra_id_0> Berlin <extra_id_1>", "GPE"),
    }
    # ssm_all too: the person span (in the title) is no longer a candidate.
    assert outputs(make_policy("ssm_all", title="true"), doc, seeds=range(50)) == {
        (
            "Zoë Ångström. Zoë Ångström was born in <extra_id_0> in <extra_id_1>.",
            "<extra_id_0> Paris <extra_id_1> 1900 <extra_id_2>",
            "GPE+DATE",
        ),
        ("Zoë Ångström. She moved to <extra_id_0>.", "<extra_id_0> Berlin <extra_id_1>", "GPE"),
    }
    # Only whole words of the title hide a span: "Paris" stays a candidate under the title "Parisa Tehrani".
    parisa = SpanDoc(id="z", text=TEXT, sentences=DOC.sentences, spans=DOC.spans, title="Parisa Tehrani")
    assert "Paris" in {t.split()[1] for _, t, _ in outputs(make_policy("ssm", title=True), parisa)}
    # Without a title the option changes nothing.
    assert outputs(make_policy("ssm", title=True)) == outputs(make_policy("ssm"))
    with pytest.raises(CbqaError, match="title must be true or false"):
        make_policy("ssm", title="yes")


def test_ssm_all_masks_every_span_of_one_sentence():
    assert outputs(make_policy("ssm_all")) == {
        (
            "<extra_id_0> was born in <extra_id_1> in <extra_id_2>.",
            "<extra_id_0> Zoë Ångström <extra_id_1> Paris <extra_id_2> 1900 <extra_id_3>",
            "PERSON+GPE+DATE",
        ),
        ("She moved to <extra_id_0>.", "<extra_id_0> Berlin <extra_id_1>", "GPE"),
    }
    assert outputs(make_policy("ssm_all", exclude_labels=["PERSON", "GPE"])) == {
        ("Zoë Ångström was born in Paris in <extra_id_0>.", "<extra_id_0> 1900 <extra_id_1>", "DATE")
    }


def test_spans_at_text_edges_and_unicode():
    doc = SpanDoc(id="u", text="Ångström, 1900", sentences=[(0, 14)], spans=[(0, 8, "PERSON"), (10, 14, "DATE")])
    assert outputs(make_policy("ssm_all"), doc) == {
        ("<extra_id_0>, <extra_id_1>", "<extra_id_0> Ångström <extra_id_1> 1900 <extra_id_2>", "PERSON+DATE")
    }
    # A doc stored without sentences uses the whole text as the span's context.
    bare = SpanDoc(id="b", text="Go to Paris now", sentences=[], spans=[(6, 11, "GPE")])
    assert make_policy("ssm")(bare, random.Random(0)).input_text == "Go to <extra_id_0> now"


def test_span_crossing_sentences_gets_both_sentences_as_context():
    # A store made with --keep-cross-sentence can hold "Smith. Jones" across a sentence boundary.
    doc = SpanDoc(
        id="x",
        text="A. I met Smith. Jones came. B.",
        sentences=[(0, 2), (3, 15), (16, 27), (28, 30)],
        spans=[(9, 21, "PERSON")],
    )
    assert outputs(make_policy("ssm"), doc) == {
        ("I met <extra_id_0> came.", "<extra_id_0> Smith. Jones <extra_id_1>", "PERSON")
    }
    assert outputs(make_policy("ssm_all"), doc) == outputs(make_policy("ssm"), doc)


@pytest.mark.parametrize("name", ["ssm", "ssm_all", "typed_ssm", "span_corruption", "mixture"])
def test_nothing_to_mask_returns_none(name):
    policy = make_policy(name, labels=["GPE"]) if name == "typed_ssm" else make_policy(name)
    assert policy(EMPTY, random.Random(0)) is None
    assert policy(SpanDoc(id="1", text="  word ", sentences=[], spans=[]), random.Random(0)) is None
    if name in ("ssm", "ssm_all", "typed_ssm"):
        assert policy(NO_SPANS, random.Random(0)) is None


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policies_deterministic_under_seed_and_dynamic_across_calls(name):
    policy = make_policy(name, labels=["GPE", "DATE"]) if name == "typed_ssm" else make_policy(name)
    # Three copies of DOC: T5's arithmetic gives a 13-word text one noise span, always at its end.
    k = len(TEXT) + 1
    doc = SpanDoc(
        id="x3",
        text=" ".join([TEXT] * 3),
        sentences=[(s + i * k, e + i * k) for i in range(3) for s, e in DOC.sentences],
        spans=[(s + i * k, e + i * k, lab) for i in range(3) for s, e, lab in DOC.spans],
    )
    runs = []
    for _ in range(2):
        rng = random.Random(1234)
        runs.append([policy(doc, rng) for _ in range(30)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1  # successive calls (epochs) mask differently


# --- span corruption -------------------------------------------------------------------------------


def t5_reference_counts(length: int, density: float, mean: float) -> tuple[int, int]:
    """T5's random_spans_noise_mask arithmetic, written with numpy float32 like the TF original."""
    length = max(length, 2)
    num_noise = int(np.round(np.float32(length) * np.float32(density)))
    num_noise = min(max(num_noise, 1), length - 1)
    num_spans = int(np.round(np.float32(num_noise) / np.float32(mean)))
    return num_noise, max(num_spans, 1)


@pytest.mark.parametrize(("density", "mean"), [(0.15, 3.0), (0.3, 3.0), (0.5, 1.0), (0.15, 2.5), (0.1, 8.0)])
def test_noise_counts_equal_t5_arithmetic(density, mean):
    for length in range(1, 3001):
        assert noise_counts(length, density, mean) == t5_reference_counts(length, density, mean), length


def test_noise_counts_hand_checked():
    assert noise_counts(1) == (1, 1)  # on the padded length 2
    assert noise_counts(10) == (2, 1)  # 1.5 -> 2
    assert noise_counts(30) == (4, 1)  # float32 30 * 0.15 == 4.5 exactly -> half to even -> 4
    assert noise_counts(100) == (15, 5)
    assert noise_counts(512) == (77, 26)


def test_noise_mask_shape_for_many_lengths():
    rng = random.Random(0)
    for length in range(2, 700):
        mask = random_spans_noise_mask(length, rng)
        num_noise, num_spans = noise_counts(length)
        assert len(mask) == length and sum(mask) == num_noise
        assert len(noise_runs(mask)) == num_spans
        assert not mask[0] and mask[-1]  # starts with kept units, ends with noise, as in T5
    assert random_spans_noise_mask(1, rng) == [False]


def test_span_corruption_golden_and_reconstruction():
    doc = SpanDoc(id="s", text="  Zoë  Ångström\twas born in Paris in 1900 ", sentences=[], spans=[])
    policy = make_policy("span_corruption")
    ex = policy(doc, random.Random(3))
    # 8 words: round(1.2) = 1 noise word in 1 span, and it is always the last word.
    assert ex == MaskedExample(
        "Zoë  Ångström\twas born in Paris in <extra_id_0>", "<extra_id_0> 1900", None, "span_corruption"
    )
    long_text = " ".join(f"w{i}" for i in range(100))
    for seed in range(20):
        ex = policy(SpanDoc(id="l", text=long_text, sentences=[], spans=[]), random.Random(seed))
        assert ex.input_text.count("<extra_id_") == 5 and ex.input_text.endswith("<extra_id_4>")
        pieces = re.split(r"<extra_id_\d+> ?", ex.target_text)[1:]
        assert sum(len(p.split()) for p in pieces) == 15
        rebuilt = ex.input_text
        for i, piece in enumerate(pieces):
            rebuilt = rebuilt.replace(f"<extra_id_{i}>", piece.strip())
        assert rebuilt == long_text


def test_rolled_spans_equal_rolled_mask():
    rng = random.Random(7)
    for length in range(2, 120):
        spans = noise_spans(length, rng)
        mask = [any(s <= i < e for s, e in spans) for i in range(length)]
        for shift in range(length):
            rolled = mask[-shift:] + mask[:-shift] if shift else mask
            assert [(a, b + 1) for a, b in noise_runs(rolled)] == _roll(spans, shift, length)


def test_span_corruption_random_roll():
    policy = make_policy("span_corruption", random_roll=True)
    got = outputs(policy, SpanDoc(id="r", text="a b c d e f g h", sentences=[], spans=[]), range(100))
    # One noise word (8 * 0.15 -> 1), rolled to any of the 8 positions; the target closes with a
    # sentinel when kept words follow the noise.
    assert len(got) == 8
    assert ("<extra_id_0> b c d e f g h", "<extra_id_0> a <extra_id_1>", None) in got
    assert ("a b c d e f g <extra_id_0>", "<extra_id_0> h", None) in got


def test_span_corruption_custom_units_and_window():
    text = "abcdefghijklmnopqrst"
    chars = make_policy("span_corruption", tokenize=lambda t: [(i, i + 1) for i in range(len(t))])
    ex = chars(SpanDoc(id="c", text=text, sentences=[], spans=[]), random.Random(0))
    assert len(ex.input_text.replace("<extra_id_0>", "")) == 17  # 3 of 20 characters are noise
    assert ex.target_text == f"<extra_id_0> {text[17:]}"
    windowed = make_policy("span_corruption", max_units=10)
    long_text = " ".join(f"w{i}" for i in range(50))
    ex = windowed(SpanDoc(id="l", text=long_text, sentences=[], spans=[]), random.Random(5))
    assert len(ex.input_text.split()) == 9 and ex.target_text.count(" ") == 2  # 10 words, 2 of them noise


# --- mixture, registry, config ---------------------------------------------------------------------


def test_mixture_weights_and_fallback():
    mix = make_policy("mixture", weights="ssm:0.8,span_corruption:0.2")
    rng = random.Random(0)
    counts = Counter(mix(DOC, rng).policy for _ in range(2000))
    assert 1500 < counts["ssm"] < 1700 and counts["ssm"] + counts["span_corruption"] == 2000
    # SSM has nothing to mask in a document without spans: the mixture falls back to span corruption.
    only_ssm_weight = make_policy(
        "mixture", components=[{"policy": "ssm", "weight": 1e6}, {"policy": "span_corruption", "weight": 1e-6}]
    )
    assert only_ssm_weight(NO_SPANS, random.Random(0)).policy == "span_corruption"
    typed = make_policy("mixture", components=[{"policy": "typed_ssm", "options": {"labels": ["DATE"]}}])
    assert typed(DOC, random.Random(0)).label == "DATE"


def test_registry_errors_and_config():
    with pytest.raises(CbqaError, match="unknown masking policy 'nope'; choose one of ssm"):
        make_policy("nope")
    with pytest.raises(CbqaError, match="no option.*colour.*takes labels"):
        make_policy("ssm", colour="red")
    with pytest.raises(CbqaError, match="context must be one of"):
        make_policy("ssm", context="page")
    with pytest.raises(CbqaError, match="mixture weight must be > 0"):
        make_policy("mixture", weights={"ssm": 0})
    policy = PolicyConfig(policy="ssm", policy_options={"labels": ["DATE", "GPE", "ORG"]}).build()
    assert policy.labels == ("DATE", "GPE", "ORG")
    assert PolicyConfig().build()(DOC, random.Random(0)) is not None


def test_parse_option():
    assert parse_option("budget=64") == ("budget", 64)
    assert parse_option("labels=DATE,GPE") == ("labels", "DATE,GPE")
    assert parse_option('labels=["DATE"]') == ("labels", ["DATE"])
    assert parse_option("context=passage") == ("context", "passage")
    with pytest.raises(CbqaError, match="key=value"):
        parse_option("budget")


def test_policies_import_light():
    code = (
        "import sys, ner_masking.policies, ner_masking.store, ner_masking.preview\n"
        "heavy = {'spacy', 'torch', 'lightning', 'streamlit', 'faiss', 'pyarrow', 'transformers'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    src = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": src}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
