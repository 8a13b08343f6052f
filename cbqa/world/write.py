"""`write_world(world, out_dir)`: every file atomically (temp + rename), in a fixed order, no time stamps."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from cbqa.core.formats.jsonl import write_json, write_jsonl
from cbqa.world.lama import lama_rows, relations_rows
from cbqa.world.world import SPLITS, World


def write_world(world: World, out_dir: str | Path) -> dict[str, Path]:
    """Write the world's files under `out_dir`; returns name -> path of what was written."""
    out = Path(out_dir)
    paths = {
        "corpus": out / "corpus.jsonl",
        "qa": out / "qa.jsonl",
        **{split: out / f"{split}.jsonl" for split in SPLITS},
        "overlap_gold": out / "overlap_gold.jsonl",
        "mentions": out / "mentions.jsonl",
        "world": out / "world.json",
        "lama_relations": out / "lama" / "relations.jsonl",
    }
    write_jsonl(paths["corpus"], (d.to_json() for d in world.documents))
    qa = [q.to_json() for q in world.questions]
    write_jsonl(paths["qa"], qa)
    for split in SPLITS:
        write_jsonl(paths[split], (row for row in qa if row["split"] == split))
    write_jsonl(paths["overlap_gold"], (asdict(g) for g in world.gold))
    write_jsonl(paths["mentions"], (asdict(m) for m in world.mentions))
    write_json(paths["world"], world.to_json())
    # The facts as LAMA probe files (`cbqa cloze --lama OUT/lama/*.jsonl --relations OUT/lama/relations.jsonl`)
    texts = {d.id: d.text for d in world.documents}
    for relation, rows in lama_rows(world.facts, texts, world.mentions).items():
        paths[f"lama_{relation}"] = out / "lama" / f"{relation}.jsonl"
        write_jsonl(paths[f"lama_{relation}"], rows)
    write_jsonl(paths["lama_relations"], relations_rows())
    return paths
