"""Exact match of predictions by the toy world's relation, and the order in which its paragraphs mention the two
facts of one entity kind that a reader has to tell apart (birthplace vs residence, employer vs alma mater).

The per-relation counts and mention-order counts of docs/notes/2026-12-02-demo-reader.md come from here:

    python experiments/reader_relations.py --world runs/demo/world runs/demo/predictions/retrieval_fid.jsonl
    cbqa reader predict --model runs/demo/models/reader --retrieved runs/demo/retrieval/train.jsonl --out train.jsonl
    python experiments/reader_relations.py --world runs/demo/world train.jsonl   # the same on its training questions
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from cbqa.core.formats.jsonl import read_jsonl
from cbqa.core.metrics import max_em

PAIRS = (("birthplace", "residence"), ("alma_mater", "employer"))


def by_relation(predictions: Path, relation_of: dict[str, str]) -> dict[str, tuple[int, int]]:
    """relation -> (exact matches, questions) of one predictions file."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, row in read_jsonl(predictions):
        rel = relation_of.get(str(row["id"]), "?")
        hits[rel][0] += int(max_em(row["prediction"], row["answers"]))
        hits[rel][1] += 1
    return {rel: (h[0], h[1]) for rel, h in sorted(hits.items())}


def mention_order(world: Path) -> Counter:
    """For each corpus paragraph naming both facts of a pair: which of the two it mentions first."""
    answers: dict[str, dict[str, str]] = defaultdict(dict)
    for _, q in read_jsonl(world / "qa.jsonl"):
        answers[q["subject_id"]][q["relation"]] = q["answers"][0]
    order: Counter = Counter()
    for _, doc in read_jsonl(world / "corpus.jsonl"):
        facts = answers.get(str(doc["id"]).split("-")[0], {})
        for a, b in PAIRS:
            if a in facts and b in facts and facts[a] != facts[b]:
                i, j = doc["text"].find(facts[a]), doc["text"].find(facts[b])
                if i >= 0 and j >= 0:
                    order[f"{a} first" if i < j else f"{b} first"] += 1
    return order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path, required=True, help="a `cbqa world` directory (qa.jsonl, corpus.jsonl)")
    ap.add_argument("predictions", nargs="*", type=Path)
    args = ap.parse_args()
    relation_of = {str(q["id"]): str(q["relation"]) for _, q in read_jsonl(args.world / "qa.jsonl")}
    for path in args.predictions:
        cells = ", ".join(f"{rel} {em}/{n}" for rel, (em, n) in by_relation(path, relation_of).items())
        print(f"{path}: {cells}")
    print("mention order in the corpus:", dict(mention_order(args.world)))


if __name__ == "__main__":
    main()
