"""`cbqa ner` on one long document: annotated in pieces cut at sentence starts (ner_masking.pipeline.annotate_stream)
against a bare `nlp.pipe` over the same pieces, cut by hand (the baseline: what spaCy costs for this text at all).

    python bench/ner_long_document.py                 # a 5 MB document, the project's spaCy pipeline
    python bench/ner_long_document.py --mb 0.5        # quicker

Prints characters/s of both, their ratio (ours / bare), the number of pieces, and the peak resident memory of each
pass. Before pieces, a 5 MB document was parsed whole: it had not finished after 170 s, at 565 MB.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from cbqa.core.formats import Document
from ner_masking.pipeline import DEFAULT_SPACY_MODEL, PIECE_CHARS, annotate_docs, build_pipeline, pieces

NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Claude Shannon", "Emmy Noether", "Kurt Gödel"]
PLACES = ["London", "Manchester", "New York", "Princeton", "Vienna", "Göttingen"]


def document(megabytes: float, seed: int = 0) -> Document:
    rng, parts, size = random.Random(seed), [], 0
    while size < megabytes * 1e6:
        s = f"{rng.choice(NAMES)} moved to {rng.choice(PLACES)} in {rng.randint(1850, 1990)} and worked there for {rng.randint(2, 30)} years."
        parts.append(s)
        size += len(s) + 1
    return Document("long", " ".join(parts))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    ap.add_argument("--piece-chars", type=int, default=PIECE_CHARS)
    args = ap.parse_args()
    doc = document(args.mb)
    nlp = build_pipeline(args.spacy_model)
    bounds = pieces(doc.text, args.piece_chars)
    nlp.max_length = max(nlp.max_length, max(e - s for s, e in bounds) + 1)
    t0 = time.perf_counter()
    bare = list(nlp.pipe((doc.text[s:e] for s, e in bounds), batch_size=8))
    bare_s = time.perf_counter() - t0
    bare_peak = peak_mb()
    t0 = time.perf_counter()
    (ours,) = annotate_docs(nlp, [doc], batch_size=8, piece_chars=args.piece_chars)
    ours_s = time.perf_counter() - t0
    n = len(doc.text)
    print(f"document: {n / 1e6:.1f} MB, {len(bounds)} pieces of at most {args.piece_chars:,} characters")
    print(f"bare nlp.pipe over the pieces: {n / bare_s:,.0f} chars/s ({bare_s:.1f} s), peak RSS {bare_peak:,.0f} MB")
    print(
        f"cbqa (pieces, offsets mapped back): {n / ours_s:,.0f} chars/s ({ours_s:.1f} s), peak RSS {peak_mb():,.0f} MB"
    )
    print(f"ratio ours / bare: {bare_s / ours_s:.2f}x; {len(ours.spans):,} spans, {len(ours.sentences):,} sentences")
    assert len(bare) == len(bounds)


if __name__ == "__main__":
    main()
