"""Canaries (Carlini et al. 2019, "The Secret Sharer"): random secret-bearing sentences inserted into a copy of a
corpus a chosen number of times, so that what a model trained on the copy stored can be measured (`exposure`).

A canary is a sentence of a fixed format, "The locker code of Laura Emerson is 4 8 2 9 1.", whose secret (here the
five digits) is drawn uniformly from a candidate space R (here 10^5 digit strings). Every canary has its own
subject (a name no other canary has), so a model can only rank a canary's secret first by having stored that
sentence. Canaries with `repeats` 0 are drawn the same way but never inserted: their exposure is what a model that
never saw them gives, the baseline the inserted ones are compared with.

The corpus is read twice as a stream (once to count documents, once to copy them), never held in memory; the copy
and `canaries.json` are published together as one directory (`cbqa.core.io.staging_dir` + `replace_dir`).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.corpus import Document, iter_corpus
from cbqa.core.formats.jsonl import write_json, write_jsonl
from cbqa.core.io import fingerprint, replace_dir, staging_dir
from ner_masking.masked import sentinel
from ner_masking.sentences import sentence_spans

MANIFEST = "canaries.json"
CORPUS = "corpus.jsonl"
MANIFEST_FORMAT = "cbqa-canaries/1"

DIGITS = tuple("0123456789")
# Names for canary subjects and for name secrets: common English names (which spaCy's NER tags as PERSON), kept
# here rather than shared with the toy world, which is not part of the library.
FIRST_NAMES = (
    "Adam Alice Amelia Arthur Beatrice Benjamin Caroline Charles Clara Daniel Diana Edward Eleanor Emily Frank "
    "Grace Hannah Henry Irene Isabel Jack Judith Laura Leonard Lucy Malcolm Margaret Martin Natalie Oliver "
    "Patricia Peter Rachel Richard Rose Samuel Sophie Thomas Victoria Walter"
).split()
SURNAMES = (
    "Abbott Barker Bennett Bishop Bradley Carter Chapman Clarke Collins Cooper Dawson Doyle Elliott Emerson Fleming "
    "Fletcher Foster Gardner Gibson Graves Harper Hawkins Holmes Hudson Jennings Kendall Lambert Lawson Mercer "
    "Morgan Norris Osborne Palmer Preston Quinn Sawyer Sutton Thornton Whitaker Winslow"
).split()


@dataclass(frozen=True)
class CanaryFormat:
    """A sentence template with `{subject}` and `{secret}`, and the secret's space: one choice per slot, joined by
    `sep`. |R| is the product of the slots' sizes; candidate i is i written in that mixed radix."""

    name: str
    template: str
    slots: tuple[tuple[str, ...], ...]
    sep: str = " "

    @property
    def space_size(self) -> int:
        return math.prod(len(s) for s in self.slots)

    def secret(self, index: int) -> str:
        if not 0 <= index < self.space_size:
            raise ValueError(f"candidate {index} outside the space of {self.space_size}")
        parts = []
        for slot in reversed(self.slots):
            index, r = divmod(index, len(slot))
            parts.append(slot[r])
        return self.sep.join(reversed(parts))

    def index(self, secret: str) -> int:
        parts = secret.split(self.sep)
        if len(parts) != len(self.slots):
            raise ValueError(f"{secret!r} is not a {self.name} secret")
        i = 0
        for slot, part in zip(self.slots, parts, strict=True):
            i = i * len(slot) + slot.index(part)
        return i

    def all_secrets(self) -> Iterator[str]:
        return (self.sep.join(p) for p in itertools.product(*self.slots))

    def sentence(self, subject: str, secret: str) -> str:
        return self.template.format(subject=subject, secret=secret)

    def masked(self, subject: str) -> str:
        """The canary sentence with its secret replaced by T5's first sentinel: the model's input for scoring."""
        return self.template.format(subject=subject, secret=sentinel(0))


def digits_format(n: int = 5) -> CanaryFormat:
    if not 1 <= n <= 12:
        raise CbqaError(f"--digits must be between 1 and 12, got {n}")
    return CanaryFormat("digits", "The locker code of {subject} is {secret}.", (DIGITS,) * n)


def name_format() -> CanaryFormat:
    return CanaryFormat("name", "The secret keeper of {subject} is {secret}.", (tuple(FIRST_NAMES), tuple(SURNAMES)))


def make_format(kind: str, digits: int = 5) -> CanaryFormat:
    if kind == "digits":
        return digits_format(digits)
    if kind == "name":
        return name_format()
    raise CbqaError(f"unknown canary format {kind!r} (digits | name)")


@dataclass(frozen=True)
class Insertion:
    """Where one copy of a canary sentence went: document id and row, and character offsets into the copied text."""

    doc_id: str
    row: int
    start: int  # the sentence
    end: int
    secret_start: int
    secret_end: int


@dataclass
class Canary:
    id: str
    subject: str
    secret: str
    repeats: int
    insertions: list[Insertion] = field(default_factory=list)


@dataclass
class CanarySet:
    """The manifest: the format, its space, and every canary with where it was inserted."""

    format: CanaryFormat
    canaries: list[Canary]
    seed: int
    source: str
    source_fingerprint: str
    corpus_fingerprint: str = ""

    def to_json(self) -> dict[str, Any]:
        f = self.format
        return {
            "format": MANIFEST_FORMAT,
            "canary_format": {
                "name": f.name,
                "template": f.template,
                "slots": [list(s) for s in f.slots],
                "sep": f.sep,
            },
            "space_size": f.space_size,
            "seed": self.seed,
            "source": self.source,
            "source_fingerprint": self.source_fingerprint,
            "corpus": CORPUS,
            "corpus_fingerprint": self.corpus_fingerprint,
            "canaries": [asdict(c) for c in self.canaries],
        }


def read_canaries(directory: str | Path) -> CanarySet:
    """The manifest of a `cbqa canaries` directory; a malformed one is one error naming the file and field."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise CbqaError(f"{directory}: no {MANIFEST} (not a directory written by `cbqa canaries`)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(path, None, f"not valid JSON ({e})") from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise DataError(path, None, f"'format' is not {MANIFEST_FORMAT!r}")
    try:
        f = raw["canary_format"]
        fmt = CanaryFormat(f["name"], f["template"], tuple(tuple(s) for s in f["slots"]), f["sep"])
        canaries = [
            Canary(c["id"], c["subject"], c["secret"], int(c["repeats"]), [Insertion(**i) for i in c["insertions"]])
            for c in raw["canaries"]
        ]
        for c in canaries:
            fmt.index(c.secret)  # the secret is in the space
        return CanarySet(
            fmt, canaries, int(raw["seed"]), raw["source"], raw["source_fingerprint"], raw.get("corpus_fingerprint", "")
        )
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(path, None, f"malformed manifest ({type(e).__name__}: {e})") from None


def draw_canaries(
    fmt: CanaryFormat, repeats: Sequence[int], count: int, controls: int, rng: random.Random
) -> list[Canary]:
    """`count` canaries for every repeat count plus `controls` never-inserted ones (repeats 0), with distinct
    subjects and secrets drawn uniformly from the format's space."""
    plan = [r for r in repeats for _ in range(count)] + [0] * controls
    subjects = [f"{a} {b}" for a in FIRST_NAMES for b in SURNAMES]
    if len(plan) > len(subjects):
        raise CbqaError(f"at most {len(subjects)} canaries (distinct subjects), asked for {len(plan)}")
    chosen = rng.sample(subjects, len(plan))
    return [
        Canary(f"canary-{i:04d}", subject, fmt.secret(rng.randrange(fmt.space_size)), r)
        for i, (subject, r) in enumerate(zip(chosen, plan, strict=True))
    ]


def _count_documents(path: Path) -> int:
    return sum(1 for _ in iter_corpus(path))


def plan_insertions(canaries: Sequence[Canary], n_docs: int, rng: random.Random) -> dict[int, list[int]]:
    """Row -> indices of the canaries inserted there. A canary's copies go to distinct documents when the corpus has
    enough of them (a document may hold copies of several canaries)."""
    where: dict[int, list[int]] = {}
    for ci, c in enumerate(canaries):
        if c.repeats == 0:
            continue
        rows = (
            rng.sample(range(n_docs), c.repeats)
            if c.repeats <= n_docs
            else [rng.randrange(n_docs) for _ in range(c.repeats)]
        )
        for row in rows:
            where.setdefault(row, []).append(ci)
    return where


def insert_sentences(text: str, sentences: Sequence[str], rng: random.Random) -> tuple[str, list[int]]:
    """`text` with each of `sentences` put at a random sentence boundary (between two sentences, before the first or
    after the last, by the project's sentence rule); returns the new text and where each sentence starts in it."""
    bounds = sentence_spans(text)
    cuts = sorted({0, len(text), *(e for _, e in bounds)}) if bounds else [len(text)]
    chosen = [(rng.choice(cuts), k) for k in range(len(sentences))]
    out, starts, pos = [], [0] * len(sentences), 0
    for cut, k in sorted(chosen):
        out.append(text[pos:cut])
        before = "".join(out)
        lead = " " if before and not before[-1].isspace() else ""
        starts[k] = len(before) + len(lead)
        trail = " " if cut < len(text) and not text[cut].isspace() else ""
        out.append(lead + sentences[k] + trail)
        pos = cut
    out.append(text[pos:])
    return "".join(out), starts


def write_canaried_corpus(
    corpus: str | Path,
    out_dir: str | Path,
    fmt: CanaryFormat,
    repeats: Sequence[int],
    count: int,
    controls: int,
    seed: int,
) -> CanarySet:
    """Write `out_dir/corpus.jsonl` (the corpus with the canaries inserted) and `out_dir/canaries.json`."""
    corpus = Path(corpus)
    if count < 0 or controls < 0 or any(r < 0 for r in repeats):
        raise CbqaError("--count, --controls and --repeats must be >= 0")
    n_docs = _count_documents(corpus)
    if n_docs == 0:
        raise DataError(corpus, None, "corpus has no documents")
    rng = random.Random(seed)
    canaries = draw_canaries(fmt, [r for r in repeats if r > 0], count, controls, rng)
    where = plan_insertions(canaries, n_docs, rng)
    stage = staging_dir(out_dir)
    try:

        def docs() -> Iterator[dict[str, Any]]:
            for row, doc in enumerate(iter_corpus(corpus)):
                if row not in where:
                    yield doc.to_json()
                    continue
                idx = where[row]
                sents = [fmt.sentence(canaries[ci].subject, canaries[ci].secret) for ci in idx]
                text, starts = insert_sentences(doc.text, sents, rng)
                for ci, sent, start in zip(idx, sents, starts, strict=True):
                    c = canaries[ci]
                    off = start + len(fmt.template.split("{secret}")[0].format(subject=c.subject))
                    c.insertions.append(Insertion(doc.id, row, start, start + len(sent), off, off + len(c.secret)))
                yield Document(doc.id, text, doc.title).to_json()

        write_jsonl(stage / CORPUS, docs())
        result = CanarySet(fmt, canaries, seed, str(corpus), fingerprint(corpus), fingerprint(stage / CORPUS))
        write_json(stage / MANIFEST, result.to_json())
        replace_dir(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return result
