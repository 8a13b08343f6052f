"""Knowledge overlap with a pretraining corpus: does a gold answer occur in it, and next to the question's terms?

Definitions (documented in docs/overlap.md):

- Text is compared after `normalize_answer` (SQuAD: lowercase, no punctuation, no articles, folded
  whitespace), so an answer occurs in a sentence when its normalised token sequence is a contiguous
  token subsequence of the normalised sentence. Answers are matched within one sentence.
- Sentences are those of a spans store when one is given (`CorpusIndex.from_span_store`), else the project's one
  rule-based splitter (`ner_masking.sentences`, the rule `cbqa ner` also applies); spaCy never runs here, so this
  stays cheap on large corpora. A document is the "passage".
- Question terms are (a) entity-like spans: maximal runs of capitalised words of the question, not counting
  a capitalised first word that is a stopword or question word, and (b) content words: normalised question
  tokens that are not English stopwords (scikit-learn's list) or question words. Words of the answer itself
  are not question terms, so an answer cannot be its own evidence.
- `with_question_term` is "sentence" when some sentence holds both an answer and a question term, else
  "passage" when a document holds an answer sentence and a question term elsewhere, else null.

The index is a directory on disk, built in one streaming pass and memory-mapped when opened, so neither building
nor querying holds the corpus in memory (a 2M-passage corpus builds in well under 4 GB; the app only opens it):

    manifest.json       format, what it was built from (corpus fingerprint, sentence source), counts
    sentences/          shard-NNNNN.arrow: text (as written), norm (" normalised text ", padded), doc (int32)
    docs/               shard-NNNNN.arrow: id, title
    doc_start.npy       int64, first sentence id of each document (+ the total): documents own contiguous sentences
    terms.npy           uint64, sorted: a stable 64-bit hash (blake2b) of each normalised token
    offsets.npy         int64, len(terms) + 1: where each term's postings start in postings.npy
    postings.npy        uint32 (int64 past 4G sentences): sentence ids, ascending within each term

A lookup takes the postings of the answer's tokens (rarest first) and keeps the sentence ids found in every list
(binary search, touching a few pages of the long lists); for a multi-word answer or question term, Arrow's substring
match over just those candidates' normalised text then checks order and adjacency. Nothing scans the corpus per
question and nothing makes a Python object per matching sentence, so an answer held by millions of sentences costs
milliseconds. A one-word lookup trusts the 64-bit token hash (two of 10^7 distinct tokens collide with probability
~3e-6). The
postings are built in bounded memory: each chunk of sentences appends its (hash, sentence) pairs to one of 64 bucket
files by the hash's top bits, and each bucket is then sorted alone.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pydantic import StrictStr

from cbqa.core.contracts import Contract, Count, read_contract, write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.corpus import Document
from cbqa.core.io import atomic_path, replace_dir, staging_dir
from cbqa.core.metrics import normalize_answer
from cbqa.core.progress import progress_bar
from cbqa.core.shards import MappedShard, RowShard, ShardedRows, shard_name, write_shard
from ner_masking.sentences import split_sentences
from ner_masking.store import SpanStore

_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how name list tell give did does do is are was were".split()
)


def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _QUESTION_WORDS


@dataclass(frozen=True)
class QuestionTerms:
    entities: tuple[str, ...]  # normalised multi- or single-word spans
    content_words: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.entities + self.content_words))


def question_terms(
    question: str, answers: Sequence[str] = (), stopwords: frozenset[str] | None = None
) -> QuestionTerms:
    stop = _stopwords() if stopwords is None else stopwords
    answer_tokens = {t for a in answers for t in normalize_answer(a).split()}
    words = question.split()
    entities: list[str] = []
    run: list[str] = []
    for i, w in enumerate(words + [""]):  # sentinel flushes the last run
        stripped = w.strip("\"'“”‘’()[],.?!:;")
        capitalised = bool(stripped) and stripped[0].isupper()
        if capitalised and i == 0 and stripped.lower() in stop:
            capitalised = False  # "What", "The" at the start are not names
        if capitalised:
            run.append(stripped)
            continue
        if run:
            span = normalize_answer(" ".join(run))
            if span and not set(span.split()) <= answer_tokens:
                entities.append(span)
            run = []
    content = [t for t in normalize_answer(question).split() if t not in stop and t not in answer_tokens and len(t) > 1]
    return QuestionTerms(tuple(dict.fromkeys(entities)), tuple(dict.fromkeys(content)))


@dataclass
class CorpusEvidence:
    answer_in_corpus: bool
    answer: str | None = None  # the gold alias that was found
    answer_sentences: int = 0  # sentences that contain some gold alias
    with_question_term: str | None = None  # "sentence" | "passage" | None
    matched_terms: list[str] = field(default_factory=list)
    doc_id: str | None = None
    title: str | None = None
    sentence: str | None = None  # the evidence sentence, as written in the corpus

    def to_json(self) -> dict[str, Any]:
        return {
            "answer_in_corpus": self.answer_in_corpus,
            "answer": self.answer,
            "answer_sentences": self.answer_sentences,
            "with_question_term": self.with_question_term,
            "matched_terms": self.matched_terms,
            "evidence": None
            if self.sentence is None
            else {"doc_id": self.doc_id, "title": self.title, "sentence": self.sentence},
        }


INDEX_FORMAT = "cbqa-corpus-index/1"
MANIFEST = "manifest.json"
_BUCKET_BITS = 6  # 64 bucket files while building postings
_CHUNK_SENTENCES = 100_000  # sentences per shard and per batch of postings


def token_hash(token: str) -> int:
    """A stable 64-bit hash of a normalised token (Python's own `hash` of a str changes between processes)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def _hashes(tokens: Iterable[str]) -> np.ndarray:
    return np.fromiter((token_hash(t) for t in tokens), dtype=np.uint64)


DocSentences = tuple[str, str, Iterable[str]]  # (document id, title, its sentences as written)


def corpus_sentences(docs: Iterable[Document]) -> Iterator[DocSentences]:
    """Documents with their sentences by the project's one rule (`ner_masking.sentences`)."""
    for doc in docs:
        yield doc.id, doc.title, split_sentences(doc.text)


def store_sentences(store: SpanStore) -> Iterator[DocSentences]:
    """Documents with the sentences a spans store holds (the ones SSM masks in), read shard by shard."""
    for d in store:
        yield d.id, d.title, [d.text[s:e] for s, e in d.sentences]


class _Appender:
    """Appends arrays to a raw file; `save(path)` turns it into a `.npy` of one dtype, copied in chunks."""

    def __init__(self, path: Path, dtype: Any) -> None:
        self.path, self.dtype, self.n = path, np.dtype(dtype), 0
        self._f: BinaryIO = path.open("wb")

    def add(self, values: np.ndarray) -> None:
        self._f.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.n += len(values)

    def save(self, path: Path, dtype: Any | None = None) -> None:
        self._f.close()
        raw = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.n,)) if self.n else np.zeros(0, self.dtype)
        with atomic_path(path, suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype or self.dtype, shape=(self.n,))
            for start in range(0, self.n, 1 << 24):
                out[start : start + (1 << 24)] = raw[start : start + (1 << 24)]
            out.flush()
            del out
        del raw
        self.path.unlink()


def build_corpus_index(
    docs: Iterable[DocSentences], directory: str | Path, source: dict[str, Any], show_progress: bool = False
) -> Path:
    """Index the sentences of `docs` into `directory` (built next to it, published atomically); `source` says what
    they came from (recorded, and compared by `open_or_build_corpus_index`)."""
    directory = Path(directory)
    tmp = staging_dir(directory)
    try:
        _build(docs, tmp, source, show_progress)
        replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _build(docs: Iterable[DocSentences], out: Path, source: dict[str, Any], show_progress: bool) -> None:
    import pyarrow as pa

    (out / "sentences").mkdir()
    (out / "docs").mkdir()
    work = out / ".build"
    work.mkdir()
    buckets = [(work / f"bucket-{b:02d}.bin").open("wb") for b in range(1 << _BUCKET_BITS)]
    doc_start = _Appender(work / "doc_start.bin", np.int64)
    sent_schema = pa.schema([("text", pa.string()), ("norm", pa.string()), ("doc", pa.int32())])
    doc_schema = pa.schema([("id", pa.string()), ("title", pa.string())])
    sent_shards: list[dict[str, Any]] = []
    doc_shards: list[dict[str, Any]] = []
    sents: dict[str, list[Any]] = {"text": [], "norm": [], "doc": []}
    doc_ids: list[str] = []
    doc_titles: list[str] = []
    tokens: list[str] = []
    counts: list[int] = []
    n_sent = n_doc = n_pairs = 0

    def flush_sentences() -> None:
        nonlocal n_pairs
        if sents["text"]:
            name = shard_name(len(sent_shards))
            write_shard(out / "sentences" / name, sents, sent_schema)
            sent_shards.append({"file": name, "rows": len(sents["text"])})
        first = n_sent - len(sents["text"])
        if tokens:
            vocab = dict.fromkeys(tokens)
            local = np.fromiter(
                map({t: i for i, t in enumerate(vocab)}.__getitem__, tokens), dtype=np.int64, count=len(tokens)
            )
            pair_hash = _hashes(vocab)[local]
            pair_sid = np.repeat(np.arange(first, n_sent, dtype=np.uint64), counts)
            bucket = (pair_hash >> np.uint64(64 - _BUCKET_BITS)).astype(np.int64)
            order = np.argsort(bucket, kind="stable")  # keeps sentence order within each bucket
            pairs = np.empty((len(order), 2), dtype=np.uint64)
            pairs[:, 0], pairs[:, 1] = pair_hash[order], pair_sid[order]
            bounds = np.searchsorted(bucket[order], np.arange((1 << _BUCKET_BITS) + 1))
            for b in range(1 << _BUCKET_BITS):
                if bounds[b] < bounds[b + 1]:
                    buckets[b].write(pairs[bounds[b] : bounds[b + 1]].tobytes())
            n_pairs += len(tokens)
        for v in sents.values():
            v.clear()
        tokens.clear()
        counts.clear()

    def flush_docs() -> None:
        if doc_ids:
            name = shard_name(len(doc_shards))
            write_shard(out / "docs" / name, {"id": doc_ids, "title": doc_titles}, doc_schema)
            doc_shards.append({"file": name, "rows": len(doc_ids)})
        doc_ids.clear()
        doc_titles.clear()

    def indexed() -> str:
        return f"indexing corpus sentences: {n_doc:,} documents, {n_sent:,} sentences"

    with progress_bar(indexed(), total=None, enabled=show_progress) as advance:
        for doc_id, title, sentences in docs:
            doc_start.add(np.array([n_sent]))
            doc_ids.append(doc_id)
            doc_titles.append(title)
            for sent in sentences:
                norm = normalize_answer(sent)
                if not norm:
                    continue
                sents["text"].append(sent)
                sents["norm"].append(f" {norm} ")
                sents["doc"].append(n_doc)
                unique = set(norm.split())
                tokens.extend(unique)
                counts.append(len(unique))
                n_sent += 1
                if len(sents["text"]) >= _CHUNK_SENTENCES:
                    flush_sentences()
            n_doc += 1
            if len(doc_ids) >= _CHUNK_SENTENCES:
                flush_docs()
            if n_doc % 10_000 == 0:
                advance(0, description=indexed())
        flush_sentences()
        flush_docs()
    doc_start.add(np.array([n_sent]))
    for f in buckets:
        f.close()
    if n_sent >= 2**31:
        raise CbqaError(f"{n_sent} sentences: more than the int32 document column of a corpus index holds")

    terms = _Appender(work / "terms.bin", np.uint64)
    offsets = _Appender(work / "offsets.bin", np.int64)
    postings = _Appender(work / "postings.bin", np.uint32 if n_sent < 2**32 else np.uint64)
    offsets.add(np.zeros(1, dtype=np.int64))
    for b in range(1 << _BUCKET_BITS):  # bucket b holds the hashes with top bits b: buckets in order = hashes in order
        path = work / f"bucket-{b:02d}.bin"
        pairs = np.fromfile(path, dtype=np.uint64).reshape(-1, 2)
        path.unlink()
        if not len(pairs):
            continue
        order = np.argsort(pairs[:, 0], kind="stable")  # sentence ids were appended in order: they stay ascending
        hashes, sids = pairs[order, 0], pairs[order, 1]
        del pairs, order
        starts = np.flatnonzero(np.concatenate([[True], hashes[1:] != hashes[:-1]]))
        terms.add(hashes[starts])
        offsets.add(postings.n + np.append(starts[1:], len(hashes)))
        postings.add(sids)
    for name, appender in (("terms", terms), ("offsets", offsets), ("postings", postings), ("doc_start", doc_start)):
        appender.save(out / f"{name}.npy")
    shutil.rmtree(work)
    manifest = CorpusIndexManifest(
        format=INDEX_FORMAT,
        source=source,
        docs=n_doc,
        sentences=n_sent,
        terms=terms.n,
        postings=postings.n,
        sentence_shards=sent_shards,
        doc_shards=doc_shards,
    )
    write_contract(out / MANIFEST, manifest)


class _Column(Sequence[str]):
    """One string column of a sharded table, by global row (a view: nothing is read until a row is asked for)."""

    def __init__(self, rows: ShardedRows[MappedShard], name: str) -> None:
        self._rows, self._name = rows, name

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        shard, row = self._rows.locate(int(i))
        return self._rows.view(shard).strings(self._name)[row]


def _sharded(directory: Path, shards: list[RowShard]) -> ShardedRows[MappedShard]:
    return ShardedRows(
        [directory / s.file for s in shards], [s.rows for s in shards], lambda p: MappedShard(p, "corpus index shard")
    )


class CorpusIndexManifest(Contract):
    """`manifest.json` of a corpus index: what it was built from (`source`), its counts and its shards."""

    FORMAT = {"format": INDEX_FORMAT}
    WHAT = "corpus index"
    HINT = "rebuild it with cbqa overlap --corpus"
    format: StrictStr
    source: dict[str, Any]
    docs: Count
    sentences: Count
    terms: Count
    postings: Count
    sentence_shards: list[RowShard]
    doc_shards: list[RowShard]


def read_corpus_index_manifest(directory: str | Path) -> CorpusIndexManifest | None:
    path = Path(directory) / MANIFEST
    return read_contract(CorpusIndexManifest, path) if path.exists() else None


class CorpusIndex:
    """Sentences of a corpus, normalised, with an inverted index from token to sentence ids, on disk.

    `CorpusIndex.open(dir)` opens a built index (memory-mapped: opening reads only small files);
    `CorpusIndex(docs)` and `CorpusIndex.from_span_store(store)` build one in a temporary directory that lives as
    long as the object (small corpora, tests); `open_or_build_corpus_index` keeps one for a corpus on disk.
    """

    def __init__(self, docs: Iterable[Document]) -> None:
        self._temp(corpus_sentences(docs))

    @classmethod
    def from_span_store(cls, store: SpanStore) -> CorpusIndex:
        """The sentences a spans store holds (the ones SSM masks in), instead of splitting the text again."""
        index = cls.__new__(cls)
        index._temp(store_sentences(store))
        return index

    def _temp(self, docs: Iterable[DocSentences]) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cbqa-corpus-index-")
        path = build_corpus_index(docs, Path(self._tmp.name) / "index", {"kind": "in-memory"})
        self._open(path)

    @classmethod
    def open(cls, directory: str | Path) -> CorpusIndex:
        index = cls.__new__(cls)
        index._open(Path(directory))
        return index

    def _open(self, directory: Path) -> None:
        directory = directory.resolve()  # pins one published version
        manifest = read_corpus_index_manifest(directory)
        if manifest is None:
            raise CbqaError(f"{directory}: no corpus index here; build one with `cbqa overlap --corpus FILE ...`")
        self.directory, self.manifest = directory, manifest.to_dict()
        self._stop = _stopwords()
        try:
            self._terms, self._offsets, self._postings, self._doc_start = (
                np.load(directory / f"{n}.npy", mmap_mode="r", allow_pickle=False)
                for n in ("terms", "offsets", "postings", "doc_start")
            )
        except (OSError, ValueError) as e:
            raise CbqaError(f"{directory}: corpus index files unreadable ({e}); rebuild it") from None
        self._sent_rows = _sharded(directory / "sentences", manifest.sentence_shards)
        self._doc_rows = _sharded(directory / "docs", manifest.doc_shards)
        self.sentences: Sequence[str] = _Column(self._sent_rows, "text")
        self._norm: Sequence[str] = _Column(self._sent_rows, "norm")  # " normalised text ", padded
        self.doc_ids: Sequence[str] = _Column(self._doc_rows, "id")
        self.doc_titles: Sequence[str] = _Column(self._doc_rows, "title")
        if len(self._doc_start) != len(self.doc_ids) + 1 or len(self.sentences) != manifest.sentences:
            raise CbqaError(f"{directory}: corpus index files disagree with its manifest; rebuild it")

    def __len__(self) -> int:
        return len(self.sentences)

    def _sent_doc(self, s: int) -> int:
        return int(np.searchsorted(self._doc_start, s, side="right")) - 1

    def _posting(self, token: str) -> np.ndarray | None:
        h = np.uint64(token_hash(token))
        i = int(np.searchsorted(self._terms, h))
        if i == len(self._terms) or self._terms[i] != h:
            return None
        return self._postings[self._offsets[i] : self._offsets[i + 1]]

    def _postings_of(self, tokens: Iterable[str]) -> list[np.ndarray] | None:
        """Each distinct token's postings; None when there is no token or one of them occurs nowhere."""
        lists = []
        for tok in dict.fromkeys(tokens):
            p = self._posting(tok)
            if p is None or not len(p):
                return None
            lists.append(p)
        return lists or None

    @staticmethod
    def _in_all(sids: np.ndarray, lists: Iterable[np.ndarray]) -> np.ndarray:
        """Mask over `sids`: the sentence is in every one of the ascending postings `lists` (binary search)."""
        mask = np.ones(len(sids), dtype=bool)
        for p in lists:
            pos = np.minimum(np.searchsorted(p, sids), len(p) - 1)
            mask &= p[pos] == sids
        return mask

    def _norm_contains(self, sids: np.ndarray, phrase: str) -> np.ndarray:
        """Mask over `sids`: the normalised sentence holds `phrase` as whole tokens in order (Arrow's substring
        match over the rows taken from each shard; no Python string per row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = np.zeros(len(sids), dtype=bool)
        if not len(sids):
            return out
        starts = np.asarray(self._sent_rows.starts, dtype=np.int64)
        shard_of = np.searchsorted(starts, sids, side="right") - 1
        for shard in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == shard)
            column = self._sent_rows.view(int(shard)).columns["norm"]
            taken = column.take(pa.array(sids[sel] - starts[shard]))
            out[sel] = pc.match_substring(taken, f" {phrase} ").to_numpy(zero_copy_only=False)
        return out

    def _sentences_with_phrase(self, sids: np.ndarray, phrase: str) -> np.ndarray:
        """Mask over `sids`: the sentence holds the normalised `phrase`. One token: its postings alone (64-bit token
        hashes: two of 10^7 distinct tokens collide with probability ~3e-6); more: the postings narrow the
        candidates, the text decides order and adjacency."""
        lists = self._postings_of(phrase.split())
        if lists is None:
            return np.zeros(len(sids), dtype=bool)
        mask = self._in_all(sids, lists)
        if len(phrase.split()) > 1 and mask.any():
            mask[mask] = self._norm_contains(sids[mask], phrase)
        return mask

    def _answer_sentences(self, answer: str) -> np.ndarray:
        """Ascending ids (int64) of the sentences that hold the normalised `answer`."""
        norm = normalize_answer(answer)
        lists = self._postings_of(norm.split())
        if lists is None:
            return np.zeros(0, dtype=np.int64)
        lists.sort(key=len)  # the rarest token's postings are the candidates; the longer lists are searched into
        candidates = np.asarray(lists[0], dtype=np.int64)
        candidates = candidates[self._in_all(candidates, lists[1:])]
        if len(norm.split()) > 1 and len(candidates):
            candidates = candidates[self._norm_contains(candidates, norm)]
        return candidates

    def sentences_with(self, answer: str) -> list[int]:
        """Ids of sentences whose normalised tokens contain the normalised answer contiguously."""
        return self._answer_sentences(answer).tolist()

    def _doc_sentences(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the distinct documents, the index into them of each of their sentences, those sentence ids): documents
        own contiguous sentences [doc_start[d], doc_start[d + 1])."""
        unique = np.unique(docs)
        first = self._doc_start[unique].astype(np.int64)
        lengths = self._doc_start[unique + 1].astype(np.int64) - first
        owner = np.repeat(np.arange(len(unique)), lengths)
        sids = first[owner] + (np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        return unique, owner, sids

    def _docs_with_phrase(
        self, docs: np.ndarray, doc_sentences: tuple[np.ndarray, np.ndarray, np.ndarray], phrase: str
    ) -> np.ndarray:
        """Mask over `docs`: some sentence of the document holds `phrase` (sentences are padded apart, so no phrase
        spans two); `doc_sentences` is `_doc_sentences(docs)`."""
        unique, owner, sids = doc_sentences
        has = np.zeros(len(unique), dtype=bool)
        has[owner[self._sentences_with_phrase(sids, phrase)]] = True
        return has[np.searchsorted(unique, docs)]

    @staticmethod
    def _best(masks: list[np.ndarray], terms: Sequence[str]) -> tuple[int, list[str]] | None:
        """The first hit with the most question terms, and those terms; None when no hit holds any."""
        if not masks:
            return None
        counts = np.sum(masks, axis=0)
        i = int(np.argmax(counts))
        if counts[i] == 0:
            return None
        return i, [t for t, m in zip(terms, masks) if m[i]]

    def evidence(self, answers: Sequence[str], question: str, max_checked: int = 2000) -> CorpusEvidence:
        """Where a gold answer occurs, preferring a sentence that also holds the most question terms.

        The first `max_checked` answer sentences (alias by alias, in corpus order) are inspected for question terms
        (an answer like "1" may occur everywhere); the answer-occurrence count itself is exact. Every check is a
        search in the postings (and a substring match over the few candidate rows of multi-word phrases), so an
        answer held by millions of sentences costs milliseconds and no Python object per sentence.
        """
        found_in = [(a, s) for a in dict.fromkeys(answers) if len(s := self._answer_sentences(a))]
        if not found_in:
            return CorpusEvidence(answer_in_corpus=False)
        all_sids = [s for _, s in found_in]
        n_sentences = len(all_sids[0]) if len(all_sids) == 1 else len(np.unique(np.concatenate(all_sids)))
        hit_alias, hit_sid, left = [], [], max_checked
        for i, (_, s) in enumerate(found_in):
            if left <= 0:
                break
            hit_sid.append(s[:left])
            hit_alias.append(np.full(len(hit_sid[-1]), i))
            left -= len(hit_sid[-1])
        alias_of, sids = np.concatenate(hit_alias), np.concatenate(hit_sid)
        terms = question_terms(question, answers, self._stop).all()
        scope = "sentence"
        best = self._best([self._sentences_with_phrase(sids, t) for t in terms], terms)
        if best is None:
            scope = "passage"
            docs = np.searchsorted(self._doc_start, sids, side="right") - 1
            doc_sentences = self._doc_sentences(docs)
            best = self._best([self._docs_with_phrase(docs, doc_sentences, t) for t in terms], terms)
        if best is None:
            return self._make(found_in[0][0], int(sids[0]), n_sentences, None, [])
        i, found = best
        return self._make(found_in[int(alias_of[i])][0], int(sids[i]), n_sentences, scope, found)

    def _make(self, alias: str, s: int, n: int, scope: str | None, found: list[str]) -> CorpusEvidence:
        d = self._sent_doc(s)
        return CorpusEvidence(
            answer_in_corpus=True,
            answer=alias,
            answer_sentences=n,
            with_question_term=scope,
            matched_terms=found,
            doc_id=self.doc_ids[d],
            title=self.doc_titles[d] or None,
            sentence=self.sentences[s],
        )


def default_corpus_index_dir(labels: str | Path) -> Path:
    """Where `cbqa overlap --corpus` keeps the corpus index unless told otherwise: `corpus_index/` next to the labels
    file (so the app finds it from a run's overlap labels)."""
    return Path(labels).parent / "corpus_index"


def corpus_index_source(corpus: str | Path | None = None, store: SpanStore | None = None) -> dict[str, Any]:
    """What a corpus index records it was built from, compared before reusing it: the corpus fingerprint, or for a
    spans store the fields that fix its sentences (not its timings)."""
    if store is not None:
        m = store.manifest
        return {
            "sentences": "spans store",
            "corpus": m["corpus"]["fingerprint"],
            "pipeline": m["pipeline"],
            "labels": m["labels"],
            "options": m["options"],
            "docs": m["docs"],
            "spans": m["spans"],
        }
    from cbqa.core.io import fingerprint

    return {"sentences": "ner_masking.sentences", "corpus": fingerprint(corpus)}  # type: ignore[arg-type]


def open_or_build_corpus_index(
    directory: str | Path,
    source: dict[str, Any],
    docs: Iterable[DocSentences] | None = None,
    make_docs: Any = None,
    show_progress: bool = True,
) -> tuple[CorpusIndex, bool]:
    """The index in `directory` when it was built from `source` (same corpus fingerprint and sentence source), else
    a new one built there from `make_docs()`; returns (index, whether it was built now)."""
    from cbqa.core.io import clean_stale

    directory = Path(directory)
    manifest = read_corpus_index_manifest(directory) if directory.exists() else None
    if manifest is not None and manifest.source == source:
        clean_stale(directory)  # what a build killed before this run left next to it
        return CorpusIndex.open(directory), False
    build_corpus_index(make_docs() if docs is None else docs, directory, source, show_progress)
    return CorpusIndex.open(directory), True
