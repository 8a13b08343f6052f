"""How a trained reader ranks the entities of its passages, next to what it generates freely.

For each retrieved test question: the reader's free answer (greedy), and its pick among the spaCy entities of the
passages it reads (`cbqa.reader.floor`'s candidates: those whose label fits the question's answer type, minus the
question's own words), ranked by the reader's log-likelihood (`cbqa.reader.answering.Reader.score`). EM by overlap category.
The extractive floor picks among the same candidates by retrieval rank alone, so the gap between the two is what the
reader's reading adds to choosing an entity; the gap to free generation is what generating costs a small model.

    python experiments/reader_candidates.py --model runs/demo/models/reader \
        --retrieved runs/demo/retrieval/test.jsonl --gold runs/demo/world/overlap_gold.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

from cbqa.core.formats.jsonl import read_jsonl
from cbqa.core.metrics import max_em
from cbqa.reader.answering import Reader
from cbqa.reader.floor import PassageNER, answer_labels
from retrieval_baseline.retrieved import hits_of, retrieved_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--retrieved", required=True)
    ap.add_argument("--gold", required=True, help="overlap labels per question id (`labels`: list of categories)")
    ap.add_argument("--untyped", action="store_true", help="every entity of the passages is a candidate")
    args = ap.parse_args()
    start = time.time()
    reader = Reader(args.model)
    k = reader.passages_read
    rows = [r for _, r in retrieved_rows(args.retrieved)]
    labels_of = {str(r["id"]): r["labels"] for _, r in read_jsonl(args.gold)}
    ner = PassageNER()
    ner.annotate([t for r in rows for h in hits_of(r)[:k] for t in (h.text, h.title)])
    free = reader.read([r["question"] for r in rows], [hits_of(r) for r in rows], num_beams=1)
    em: dict[str, dict[str, list[float]]] = {"free": defaultdict(list), "ranked": defaultdict(list)}
    for row, generated in zip(rows, free):
        hits = hits_of(row)[:k]
        mentions = ner.mentions(hits)
        fits = None if args.untyped else answer_labels(row["question"])
        question = row["question"].lower()
        candidates = sorted(
            {m.text for m in mentions if (fits is None or m.label in fits) and m.text.lower() not in question}
        )
        candidates = candidates or sorted({m.text for m in mentions})
        scores = reader.score(row["question"], hits, candidates)
        picked = candidates[max(range(len(scores)), key=scores.__getitem__)] if candidates else ""
        for name, answer in (("free", generated[0].text), ("ranked", picked)):
            for label in labels_of.get(str(row["id"]), ["total"]):
                em[name][label].append(max_em(answer, row["answers"]))
    out = {name: {label: round(100 * sum(v) / len(v), 1) for label, v in by.items()} for name, by in em.items()}
    print(
        json.dumps({"model": args.model, "typed": not args.untyped, "seconds": round(time.time() - start), "em": out})
    )


if __name__ == "__main__":
    main()
