"""Models, indexes and data files, loaded once per process and shared by every session (`st.cache_resource`).

Each loader takes the file's modification time (`mtime`; no leading underscore, so Streamlit hashes it) as part
of its cache key, so a file that a running `cbqa demo` rewrites is read again, while an unchanged one is never
reloaded. Loaders raise the packages'
own errors (CbqaError, DataError, OSError); the views turn them into messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st


def stamp(path: Path) -> float:
    """Modification time of a file or directory (a cache key part); 0.0 when it is gone."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def answerer(model: str, mtime: float = 0.0, prefix: str | None = None, max_input_len: int = 128):
    """A closed-book model; `prefix` None: the input prefix the model was trained with (`cbqa.model.inputs`)."""
    from cbqa.model.inference import Answerer

    return Answerer(model, device="auto", prefix=prefix, max_input_len=max_input_len)


def load_answerer(model: str):
    """A closed-book model: hub name, HF directory or cbqa training run directory."""
    return answerer(model, stamp(Path(model)))


@st.cache_resource(show_spinner="Loading reader...", max_entries=4)
def _reader(model: str, mtime: float, record_mtime: float):
    from cbqa.reader.answering import Reader

    return Reader(model, device="auto")


def load_reader(model: str):
    """The retrieval baseline's reader (`cbqa.reader.answering.Reader`), reading as its run recorded: one input string
    (concat) or Fusion-in-Decoder over its top K passages; `.read([question], [hits])`, `.passages_read`."""
    from cbqa.reader.inputs import READER_INPUT_FILE

    return _reader(model, stamp(Path(model)), stamp(Path(model) / READER_INPUT_FILE))


@st.cache_resource(show_spinner="Loading retrieval index...", max_entries=4)
def _retrieval_index(index_dir: str, mtime: float):
    from retrieval_baseline import load_index

    return load_index(index_dir)


def retrieval_available() -> bool:
    try:
        from retrieval_baseline import load_index  # noqa: F401
    except ImportError:
        return False
    return True


def load_retrieval_index(index_dir: Path):
    return _retrieval_index(str(index_dir), stamp(index_dir / "manifest.json"))


@st.cache_resource(show_spinner="Reading questions...", max_entries=16)
def _qa(path: str, mtime: float):
    from cbqa.core.formats import read_qa

    return read_qa(path)


def load_qa(path: Path):
    return _qa(str(path), stamp(path))


@st.cache_resource(show_spinner="Reading predictions...", max_entries=32)
def _predictions(path: str, mtime: float):
    from cbqa.core.formats import read_predictions

    return read_predictions(path)


def load_predictions(path: Path):
    return _predictions(str(path), stamp(path))


@st.cache_resource(show_spinner="Reading overlap labels...", max_entries=8)
def _overlap_rows(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    from cbqa.core.formats.jsonl import read_jsonl

    return {str(row["id"]): row for _, row in read_jsonl(path) if "id" in row}


def load_overlap_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Overlap label rows (computed or gold) keyed by test question id."""
    return _overlap_rows(str(path), stamp(path))


@st.cache_resource(show_spinner="Indexing training questions...", max_entries=8)
def _question_index(train: str, mtime: float, method: str):
    from cbqa.overlap.question_similarity import build_index

    return build_index(method, _qa(train, mtime))


def load_question_index(train: Path, method: str):
    return _question_index(str(train), stamp(train), method)


@st.cache_resource(show_spinner="Indexing training answers...", max_entries=8)
def _answer_index(train: str, mtime: float):
    from cbqa.overlap.answer_overlap import AnswerIndex

    return AnswerIndex(_qa(train, mtime))


def load_answer_index(train: Path):
    return _answer_index(str(train), stamp(train))


@st.cache_resource(show_spinner="Opening the corpus index...", max_entries=4)
def _corpus_index(directory: str, mtime: float):
    from cbqa.overlap.corpus_overlap import CorpusIndex

    return CorpusIndex.open(directory)


def load_corpus_index(overlap_labels: Path | None):
    """The on-disk corpus index `cbqa overlap --corpus` keeps next to a run's overlap labels. The app only opens it
    (memory-mapped); it never indexes a corpus itself."""
    from cbqa.core.errors import CbqaError
    from cbqa.overlap.corpus_overlap import default_corpus_index_dir

    if overlap_labels is None:
        raise CbqaError("this run has no overlap labels, so no corpus index; run `cbqa overlap --corpus ...`")
    directory = default_corpus_index_dir(overlap_labels)
    if not (directory / "manifest.json").exists():
        raise CbqaError(
            f"no corpus index at {directory}; `cbqa overlap --corpus CORPUS --out {overlap_labels}` builds it"
        )
    return _corpus_index(str(directory), stamp(directory / "manifest.json"))


@st.cache_resource(show_spinner="Computing overlap labels (TF-IDF)...", max_entries=4)
def _computed_overlap(train: str, test: str, mtimes: tuple[float, float]) -> list[dict[str, Any]]:
    from cbqa.overlap import OverlapConfig, label_overlap

    return label_overlap(_qa(train, mtimes[0]), _qa(test, mtimes[1]), OverlapConfig(methods=("tfidf",)))


def compute_overlap(train: Path, test: Path) -> list[dict[str, Any]]:
    """Overlap rows for a train/test pair that has no stored labels (TF-IDF, default threshold)."""
    return _computed_overlap(str(train), str(test), (stamp(train), stamp(test)))


@st.cache_resource(show_spinner="Loading the spaCy pipeline...", max_entries=2)
def spacy_pipeline(model: str):
    from ner_masking.pipeline import build_pipeline

    return build_pipeline(model)


@st.cache_data(show_spinner=False, max_entries=64)
def _metrics_csv(path: str, mtime: float):
    import pandas as pd

    return pd.read_csv(path)


def load_metrics_csv(path: Path):
    return _metrics_csv(str(path), stamp(path))


@st.cache_data(show_spinner="Calibrating the model's confidence on the dev set (once per model)...", max_entries=16)
def _confidence_floor(model: str, mtime: float, dev: str, dev_mtime: float, limit: int = 300) -> float | None:
    import numpy as np

    from cbqa.core.formats import read_qa
    from cbqa.core.metrics import max_em

    examples = read_qa(dev)[:limit]
    model_ = answerer(model, mtime)
    answers = [c[0].text for c in model_.answer([e.question for e in examples])]
    right = [(e.question, a) for e, a in zip(examples, answers) if a and max_em(a, e.answers)]
    if len(right) < 10:  # too few correct answers for a percentile
        return None
    scores = model_.mean_token_logprob([q for q, _ in right], [a for _, a in right])
    return float(np.percentile(scores, 5))


def confidence_floor(model: str, dev: Path | None) -> float | None:
    """The 5th percentile of the mean token log-probability of the model's correct greedy answers on the dev set:
    an answer below it is less sure than 95% of the answers the model gets right. None without a dev set, or when the
    model gets fewer than 10 dev questions right."""
    if dev is None:
        return None
    return _confidence_floor(model, stamp(Path(model)), str(dev), stamp(dev))


@st.cache_resource(show_spinner="Reading cloze results...", max_entries=8)
def _cloze(directory: str, mtime: float):
    import json

    from cbqa.core.formats.jsonl import read_jsonl

    results = json.loads((Path(directory) / "cloze.json").read_text(encoding="utf-8"))
    facts_path = Path(directory) / "facts.jsonl"
    facts = [row for _, row in read_jsonl(facts_path)] if facts_path.exists() else []
    return results, facts


def load_cloze(directory: Path):
    """(results, per-fact rows) of a `cbqa cloze` output directory (the demo's is RUN/cloze)."""
    return _cloze(str(directory.resolve()), stamp(directory / "cloze.json"))


@st.cache_resource(show_spinner="Reading the LAMA files...", max_entries=8)
def _cloze_set(files: tuple[str, ...], relations: str | None, mtimes: tuple[float, ...]):
    from cbqa.memorisation.run_cloze import load_cloze_set

    return load_cloze_set(list(files), relations)


def load_cloze_set(files: list[Path], relations: Path | None):
    """The probe items and each relation's candidates of LAMA files (`cbqa.memorisation.run_cloze.ClozeSet`)."""
    mtimes = tuple(stamp(p) for p in [*files, *([relations] if relations else [])])
    return _cloze_set(tuple(map(str, files)), str(relations) if relations else None, mtimes)


@st.cache_resource(show_spinner="Running the cloze probe (every object of each relation, per model)...", max_entries=4)
def _cloze_probe(models: tuple[tuple[str, str], ...], files: tuple[str, ...], relations: str | None, mtimes: tuple):
    from cbqa.memorisation.run_cloze import ClozeConfig, run_cloze

    cset = _cloze_set(files, relations, mtimes[: len(files) + (relations is not None)])
    loaded = {name: answerer(path, stamp(Path(path)), prefix="") for name, path in models}
    result = run_cloze(
        {name: (a.net, a.tok) for name, a in loaded.items()}, cset, ClozeConfig(mode="rank", k=5), progress=False
    )
    for name, path in models:
        result["results"]["models"][name]["path"] = path
    return result["results"], result["facts"]


def cloze_probe(models: dict[str, str], files: list[Path], relations: Path | None):
    """Rank-mode cloze results of `models` over LAMA files, computed here (for a run without stored ones)."""
    mtimes = tuple(stamp(p) for p in [*files, *([relations] if relations else [])])
    mtimes += tuple(stamp(Path(p)) for p in models.values())
    return _cloze_probe(tuple(models.items()), tuple(map(str, files)), str(relations) if relations else None, mtimes)
