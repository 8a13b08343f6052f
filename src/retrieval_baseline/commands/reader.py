"""`cbqa reader`: the open-book T5 reader over retrieved passages.

  cbqa reader prepare --retrieved train_retrieved.jsonl --out reader_train.jsonl
  cbqa finetune --data.tasks '[{"kind": "qa", "file": "reader_train.jsonl", "prefix": ""}]' --data.val_prefix "" \\
                --data.max_input_len 256 ...                       (the same Lightning module as closed-book QA)
  cbqa reader predict --model RUN_DIR --retrieved test_retrieved.jsonl --out predictions.jsonl
"""

from __future__ import annotations

import argparse

from retrieval_baseline.reader import ReaderInput, predict, prepare


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cbqa reader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    for name, helptext in (("prepare", "write a reader training/validation QA file"), ("predict", "answer from retrieved passages")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--retrieved", required=True, help="`cbqa retrieve` output JSONL")
        p.add_argument("--out", required=True)
        p.add_argument("--passages", type=int, default=ReaderInput.max_passages, help="passages per reader input")
        p.add_argument("--max-input-len", type=int, default=ReaderInput.max_input_len, help="input tokens (predict)")
        if name == "predict":
            p.add_argument("--model", required=True, help="reader run directory, HF directory or hub name")
            p.add_argument("--num-beams", type=int, default=4)
            p.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    cfg = ReaderInput(args.passages, args.max_input_len)
    if args.action == "prepare":
        n = prepare(args.retrieved, args.out, cfg)
        print(f"wrote {n} reader examples to {args.out}")
    else:
        n = predict(args.model, args.retrieved, args.out, cfg, args.num_beams, args.device)
        print(f"wrote {n} predictions to {args.out}")
    return 0
