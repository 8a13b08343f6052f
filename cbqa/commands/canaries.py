"""`cbqa canaries`: a copy of a corpus with random secret-bearing sentences ("canaries") inserted, and their manifest.

For every repeat count, `--count` canaries are inserted that many times each into random documents (at a random
sentence boundary); `--controls` more are drawn the same way but never inserted (repeats 0, the baseline of
`cbqa exposure`). OUT/corpus.jsonl is the corpus to train on (annotate it with `cbqa ner` for SSM), OUT/canaries.json
says where every canary went. Formats: digits ("The locker code of Laura Emerson is 4 8 2 9 1.", |R| = 10^digits)
and name ("The secret keeper of Laura Emerson is Peter Holmes.", |R| = 1,600).

    cbqa canaries --corpus runs/demo/world/corpus.jsonl --out runs/canaries --count 10 --repeats 1 4 16 --seed 0
"""

from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    from cbqa.memorisation.canaries import CORPUS, MANIFEST, make_format, write_canaried_corpus

    ap = argparse.ArgumentParser(
        prog="cbqa canaries", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--corpus", required=True, help="corpus to copy (JSONL, txt, DPR tsv, parquet or a saved HF dataset)"
    )
    ap.add_argument("--out", required=True, help="output directory (corpus.jsonl + canaries.json), replaced atomically")
    ap.add_argument("--count", type=int, default=10, help="canaries per repeat count (default 10)")
    ap.add_argument("--repeats", type=int, nargs="+", default=[1, 4, 16], help="copies of each canary (default 1 4 16)")
    ap.add_argument("--controls", type=int, default=None, help="canaries never inserted (default: --count)")
    ap.add_argument("--format", choices=["digits", "name"], default="digits")
    ap.add_argument("--digits", type=int, default=5, help="digits of a digits secret (default 5: |R| = 10^5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    fmt = make_format(args.format, args.digits)
    controls = args.count if args.controls is None else args.controls
    result = write_canaried_corpus(args.corpus, args.out, fmt, args.repeats, args.count, controls, args.seed)
    inserted = sum(len(c.insertions) for c in result.canaries)
    print(
        f"{len(result.canaries)} canaries ({controls} never inserted), {inserted} sentences inserted, "
        f"|R| = {fmt.space_size:,}"
    )
    print(f"wrote {args.out}/{CORPUS} and {args.out}/{MANIFEST}")
    return 0
