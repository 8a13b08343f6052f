"""What a study writes, the same for `cbqa demo` and `cbqa study` (tests/test_demo.py and tests/test_study.py
check their runs against it)."""

from __future__ import annotations

import json
from pathlib import Path

CATEGORIES = {
    "total",
    "question_overlap",
    "no_question_overlap",
    "answer_overlap",
    "no_answer_overlap",
    "answer_overlap_only",
    "no_overlap",
}


def expected_files(variants: list[str], retrieval: bool) -> set[str]:
    """The files a study writes, relative to its directory (its inputs directory, world/ or data/, aside)."""
    files = {
        "manifest.json",
        "stages.json",
        "timings.json",
        "overlap/test_overlap.jsonl",
        "overlap/summary.json",
        "report/results.json",
        "report/results.md",
        "report/results.png",
        "report/results_detected.json",
        "report/summary.json",
        "predictions/nearest_neighbour_tfidf.jsonl",
        "predictions/nearest_neighbour_dense.jsonl",
    }
    for v in variants:
        files |= {f"models/{v}/summary.json", f"models/{v}/hf/config.json", f"predictions/closed_book_{v}.jsonl"}
    if retrieval:
        files |= {
            "index/manifest.json",
            "retrieval/test.jsonl",
            "retrieval/recall.json",
            "retrieval/counterfactual.json",
            "models/reader/reader_input.json",
            "predictions/retrieval_fid.jsonl",
            "predictions/extractive_floor.jsonl",
        }
    return files


def expected_systems(variants: list[str], retrieval: bool) -> set[str]:
    systems = {f"closed_book_{v}" for v in variants} | {"nearest_neighbour_tfidf", "nearest_neighbour_dense"}
    if retrieval:
        systems |= {"retrieval_fid", "extractive_floor", "extractive_floor_sentence"}
    return systems


def check_study(out: Path, variants: list[str], retrieval: bool) -> None:
    missing = sorted(f for f in expected_files(variants, retrieval) if not (out / f).exists())
    assert missing == [], missing
    results = json.loads((out / "report" / "results.json").read_text())
    assert set(results) == expected_systems(variants, retrieval)
    assert all(set(per) == CATEGORIES for per in results.values())
