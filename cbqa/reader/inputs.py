"""Open-book T5 reader inputs: the question plus its top retrieved passages (one string, or one input per passage for
FiD), a one-string reader's QA training file (`cbqa finetune` with an empty prefix), and the input format a reader run
records (`reader_input.json`), so whoever answers with the reader later (`cbqa reader predict`, the app) builds the same
inputs.

Two readers: `concat` (one input string: the question and its top passages, cut at `max_input_len` tokens; with one
passage, the one-passage reader) and `fid` (Fusion-in-Decoder: the top `max_passages` passages, each encoded with
the question in at most `max_input_len` tokens; trained from `cbqa retrieve` output directly, no prepare step)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import write_json, write_jsonl
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of, retrieved_rows

READER_INPUT_FILE = "reader_input.json"


READERS = ("concat", "fid")
# How an anonymised reader's placeholders are numbered (`cbqa.reader.anonymise`): drawn per example | in order of first mention
Numbering = Literal["random", "order"]
NUMBERINGS: tuple[str, ...] = get_args(Numbering)


def check_numbering(numbering: str) -> str:
    if numbering not in NUMBERINGS:
        raise CbqaError(f"unknown placeholder numbering {numbering!r} ({' | '.join(NUMBERINGS)})")
    return numbering


@dataclass(frozen=True)
class ReaderInput:
    max_passages: int = 2
    max_input_len: int = 256  # tokens: of the whole input (concat; the tail passages are cut) or of each passage (fid)
    reader: str = "concat"  # concat | fid
    # fid: entities of the passages replaced by per-question placeholders, mapped back in the answer (`cbqa.reader.anonymise`),
    # found by this spaCy pipeline (None: the project's default), as the reader was trained (`--data.reader.anonymise`)
    anonymise: bool = False
    spacy_model: str | None = None
    numbering: str = "random"  # fid + anonymise: how placeholders are numbered (NUMBERINGS)

    def __post_init__(self) -> None:
        if self.reader not in READERS:
            raise CbqaError(f"unknown reader {self.reader!r} ({' | '.join(READERS)})")
        if self.max_passages < (1 if self.reader == "fid" else 0) or self.max_input_len < 1:
            raise CbqaError(f"bad reader input: {self.max_passages} passages, {self.max_input_len} tokens")
        if self.anonymise and self.reader != "fid":
            raise CbqaError("anonymised passages are read by the fid reader only (--reader fid)")
        check_numbering(self.numbering)


def write_reader_input(run_dir: str | Path, cfg: ReaderInput) -> Path:
    """Record in a reader's run directory the input format it is trained on."""
    path = Path(run_dir) / READER_INPUT_FILE
    record: dict = {"max_passages": cfg.max_passages, "max_input_len": cfg.max_input_len, "reader": cfg.reader}
    if cfg.anonymise:  # (older records have no such keys: they read real names)
        record.update(anonymise=True, spacy_model=cfg.spacy_model, numbering=cfg.numbering)
    write_json(path, record)
    return path


def read_reader_input(model: str | Path) -> ReaderInput | None:
    """The input format recorded by a reader run (its run directory, or its `hf/` export); None if none is."""
    model = Path(model)
    for path in (model / READER_INPUT_FILE, model.parent / READER_INPUT_FILE if model.name == "hf" else None):
        if path is not None and path.is_file():
            try:
                obj = json.loads(path.read_text(encoding="utf-8-sig"))
                model_name = obj.get("spacy_model")
                return ReaderInput(
                    int(obj["max_passages"]),
                    int(obj["max_input_len"]),
                    str(obj.get("reader", "concat")),
                    bool(obj.get("anonymise", False)),
                    None if model_name is None else str(model_name),
                    str(obj.get("numbering", "random")),
                )
            except (ValueError, KeyError, TypeError, AttributeError, CbqaError) as e:
                raise CbqaError(f"{path}: not a reader input record ({e})") from None
    return None


def prepare(retrieved: str | Path, out: str | Path, cfg: ReaderInput = ReaderInput()) -> int:
    """Write a QA file whose `question` is the reader input; train on it with `--data.tasks` prefix ''."""
    if cfg.reader != "concat":
        raise CbqaError(
            f"`prepare` writes one-string reader inputs; a {cfg.reader} reader trains on the retrieved file "
            "itself (--data.tasks kind: reader)"
        )
    rows = []
    for line, r in retrieved_rows(retrieved):
        if not r.get("answers"):
            raise DataError(retrieved, line, "no 'answers': a reader training file needs gold answers")
        rows.append(
            {
                "id": r["id"],
                "question": format_reader_input(r["question"], hits_of(r), cfg.max_passages),
                "answers": r["answers"],
            }
        )
    return write_jsonl(out, rows)


def format_passage(hit: Hit) -> str:
    """`title: T text: X` (FiD's passage tagging), or `text: X` for an untitled passage."""
    return f"title: {hit.title} text: {hit.text}" if hit.title else f"text: {hit.text}"


def format_reader_input(question: str, passages: Sequence[Hit], max_passages: int) -> str:
    """`question: Q context: title: T1 text: X1 title: T2 text: X2 ...` (the tokenizer truncates the tail).

    The same "question: ... context: ..." prefix T5 saw for SQuAD in its multi-task mixture, with each
    passage tagged by title as FiD does, so one string carries several passages.
    """
    if max_passages < 0:
        raise ValueError(f"max_passages must be >= 0, got {max_passages}")
    parts = [f"question: {' '.join(question.split())}", "context:"]
    parts += [format_passage(hit) for hit in list(passages)[:max_passages]]
    return " ".join(parts)


def fid_inputs(question: str, passages: Sequence[Hit], k: int) -> list[str]:
    """Fusion-in-Decoder: one encoder input per passage of the top `k`, each `question: Q context: title: T text: X`
    (an input of the question alone when there is no passage)."""
    if k < 1:
        raise ValueError(f"a Fusion-in-Decoder reader reads at least 1 passage, got {k}")
    top = list(passages)[:k]
    return [format_reader_input(question, [hit], 1) for hit in top] or [format_reader_input(question, [], 0)]
