"""`cbqa data prepare`: a standard benchmark as train / validation / test QA JSONL, split by its protocol, with a
manifest saying where every row came from.

Sources: the Hugging Face hub dataset (`datasets.load_dataset`, `--source hf`), or a directory of the original files
(`--source DIR`: NQ-open JSONL, WebQuestions JSON or NQ-open-style JSONL, TriviaQA's unfiltered JSON, DPR's
`.qa.csv`, EntityQuestions' per-relation JSON, EfficientQA's JSONL; `cbqa.benchmarks.protocols` lists the names).
Rows keep their source order and all their answers (TriviaQA: `answer.value` first, the training target, then the
aliases); a row without an id of its own gets `SPLIT-ROW` (its source split and row number).

Everything is read and checked before anything is written (a bad or unexpected file is one `file:line: reason`
error, exit 2, and the output is untouched); the directory is built in a staging directory and published in one
swap (`cbqa.core.io.replace_dir`).

    OUT/train.jsonl  OUT/validation.jsonl  OUT/test.jsonl  OUT/dataset.json (the manifest; not manifest.json, which names a run the app opens)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import StrictBool, StrictStr

from cbqa.benchmarks.protocols import DatasetSpec, Part, source_splits
from cbqa.core.contracts import Contract, Count, read_contract, write_contract
from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import write_jsonl
from cbqa.core.formats.qa import QAExample, read_qa
from cbqa.core.io import fingerprint, fingerprint_chunks, remove_tree, replace_dir, staging_dir

MANIFEST = "dataset.json"
FORMAT = "cbqa-prepared-qa/1"
SPLITS = ("train", "validation", "test")


class SourceFile(Contract):
    split: StrictStr
    path: StrictStr | None = None  # a file of --source DIR
    hub: StrictStr | None = None  # a hub dataset: "repo[/config]:split"
    fingerprint: StrictStr | None = None  # sha256 of the file, or the hub dataset's own fingerprint
    rows: Count


class PreparedSplit(Contract):
    file: StrictStr
    rows: Count
    parts: list[StrictStr]  # the source-split slices it is made of, e.g. ["train[:3417]"]
    fingerprint: StrictStr  # sha256 of the file
    ids_fingerprint: StrictStr  # sha256 of its ids, one per line, in order
    first_id: StrictStr | None = None
    last_id: StrictStr | None = None
    answers: StrictBool = True  # False for a hidden test set (questions only)


class PreparedManifest(Contract):
    FORMAT = {"format": FORMAT}
    WHAT = "prepared QA dataset manifest"
    HINT = "make it with `cbqa data prepare NAME --out DIR`"
    format: StrictStr
    dataset: StrictStr
    title: StrictStr
    protocol: StrictStr
    source: StrictStr  # "hf" or the directory read
    sources: list[SourceFile]
    splits: dict[str, PreparedSplit]
    prefix: StrictStr  # the input prefix of the protocol (`wq question: `)
    normaliser: StrictStr  # the answer normaliser the dataset is scored with
    target: StrictStr = "the first answer"
    heldout_ids_fingerprint: StrictStr | None = None  # = splits.validation.ids_fingerprint, for comparing orders
    relations: dict[str, dict[str, Count]] | None = None  # EntityQuestions: rows per relation and split
    note: StrictStr = ""
    created: StrictStr = ""


@dataclass
class Loaded:
    """What a source gave: rows per source split and where each came from."""

    rows: dict[str, list[QAExample]]
    files: list[SourceFile]


def ids_fingerprint(examples: Sequence[QAExample]) -> str:
    return fingerprint_chunks(f"{e.id}\n".encode() for e in examples)


# --- sources -----------------------------------------------------------------------------------------------------


def _own_ids(split: str, examples: list[QAExample]) -> list[QAExample]:
    """Rows whose ids are only their row numbers (the file had none) get `SPLIT-ROW`, unique across source splits."""
    if all(e.id == str(i) for i, e in enumerate(examples)):
        return [replace(e, id=f"{split}-{i}") for i, e in enumerate(examples)]
    return examples


def _check_size(spec: DatasetSpec, split: str, where: str, n: int) -> None:
    want = spec.sizes.get(split)
    if want is not None and n != want:
        raise DataError(
            where,
            None,
            f"{n:,} questions, expected {want:,} in the {split} split of {spec.title}; the protocol's splits are fixed "
            "row positions, so a different file would give different splits (is this the right, complete file?)",
        )


def load_files(spec: DatasetSpec, directory: Path, splits: Sequence[str], relations: Sequence[str] = ()) -> Loaded:
    """Rows of `splits` from the original files in `directory`."""
    if not directory.is_dir():
        raise CbqaError(f"{directory}: not a directory (--source takes hf or a directory of {spec.title}'s files)")
    rows: dict[str, list[QAExample]] = {}
    files: list[SourceFile] = []
    for split in splits:
        names = spec.files.get(split, ())
        if any("*" in n for n in names):
            found = sorted(p for n in names for p in directory.glob(n))
            if not found:
                raise CbqaError(f"{directory}: no {' or '.join(names)} ({spec.title}'s {split} files)")
            rows[split] = []
            for path in found:
                relation = path.name.split(".")[0]
                if relations and relation not in relations:
                    continue
                examples = read_qa(path)
                rows[split] += [
                    QAExample(f"{relation}-{split}-{i}", e.question, e.answers, None, {**e.extra, "relation": relation})
                    for i, e in enumerate(examples)
                ]
                files.append(
                    SourceFile(split=split, path=str(path.resolve()), fingerprint=fingerprint(path), rows=len(examples))
                )
            if relations:
                missing = sorted(set(relations) - {Path(f.path or "").name.split(".")[0] for f in files})
                if missing:
                    raise CbqaError(f"{directory}: no {split} file for relation(s) {', '.join(missing)}")
            continue
        path = next((directory / n for n in names if (directory / n).is_file()), None)
        if path is None:
            raise CbqaError(f"{directory}: no {' or '.join(names)} ({spec.title}'s {split} split)")
        examples = _own_ids(split, read_qa(path, require_answers=split not in spec.hidden))
        _check_size(spec, split, str(path), len(examples))
        rows[split] = examples
        files.append(
            SourceFile(split=split, path=str(path.resolve()), fingerprint=fingerprint(path), rows=len(examples))
        )
    return Loaded(rows, files)


def _hub_row(spec: DatasetSpec, split: str, i: int, row: dict[str, Any], where: str) -> QAExample:
    """One hub row as a QAExample, by the hub dataset's own column names."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(where, None, f"row {i}: 'question' must be a non-empty string")
    if spec.name == "trivia_qa":
        answer = row.get("answer") or {}
        value, aliases = answer.get("value") or "", list(answer.get("aliases") or [])
        qid = row.get("question_id") or f"{split}-{i}"
        if not aliases and value in ("", "<unk>"):
            if split not in spec.hidden:
                raise DataError(where, None, f"row {i}: no answer (only the test split's answers are hidden)")
            return QAExample(str(qid), question, [])  # the hidden test set
        return QAExample(str(qid), question, list(dict.fromkeys(a for a in [value, *aliases] if a.strip())))
    key = "answer" if spec.name == "natural_questions_open" else "answers"
    answers = row.get(key)
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise DataError(where, None, f"row {i}: {key!r} must be a non-empty list of answers")
    return QAExample(f"{split}-{i}", question, answers)


HUB_COLUMNS = {
    "natural_questions_open": ("question", "answer"),
    "web_questions": ("question", "answers"),
    "trivia_qa": ("question", "question_id", "answer"),
}


def load_hub(spec: DatasetSpec, splits: Sequence[str]) -> Loaded:
    """Rows of `splits` from the Hugging Face hub dataset (`datasets.load_dataset`; its cache when offline)."""
    if spec.hub is None:
        raise CbqaError(f"{spec.name}: no Hugging Face dataset is known for it; pass --source DIR with its files")
    import datasets

    hub = spec.hub
    name = hub.path + (f"/{hub.config}" if hub.config else "")
    try:
        loaded = datasets.load_dataset(hub.path, hub.config)
    except Exception as e:  # the hub's and the network's errors are many; each becomes one line
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CbqaError(
            f"cannot load {name} from the Hugging Face hub ({reason}); pass --source DIR with the original files"
        ) from None
    rows: dict[str, list[QAExample]] = {}
    files: list[SourceFile] = []
    for split in splits:
        theirs = hub.splits[split]
        if theirs not in loaded:
            raise CbqaError(f"{name}: no split {theirs!r} (it has {', '.join(loaded)})")
        ds = loaded[theirs]
        where = f"{name}:{theirs}"
        missing = [c for c in HUB_COLUMNS[spec.name] if c not in ds.column_names]
        if missing:
            raise DataError(
                where, None, f"missing column(s) {', '.join(missing)} (columns: {', '.join(ds.column_names)})"
            )
        examples = [_hub_row(spec, split, i, r, where) for i, r in enumerate(ds)]
        _check_size(spec, split, where, len(examples))
        rows[split] = examples
        files.append(SourceFile(split=split, hub=where, fingerprint=getattr(ds, "_fingerprint", None), rows=len(ds)))
    return Loaded(rows, files)


# --- splits and output -------------------------------------------------------------------------------------------


def take(rows: dict[str, list[QAExample]], parts: Sequence[Part]) -> list[QAExample]:
    out: list[QAExample] = []
    for p in parts:
        out += rows[p.split][p.start : p.stop]
    return out


def make_splits(spec: DatasetSpec, protocol: str, loaded: Loaded) -> dict[str, list[QAExample]]:
    splits = {name: take(loaded.rows, spec.protocols[protocol][name]) for name in SPLITS}
    for name, examples in splits.items():
        seen: set[str] = set()
        for e in examples:
            if e.id in seen:
                raise CbqaError(f"{spec.name} {name}: id {e.id!r} occurs twice (two source files share ids?)")
            seen.add(e.id)
    return splits


def _row(e: QAExample) -> dict[str, Any]:
    if e.answers:
        return e.to_json()
    return {"id": e.id, "question": e.question, **e.extra}  # a hidden test question: no `answers` key


def prepare(
    spec: DatasetSpec, out: Path, source: str = "hf", protocol: str = "heldout", relations: Sequence[str] = ()
) -> PreparedManifest:
    """Read the source, split it by `protocol`, and publish OUT atomically; returns the manifest written."""
    if protocol not in spec.protocols:
        raise CbqaError(f"unknown protocol {protocol!r} (heldout | full)")
    if relations and spec.name != "entity_questions":
        raise CbqaError("--relation is for entity_questions")
    if out.exists() and not (out / MANIFEST).is_file():
        raise CbqaError(f"{out}: exists and is not a prepared dataset (no {MANIFEST}); choose another --out")
    needed = source_splits(spec, protocol)
    loaded = load_hub(spec, needed) if source == "hf" else load_files(spec, Path(source), needed, relations)
    splits = make_splits(spec, protocol, loaded)
    stage = staging_dir(out)
    try:
        described: dict[str, PreparedSplit] = {}
        for name, examples in splits.items():
            path = stage / f"{name}.jsonl"
            write_jsonl(path, (_row(e) for e in examples))
            described[name] = PreparedSplit(
                file=path.name,
                rows=len(examples),
                parts=[p.describe() for p in spec.protocols[protocol][name]],
                fingerprint=fingerprint(path),
                ids_fingerprint=ids_fingerprint(examples),
                first_id=examples[0].id if examples else None,
                last_id=examples[-1].id if examples else None,
                answers=all(e.answers for e in examples),
            )
        relations_count = None
        if spec.name == "entity_questions":
            relations_count = {}
            for name, examples in splits.items():
                for e in examples:
                    counts = relations_count.setdefault(str(e.extra.get("relation")), dict.fromkeys(SPLITS, 0))
                    counts[name] += 1
        manifest = PreparedManifest(
            format=FORMAT,
            dataset=spec.name,
            title=spec.title,
            protocol=protocol,
            source="hf" if source == "hf" else str(Path(source).resolve()),
            sources=loaded.files,
            splits=described,
            prefix=spec.prefix,
            normaliser=spec.normaliser,
            target="answer.value" if spec.name == "trivia_qa" else "the first answer",
            heldout_ids_fingerprint=described["validation"].ids_fingerprint if splits["validation"] else None,
            relations=relations_count,
            note=spec.note,
            created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        write_contract(stage / MANIFEST, manifest)
        replace_dir(stage, out)
    except BaseException:
        remove_tree(stage)
        raise
    return manifest


def read_prepared(directory: str | Path) -> PreparedManifest:
    """The manifest of a prepared dataset directory; a missing or foreign one is one line."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise CbqaError(f"{directory}: no {MANIFEST}; prepare a dataset with `cbqa data prepare NAME --out DIR`")
    return read_contract(PreparedManifest, path)
