"""A tiny run directory like `cbqa demo` writes, built in seconds: toy world, tokenizer, untrained tiny T5s,
prediction files, overlap labels, cloze probe results, a report and a training log. Shared by the app tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cbqa.core.formats import Prediction, read_qa, write_predictions
from cbqa.core.formats.jsonl import write_json, write_jsonl
from cbqa.model.loading import T5Arch, build_from_config
from cbqa.model.tokenizer import train_tokenizer
from cbqa.overlap import OverlapConfig, evaluate_systems, label_overlap
from cbqa.world import WorldConfig, generate_world, write_world

TINY = T5Arch(d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16)


def make_run(out: Path) -> Path:
    """Write `out/demo` (a run with manifest) and return it."""
    run = out / "demo"
    w = write_world(generate_world(WorldConfig(people=20, orgs=4, places=6)), run / "world")
    train, test = read_qa(w["train"]), read_qa(w["test"])
    texts = [json.loads(line)["text"] for line in w["corpus"].read_text().splitlines()] + [q.question for q in train]
    train_tokenizer(texts, run / "tokenizer", vocab_size=300)
    models = {}
    for i, variant in enumerate(("none", "ssm")):
        import torch

        torch.manual_seed(i)
        net, tok = build_from_config(str(run / "tokenizer"), TINY)
        d = run / "models" / variant / "finetune"
        net.save_pretrained(d / "hf")
        tok.save_pretrained(d / "hf")
        _training_log(d, variant, i)
        models[variant] = str(d / "hf")
    _cloze(run, w, models)
    # Closed-book "predictions": right on every third question, so scores are neither 0 nor 100.
    preds = {
        "closed_book_none": [
            Prediction(q.id, q.question, q.answers[0] if k % 3 == 0 else "nobody", q.answers)
            for k, q in enumerate(test)
        ],
        "closed_book_ssm": [
            Prediction(q.id, q.question, q.answers[0] if k % 2 == 0 else "nobody", q.answers)
            for k, q in enumerate(test)
        ],
    }
    paths = {}
    for system, rows in preds.items():
        paths[system] = run / "predictions" / f"{system}.jsonl"
        write_predictions(paths[system], rows)
    overlap = label_overlap(train, test, OverlapConfig(methods=("tfidf",)))
    write_jsonl(run / "overlap" / "test_overlap.jsonl", overlap)
    # the corpus index `cbqa overlap --corpus` keeps next to the labels (the app opens it, never builds one)
    from cbqa.core.formats.corpus import iter_corpus
    from cbqa.overlap.corpus_overlap import (
        build_corpus_index,
        corpus_index_source,
        corpus_sentences,
        default_corpus_index_dir,
    )

    build_corpus_index(
        corpus_sentences(iter_corpus(w["corpus"])),
        default_corpus_index_dir(run / "overlap" / "test_overlap.jsonl"),
        corpus_index_source(w["corpus"]),
    )
    result = evaluate_systems(preds, test, overlap)
    write_json(run / "report" / "results.json", result)
    manifest = {
        "name": "demo",
        "train": "world/train.jsonl",
        "dev": "world/dev.jsonl",
        "test": "world/test.jsonl",
        "corpus": "world/corpus.jsonl",
        "spans": None,
        "index": None,
        "overlap": "overlap/test_overlap.jsonl",
        "gold_overlap": "world/overlap_gold.jsonl",
        "models": {v: str(Path(p).relative_to(run)) for v, p in models.items()},
        "runs": {f"{v}/finetune": f"models/{v}/finetune" for v in models},
        "predictions": {s: str(p.relative_to(run)) for s, p in paths.items()},
        "reader": None,
        "report": "report/results.json",
    }
    write_json(run / "manifest.json", manifest)
    return run


def _cloze(run: Path, world: dict[str, Path], models: dict[str, str]) -> None:
    """`RUN/cloze/` as the demo's cloze stage writes it (rank mode over the world's LAMA files, paths relative to RUN)."""
    from cbqa.memorisation.run_cloze import ClozeConfig, load_cloze_set, run_cloze, write_cloze

    lama = sorted(p for name, p in world.items() if name.startswith("lama_") and name != "lama_relations")
    cset = load_cloze_set(lama, world["lama_relations"])
    result = run_cloze(
        {f"models/{v}": p for v, p in models.items()}, cset, ClozeConfig(k=3, device="cpu"), progress=False
    )
    for m in result["results"]["models"].values():
        m["path"] = str(Path(m["path"]).relative_to(run))
    write_cloze(run / "cloze", result)


def _training_log(run_dir: Path, variant: str, seed: int) -> None:
    """A Lightning CSVLogger-shaped metrics.csv: train rows and validation rows interleaved."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "logs" / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train_loss", "val_em", "val_f1", "val_loss"])
        for step in range(0, 100, 10):
            w.writerow([0, step, round(5.0 / (1 + step / 20) + seed * 0.1, 4), "", "", ""])
            if step % 50 == 0:
                w.writerow([0, step, "", step / 4 + seed, step / 3 + seed, round(4.0 / (1 + step / 30), 4)])
    write_json(run_dir / "summary.json", {"variant": variant, "global_step": 90, "best_val_em": 22.5 + seed})
