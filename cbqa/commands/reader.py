"""`cbqa reader`: open-book T5 readers over retrieved passages, the extractive floor and the counterfactual check.

Fusion-in-Decoder reader (each of the top K passages encoded with the question, one decoder over all of them):

  cbqa reader reading-examples --spans SPANS --qa train.jsonl --index INDEX --out reading.jsonl
  cbqa reader finetune --run_dir RUN_DIR --data.reader.passages 3 --data.max_input_len 128 \\
      --data.tasks '[{"name": "reading", "kind": "reading", "file": "reading.jsonl"},
                     {"name": "reader", "kind": "reader", "file": "train_retrieved.jsonl"}]' \\
      --data.val_file dev_retrieved.jsonl ...        (`cbqa finetune`'s Lightning CLI, for a reader)
  cbqa reader predict --model RUN_DIR --retrieved test_retrieved.jsonl --out predictions.jsonl

One-string reader (the question and its top passages in one input; `--passages 1`: the one-passage reader):

  cbqa reader prepare --retrieved train_retrieved.jsonl --out reader_train.jsonl --run-dir RUN_DIR
  cbqa finetune --run_dir RUN_DIR --data.tasks '[{"kind": "qa", "file": "reader_train.jsonl", "prefix": ""}]' \\
                --data.val_prefix "" --data.max_input_len 256 ...
  cbqa reader predict --model RUN_DIR --retrieved test_retrieved.jsonl --out predictions.jsonl

Checks: `cbqa reader floor` (the extractive floor: the best-scoring entity of the passages whose type fits the
question; no training) and `cbqa reader counterfactual` (swap the answer entity in the passages for another entity
of its type: how often does the reader output the substitute?).

`finetune` records the input format it trains on (reader, passages, input length, anonymisation) in
RUN_DIR/reader_input.json (`prepare --run-dir` and `record` write it for a one-string reader); `predict`,
`counterfactual` and the app read it from there, so the reader answers from inputs built as it was trained.
"""

from __future__ import annotations

import argparse
import time

from cbqa.core.errors import CbqaError
from cbqa.reader.inputs import NUMBERINGS, READERS, ReaderInput, prepare, write_reader_input


def _input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reader",
        choices=READERS,
        help="concat (one input string) | fid (Fusion-in-Decoder); default: the run's record, else concat",
    )
    p.add_argument(
        "--passages",
        type=int,
        help=f"passages read per question (default: the run's record, else {ReaderInput.max_passages})",
    )
    p.add_argument(
        "--max-input-len",
        type=int,
        help=f"input tokens: of the whole input (concat) or of each passage (fid) (default: the run's record, else {ReaderInput.max_input_len})",
    )
    p.add_argument(
        "--anonymise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fid: the passages' entities as per-question placeholders (<extra_id_7>), the answer mapped back, as "
        "trained with --data.anonymise true (default: the run's record, else off)",
    )
    p.add_argument(
        "--anonymise-numbering",
        choices=NUMBERINGS,
        default=None,
        help="how placeholders are numbered, as --data.anonymise_numbering in training (default: the run's record, else random)",
    )
    p.add_argument(
        "--anonymise-spacy-model",
        default=None,
        help="spaCy pipeline that finds the entities to anonymise (default: the run's record, else the project's)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="cbqa reader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="action", required=True)
    sub.add_parser("finetune", help="train a Fusion-in-Decoder reader (`cbqa reader finetune --help`)", add_help=False)
    p = sub.add_parser("prepare", help="write a one-string reader's training/validation QA file")
    p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL")
    p.add_argument("--out", required=True)
    _input_args(p)
    p.add_argument("--run-dir", help="the reader's training run directory: record the input format there")

    p = sub.add_parser("record", help="record a reader run's input format (RUN_DIR/reader_input.json)")
    p.add_argument("--run-dir", required=True)
    _input_args(p)

    p = sub.add_parser("predict", help="answer from retrieved passages")
    p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL")
    p.add_argument("--out", required=True)
    _input_args(p)
    p.add_argument("--model", required=True, help="reader run directory, HF directory or hub name")
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--device", default="auto")

    p = sub.add_parser(
        "reading-examples", help="reading examples for a FiD reader from a spans store (cbqa.reader.reading_examples)"
    )
    p.add_argument("--spans", required=True, help="spans store directory (`cbqa ner`)")
    p.add_argument(
        "--qa", required=True, help="QA-train file: only documents about the entities it asks about are used"
    )
    p.add_argument("--split", help="keep only QA rows with this `split`")
    p.add_argument("--index", required=True, help="index directory (`cbqa index`) to retrieve each sentence's passages")
    p.add_argument("--retriever", choices=("dense", "bm25", "hybrid"), default="hybrid")
    p.add_argument("--k", type=int, default=5, help="passages kept per sentence (default 5; a reader reads its top K)")
    p.add_argument("--labels", nargs="+", help="span labels that may be answers (default: every label of the store)")
    p.add_argument("--max-sentences", type=int, help="at most this many sentences (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)

    p = sub.add_parser("floor", help="the extractive floor: an entity of the passages whose type fits the question")
    p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL")
    p.add_argument("--passages", type=int, default=3, help="top passages read (default 3)")
    p.add_argument(
        "--scoring",
        choices=("rank", "sentence"),
        default="rank",
        help="rank: retrieval-weighted vote (default); sentence: question words in the mention's sentence first",
    )
    p.add_argument("--spacy-model", help="spaCy pipeline (default: the one `cbqa ner` uses)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("counterfactual", help="swap the answer entity in the passages: does the reader follow?")
    p.add_argument("--model", required=True, help="reader run directory (its reader_input.json says how it reads)")
    p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL with gold answers")
    p.add_argument("--overlap", help="overlap labels JSONL (`cbqa overlap` or gold): also break down by category")
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--spacy-model", help="spaCy pipeline (default: the one `cbqa ner` uses)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="summary and every case, as JSON")
    return ap


# `cbqa reader finetune` options under the keys they had in `cbqa finetune`.
MOVED = {
    "model.reader": "is gone: `cbqa reader finetune` trains a Fusion-in-Decoder reader",
    "data.passages": "is now --data.reader.passages",
    "data.anonymise": "is now --data.reader.anonymise",
    "data.spacy_model": "is now --data.reader.spacy_model",
    "data.anonymise_numbering": "is now --data.reader.numbering",
}


def finetune(argv: list[str]) -> int:
    """`cbqa reader finetune`: `cbqa finetune`'s Lightning CLI with the reader's module and data module."""
    from cbqa.reader.inputs import write_reader_input
    from cbqa.reader.training import ReaderDataModule, ReaderModule
    from cbqa.training.cli import run_training

    def record(cli, run_dir) -> None:  # how this reader reads, for `cbqa reader predict` and the app
        write_reader_input(run_dir, cli.datamodule.reader_input())

    return run_training(argv, "cbqa reader finetune", "runs/reader", ReaderModule, ReaderDataModule, MOVED, record)


def main(argv: list[str]) -> int:
    if argv[:1] == ["finetune"]:
        return finetune(argv[1:])
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    if args.action == "prepare":
        cfg = _merge(ReaderInput(), args)
        n = prepare(args.retrieved, args.out, cfg)
        print(f"wrote {n} reader examples to {args.out}")
        if args.run_dir:
            print(f"wrote {write_reader_input(args.run_dir, cfg)}")
    elif args.action == "record":
        print(f"wrote {write_reader_input(args.run_dir, _merge(ReaderInput(), args))}")
    elif args.action == "predict":
        from cbqa.reader.answering import predict, reader_input_of

        cfg = _merge(reader_input_of(args.model), args)
        n = predict(args.model, args.retrieved, args.out, cfg, args.num_beams, args.device)
        print(
            f"wrote {n} predictions to {args.out} ({cfg.reader} reader, {cfg.max_passages} passage(s), "
            f"{cfg.max_input_len} tokens) in {time.perf_counter() - start:.1f} s"
        )
    elif args.action == "reading-examples":
        _reading_examples(args)
    elif args.action == "floor":
        from cbqa.reader.floor import floor_predictions

        if args.passages < 1:
            raise CbqaError(f"--passages must be >= 1, got {args.passages}")
        n = floor_predictions(args.retrieved, args.out, args.passages, args.scoring, args.spacy_model)
        print(
            f"wrote {n} extractive-floor predictions ({args.scoring}, top {args.passages}) to {args.out} "
            f"in {time.perf_counter() - start:.1f} s"
        )
    else:
        from cbqa.reader.counterfactual import run_counterfactual

        categories = _categories(args.overlap) if args.overlap else None
        s = run_counterfactual(
            args.model, args.retrieved, args.out, args.num_beams, args.device, args.spacy_model, args.seed, categories
        )
        print(
            f"counterfactual: {s['swapped']} of {s['questions']} questions swapped; the reader output the substitute "
            f"in {s['substitute']}%, the original answer in {s['original']}%, something else in {s['other']}% "
            f"(skipped: {s['skipped']}); wrote {args.out} in {time.perf_counter() - start:.1f} s"
        )
    return 0


def _reading_examples(args: argparse.Namespace) -> None:
    from cbqa.core.formats import read_qa
    from cbqa.core.progress import progress_bar
    from cbqa.reader.reading_examples import write_reading_examples
    from retrieval_baseline import load_index

    train = read_qa(args.qa, split=args.split)
    index = load_index(args.index)
    with progress_bar("retrieving passages for sentences", total=None) as advance:
        stats = write_reading_examples(
            args.spans,
            train,
            index,
            args.out,
            args.k,
            args.retriever,
            args.labels,
            args.max_sentences,
            args.seed,
            progress=advance,
        )
    print(
        f"wrote {stats.sentences} reading examples ({stats.spans} candidate spans; {stats.subject_documents} of "
        f"{stats.documents} documents are about entities {args.qa} asks about) to {args.out}"
    )


def _categories(path: str) -> dict[str, str]:
    from cbqa.core.formats.jsonl import read_jsonl

    return {str(r["id"]): str(r.get("category")) for _, r in read_jsonl(path) if "id" in r}


def _merge(base: ReaderInput, args: argparse.Namespace) -> ReaderInput:
    return ReaderInput(
        base.max_passages if args.passages is None else args.passages,
        base.max_input_len if args.max_input_len is None else args.max_input_len,
        base.reader if args.reader is None else args.reader,
        base.anonymise if args.anonymise is None else args.anonymise,
        args.anonymise_spacy_model or base.spacy_model,
        args.anonymise_numbering or base.numbering,
    )
