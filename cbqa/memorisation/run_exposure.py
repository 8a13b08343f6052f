"""`cbqa exposure` as a library call: every canary of a canary directory against every model, written as JSON + PNG."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cbqa.core.formats.jsonl import write_json
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


def run_exposure(
    models: Sequence[str],
    canaries_dir: str,
    spans: str | None,
    out: Path,
    cfg: ExposureConfig = ExposureConfig(),
    progress: bool = True,
) -> dict[str, Any]:
    from cbqa.core.progress import progress_bar
    from cbqa.memorisation.scoring import target_log_likelihoods
    from cbqa.model.inference import pick_device
    from cbqa.model.loading import load_pretrained

    cset = read_canaries(canaries_dir)
    store = None
    if spans:
        from ner_masking.store import load_span_store

        store = load_span_store(spans, corpus_path=Path(canaries_dir) / CORPUS)
    salience = {c.id: secret_salience(c, store) for c in cset.canaries}
    device = pick_device(cfg.device)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with progress_bar("exposure", total=len(models) * len(cset.canaries), enabled=progress) as advance:
        for model in models:
            # A finished model's rows are kept under OUT/models/, so a rerun after an interruption scores only the
            # models it had not finished (same canaries, model and settings; see `_model_key`).
            key = _model_key(model, cset, cfg)
            done = out / "models" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
            cached = _read_cached(done)
            if cached is not None and cached.get("key") == key:  # salience comes from this run's spans store
                rows += [
                    {**r, "salience": salience[r["canary"]][0], "labels": salience[r["canary"]][1]}
                    for r in cached["rows"]
                ]
                advance(len(cset.canaries))
                continue
            net, tok = load_pretrained(model)
            net.to(device).eval()

            def score(source: str, targets: Sequence[str], net=net, tok=tok):
                return target_log_likelihoods(net, tok, source, targets, cfg.batch_size, device)

            mine = []
            for c in cset.canaries:
                e = canary_exposure(score, cset.format, c, cfg.exact_limit, cfg.samples, cfg.seed)
                mine.append(exposure_row(model, c, *salience[c.id], e))
                advance()
            write_json(done, {"key": key, "rows": mine})
            rows += mine
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
    write_json(out / "exposure.json", result)
    plot_exposure(
        [{**s, "model": Path(s["model"]).name or s["model"]} for s in summary],
        cset.format.space_size,
        out / "exposure.png",
    )
    return result


def _model_key(model: str, cset: Any, cfg: ExposureConfig) -> str:
    """What a model's exposure values depend on: the model's weights, the canary manifest and the settings."""
    from cbqa.core.io import fingerprint
    from cbqa.model.loading import resolve_model_path

    path = Path(resolve_model_path(model))
    weights = fingerprint(path) if path.exists() else model  # a hub name: its name
    return json.dumps(
        {
            "model": model,
            "weights": weights,
            "canaries": cset.to_json(),
            "exact_limit": cfg.exact_limit,
            "samples": cfg.samples,
            "seed": cfg.seed,
        },
        sort_keys=True,
    )


def _read_cached(path: Path) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # absent or unreadable: score the model again
    return cached if isinstance(cached, dict) and isinstance(cached.get("rows"), list) else None
