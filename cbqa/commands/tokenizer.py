"""`cbqa tokenizer`: train a sentencepiece unigram T5 tokenizer (with <extra_id_*> sentinels) on a corpus."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from cbqa.core.errors import CbqaError
from cbqa.core.formats.corpus import iter_corpus
from cbqa.core.formats.qa import iter_qa
from cbqa.model.tokenizer import load_tokenizer, sentinel_ids, train_tokenizer


def _texts(corpus: str, qa_files: list[str]) -> Iterator[str]:
    for doc in iter_corpus(corpus):
        if doc.title:
            yield doc.title
        yield doc.text
    for f in qa_files:  # questions and answers use words the corpus may phrase differently
        for ex in iter_qa(f):
            yield ex.question
            yield from ex.answers


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cbqa tokenizer", description=__doc__)
    ap.add_argument("--corpus", required=True, help="corpus JSONL / text file / HF dataset dir")
    ap.add_argument(
        "--qa", nargs="*", default=[], help="QA files whose questions and answers are added to the training text"
    )
    ap.add_argument("--out", required=True, help="output directory (loadable with AutoTokenizer.from_pretrained)")
    ap.add_argument("--vocab-size", type=int, default=1000, help="sentencepiece vocabulary size, sentinels excluded")
    ap.add_argument("--extra-ids", type=int, default=100, help="number of <extra_id_N> sentinels")
    args = ap.parse_args(argv)
    if args.vocab_size < 16:
        raise CbqaError(f"--vocab-size {args.vocab_size}: must be at least 16")
    out = train_tokenizer(_texts(args.corpus, args.qa), args.out, args.vocab_size, args.extra_ids)
    tok = load_tokenizer(out)
    s0 = sentinel_ids(tok, 1)[0]
    print(f"wrote tokenizer to {out}/ ({len(tok)} tokens incl. {args.extra_ids} sentinels; <extra_id_0> = {s0})")
    return 0
