"""`RUN/manifest.json`: what `cbqa demo --out RUN` (and `cbqa benchmark --out RUN`) writes when it finishes and the app
reads (`cbqa_app.run_dir`).

It names the run's data files, models, training runs, prediction files, retrieval index, reader and report, by paths
relative to RUN (or absolute), and the demo's settings. Every key may be missing (a run still being written, or made
by hand) and unknown keys are kept. It lives in the core because its writer (the demo) and its reader (the app) are
layers that do not import each other.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictStr

from cbqa.core.contracts import Contract

MANIFEST = "manifest.json"
PATH_KEYS = (
    "train",
    "dev",
    "test",
    "corpus",
    "spans",
    "index",
    "overlap",
    "gold_overlap",
    "reader",
    "report",
    "benchmark",
)
MAPPING_KEYS = ("models", "runs", "predictions")  # name -> path


class RunManifest(Contract):
    HINT = "is `cbqa demo` still writing it?"
    name: StrictStr | None = None
    train: StrictStr | None = None
    dev: StrictStr | None = None
    test: StrictStr | None = None
    corpus: StrictStr | None = None
    spans: StrictStr | None = None
    index: StrictStr | None = None
    overlap: StrictStr | None = None
    gold_overlap: StrictStr | None = None
    models: dict[str, StrictStr] | None = None
    runs: dict[str, StrictStr] | None = None
    predictions: dict[str, StrictStr] | None = None
    reader: StrictStr | None = None
    report: StrictStr | None = None
    benchmark: StrictStr | None = None  # `cbqa benchmark`'s results row (benchmark.json)
    config: dict[str, Any] | None = None  # the demo's DemoConfig
