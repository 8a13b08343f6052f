"""Golden cases for the salient_span_marker component on blank English + entity_ruler + sentencizer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from spacy.lang.en import English

from ner_masking.labels import DEFAULT_LABELS, NUMERIC_LABELS, expand_labels
from ner_masking.pipeline import doc_to_span_doc

SRC = str(Path(__file__).resolve().parents[1])  # the repository root, which holds the packages

PATTERNS = [
    {"label": "PERSON", "pattern": "Zoë Ångström"},
    {"label": "GPE", "pattern": "Paris"},
    {"label": "GPE", "pattern": "Berlin"},
    {"label": "GPE", "pattern": "New York"},
    {"label": "ORG", "pattern": "New York Times"},
    {"label": "DATE", "pattern": "1900"},
    {"label": "CARDINAL", "pattern": "three"},
    {"label": "PERSON", "pattern": [{"LOWER": "smith"}, {"ORTH": "."}, {"LOWER": "jones"}]},
]


def make_nlp(**config):
    nlp = English()
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    nlp.add_pipe("salient_span_marker", config=config)
    return nlp


def spans(doc, key="salient"):
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[key]]


def test_unicode_entities_at_text_start_and_end():
    text = "Zoë Ångström visited Paris in 1900"
    assert spans(make_nlp()(text)) == [(0, 12, "PERSON"), (21, 26, "GPE"), (30, 34, "DATE")]
    assert text[0:12] == "Zoë Ångström" and text[30:34] == "1900"


def test_numeric_labels_off_by_default_but_selectable():
    text = "Paris has three parks."
    assert spans(make_nlp()(text)) == [(0, 5, "GPE")]
    chosen = list(expand_labels(["default", "CARDINAL"]))
    assert spans(make_nlp(labels=chosen)(text)) == [(0, 5, "GPE"), (10, 15, "CARDINAL")]
    assert spans(make_nlp(labels=["CARDINAL"])(text)) == [(10, 15, "CARDINAL")]


def test_label_groups_expand():
    assert expand_labels(["default"]) == DEFAULT_LABELS
    assert expand_labels(["numeric"]) == NUMERIC_LABELS
    assert expand_labels(["DATE,GPE", "DATE", "time"]) == ("DATE", "GPE", "TIME")
    assert "CARDINAL" not in DEFAULT_LABELS and "DATE" in DEFAULT_LABELS


def test_adjacent_spans_kept_apart_unless_merged():
    text = "Zoë Ångström Paris 1900 was"
    assert spans(make_nlp()(text)) == [(0, 12, "PERSON"), (13, 18, "GPE"), (19, 23, "DATE")]
    # One run of three touching spans; the longest part (two tokens) names the label.
    assert spans(make_nlp(merge_adjacent=True)(text)) == [(0, 23, "PERSON")]


def test_merge_tie_takes_first_label_and_keeps_separated_spans():
    text = "Paris 1900 and Berlin"
    assert spans(make_nlp(merge_adjacent=True)(text)) == [(0, 10, "GPE"), (15, 21, "GPE")]


def test_nested_patterns_resolved_by_entity_ruler_longest():
    assert spans(make_nlp()("The New York Times is in New York.")) == [(4, 18, "ORG"), (25, 33, "GPE")]


def test_overlapping_and_nested_span_group_source():
    nlp = English()
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("span_ruler").add_patterns(
        [
            {"label": "GPE", "pattern": "New York"},  # nested in the ORG below
            {"label": "ORG", "pattern": "New York Times"},
            {"label": "ORG", "pattern": "Times Square Hotel"},  # overlaps the ORG above, same length
            {"label": "DATE", "pattern": "Hotel 1900"},  # overlaps, shorter
        ]
    )
    nlp.add_pipe("salient_span_marker", config={"source": "ruler"})
    doc = nlp("New York Times Square Hotel 1900")
    assert len(doc.spans["ruler"]) == 4
    # Longest first, then earliest: "New York Times" beats the nested "New York" and wins its length tie
    # with the overlapping "Times Square Hotel"; "Hotel 1900" no longer overlaps anything kept.
    assert spans(doc) == [(0, 14, "ORG"), (22, 32, "DATE")]


def test_span_crossing_sentence_dropped_unless_disabled():
    text = "I met Smith. Jones came to Paris."
    doc = make_nlp()(text)
    assert [s.start_char for s in doc.sents] == [0, 13]
    assert spans(doc) == [(27, 32, "GPE")]
    assert spans(make_nlp(drop_cross_sentence=False)(text)) == [(6, 18, "PERSON"), (27, 32, "GPE")]


def test_without_sentence_boundaries_nothing_is_dropped():
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    nlp.add_pipe("salient_span_marker")
    assert spans(nlp("I met Smith. Jones came.")) == [(6, 18, "PERSON")]


def test_sentences_without_spans_and_empty_docs():
    nlp = make_nlp()
    doc = doc_to_span_doc(nlp("Nothing here.  \n\n Paris is big. Nor here. "), "d1", "T")
    assert doc.sentences == [(0, 13), (18, 31), (32, 41)]
    assert doc.spans == [(18, 23, "GPE")]
    assert doc.title == "T"
    empty = doc_to_span_doc(nlp(""), "d2")
    assert (empty.text, empty.sentences, empty.spans) == ("", [], [])
    blank = doc_to_span_doc(nlp("   "), "d3")
    assert (blank.sentences, blank.spans) == ([], [])


def test_custom_spans_key():
    doc = make_nlp(spans_key="masks")("Paris")
    assert spans(doc, "masks") == [(0, 5, "GPE")] and "salient" not in doc.spans


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_entry_point_registration_in_fresh_process():
    code = (
        "import sys, spacy\n"
        "assert 'ner_masking' not in sys.modules\n"
        "nlp = spacy.blank('en')  # Language() loads the spacy_factories entry points\n"
        "assert spacy.registry.factories.get('salient_span_marker').__name__ == 'make_salient_span_marker'\n"
        "nlp.add_pipe('salient_span_marker')\n"
        "print(nlp.pipe_names, 'ner_masking.component' in sys.modules)\n"
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['salient_span_marker'] True"


@pytest.mark.slow
def test_saved_pipeline_with_marker_loads_in_fresh_process(tmp_path):
    make_nlp(labels=["GPE"], merge_adjacent=True).to_disk(tmp_path / "p")
    code = (
        "import spacy\n"
        f"nlp = spacy.load({str(tmp_path / 'p')!r})\n"
        "cfg = nlp.config['components']['salient_span_marker']\n"
        "doc = nlp('Zoë Ångström left Paris.')\n"
        "print(cfg['labels'], cfg['merge_adjacent'], [(s.start_char, s.end_char) for s in doc.spans['salient']])\n"
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['GPE'] True [(18, 23)]"


@pytest.mark.slow
def test_package_never_imports_lightning_streamlit_faiss():
    code = (
        "import sys, pkgutil, importlib, ner_masking\n"
        "for m in pkgutil.iter_modules(ner_masking.__path__):\n"
        "    importlib.import_module('ner_masking.' + m.name)\n"
        "print(sorted({'lightning', 'streamlit', 'faiss'} & {m.split('.')[0] for m in sys.modules}))\n"  # thinc may import torch
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_rule_sentencizer_applies_the_one_sentence_rule() -> None:
    from ner_masking.sentences import sentence_spans

    text = 'Daniel B. Burke led St. George\'s church. He said "Go." Then  more!  (Yes.) 3 cats.'
    nlp = English()
    nlp.add_pipe("rule_sentencizer")
    doc = nlp(text)
    got = [(s.start_char, s.end_char) for s in doc.sents]
    want = sentence_spans(text)
    assert [text[a:b].strip() for a, b in got] == [text[a:b] for a, b in want]
    assert [text[a:b] for a, b in want] == [
        "Daniel B. Burke led St. George's church.",
        'He said "Go."',
        "Then  more!",
        "(Yes.)",
        "3 cats.",
    ]
