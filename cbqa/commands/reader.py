"""`cbqa reader`: the open-book T5 reader over retrieved passages.

  cbqa reader prepare --retrieved train_retrieved.jsonl --out reader_train.jsonl --run-dir RUN_DIR
  cbqa finetune --run_dir RUN_DIR --data.tasks '[{"kind": "qa", "file": "reader_train.jsonl", "prefix": ""}]' \\
                --data.val_prefix "" --data.max_input_len 256 ...   (the same Lightning module as closed-book QA)
  cbqa reader predict --model RUN_DIR --retrieved test_retrieved.jsonl --out predictions.jsonl

`prepare --run-dir` records the input format (passages, input length) in RUN_DIR/reader_input.json; `predict` and
the app read it from there, so the reader answers from inputs built as it was trained (flags override it).
"""

from __future__ import annotations

import argparse

from retrieval_baseline.reader import ReaderInput, prepare, write_reader_input


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cbqa reader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    for name, helptext in (("prepare", "write a reader training/validation QA file"), ("predict", "answer from retrieved passages")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL")
        p.add_argument("--out", required=True)
        p.add_argument("--passages", type=int, help=f"passages per reader input (default: the run's record, else {ReaderInput.max_passages})")
        p.add_argument("--max-input-len", type=int, help=f"input tokens (default: the run's record, else {ReaderInput.max_input_len})")
        if name == "prepare":
            p.add_argument("--run-dir", help="the reader's training run directory: record the input format there")
        if name == "predict":
            p.add_argument("--model", required=True, help="reader run directory, HF directory or hub name")
            p.add_argument("--num-beams", type=int, default=4)
            p.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.action == "prepare":
        cfg = _merge(ReaderInput(), args)
        n = prepare(args.retrieved, args.out, cfg)
        print(f"wrote {n} reader examples to {args.out}")
        if args.run_dir:
            print(f"wrote {write_reader_input(args.run_dir, cfg)}")
    else:
        from cbqa.reader import predict, reader_input_of

        cfg = _merge(reader_input_of(args.model), args)
        n = predict(args.model, args.retrieved, args.out, cfg, args.num_beams, args.device)
        print(f"wrote {n} predictions to {args.out} ({cfg.max_passages} passage(s), {cfg.max_input_len} tokens)")
    return 0


def _merge(base: ReaderInput, args: argparse.Namespace) -> ReaderInput:
    return ReaderInput(base.max_passages if args.passages is None else args.passages,
                       base.max_input_len if args.max_input_len is None else args.max_input_len)
