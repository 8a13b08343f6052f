"""`cbqa exposure` as a library call: every canary of a canary directory against every model, written as JSON + PNG."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cbqa.data.jsonl import write_json
from cbqa.memorisation.canaries import CORPUS, read_canaries
from cbqa.memorisation.exposure import (
    DEFAULT_EXACT_LIMIT,
    DEFAULT_SAMPLES,
    canary_exposure,
    exposure_row,
    plot_exposure,
    secret_salience,
    summarise,
)


@dataclass(frozen=True)
class ExposureConfig:
    exact_limit: int = DEFAULT_EXACT_LIMIT
    samples: int = DEFAULT_SAMPLES
    batch_size: int = 1024
    seed: int = 0
    device: str = "auto"


def run_exposure(models: Sequence[str], canaries_dir: str, spans: str | None, out: Path,
                 cfg: ExposureConfig = ExposureConfig(), progress: bool = True) -> dict[str, Any]:  # fmt: skip
    from rich.progress import Progress

    from cbqa.inference import pick_device
    from cbqa.memorisation.scoring import target_log_likelihoods
    from cbqa.modeling import load_pretrained

    cset = read_canaries(canaries_dir)
    store = None
    if spans:
        from ner_masking.store import load_span_store

        store = load_span_store(spans, corpus_path=Path(canaries_dir) / CORPUS)
    salience = {c.id: secret_salience(c, store) for c in cset.canaries}
    device = pick_device(cfg.device)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("exposure", total=len(models) * len(cset.canaries))
        for model in models:
            net, tok = load_pretrained(model)
            net.to(device).eval()

            def score(source: str, targets: Sequence[str]):
                return target_log_likelihoods(net, tok, source, targets, cfg.batch_size, device)

            for c in cset.canaries:
                e = canary_exposure(score, cset.format, c, cfg.exact_limit, cfg.samples, cfg.seed)
                rows.append(exposure_row(model, c, *salience[c.id], e))
                bar.advance(task)
    summary = summarise(rows)
    result = {
        "canaries": str(canaries_dir),
        "spans": spans,
        "format": cset.format.name,
        "space_size": cset.format.space_size,
        "max_exposure": math.log2(cset.format.space_size),
        "method": "exact" if cset.format.space_size <= cfg.exact_limit else "skewnorm",
        "config": asdict(cfg),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "summary": summary,
        "canary_exposures": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "exposure.json", result)
    plot_exposure([{**s, "model": Path(s["model"]).name or s["model"]} for s in summary], cset.format.space_size,
                  out / "exposure.png")  # fmt: skip
    return result
