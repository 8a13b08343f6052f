"""`cbqa extract` as a library call: generate, score, index the corpus, check membership, rank, report."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.memorisation.extraction import (
    RANKINGS,
    Sample,
    as_sample,
    clean_target,
    memorised_matches,
    precision_at,
    prefix_prompt,
    reservoir,
)
from cbqa.memorisation.shingles import SHINGLE, ShingleIndex, words_with_offsets
from ner_masking.masked import sentinel


@dataclass(frozen=True)
class ExtractConfig:
    samples: int = 1000
    top_k: tuple[int, ...] = (10, 100)
    prefix_fraction: float = 0.5  # share of samples prompted by a corpus prefix (the rest: a lone sentinel)
    prefix_words: int = 4
    max_new_tokens: int = 64
    sample_top_k: int = 40  # top-k sampling of the generation
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"


def prompts(corpus: str, cfg: ExtractConfig) -> list[str]:
    from cbqa.core.formats.corpus import iter_corpus

    rng = random.Random(cfg.seed)
    n_prefix = round(cfg.samples * cfg.prefix_fraction)
    picked = (
        reservoir((d.text for d in iter_corpus(corpus) if len(d.text.split()) > cfg.prefix_words), n_prefix, rng)
        if n_prefix
        else []
    )
    if n_prefix and not picked:
        raise CbqaError(f"{corpus}: no document has more than {cfg.prefix_words} words to take a prefix from")
    out = [prefix_prompt(picked[i % len(picked)], cfg.prefix_words) for i in range(n_prefix)]
    return [p for p in out if p] + [sentinel(0)] * (cfg.samples - n_prefix)


def generate(net, tok, prompt_texts: list[str], cfg: ExtractConfig, device, progress=None) -> list[Sample]:
    import torch

    torch.manual_seed(cfg.seed)
    out: list[Sample] = []
    with torch.inference_mode():
        for lo in range(0, len(prompt_texts), cfg.batch_size):
            chunk = prompt_texts[lo : lo + cfg.batch_size]
            enc = tok(chunk, return_tensors="pt", padding=True).to(device)
            seqs = net.generate(**enc, do_sample=True, top_k=cfg.sample_top_k, max_new_tokens=cfg.max_new_tokens)
            raw = tok.batch_decode(seqs[:, 1:], skip_special_tokens=False)  # drop the decoder start token
            out += [
                as_sample(p, clean_target(r, tok.pad_token, tok.eos_token)) for p, r in zip(chunk, raw, strict=True)
            ]
            if progress:
                progress(len(chunk))
    return out


def run_extraction(
    model: str, corpus: str, spans: str, cfg: ExtractConfig = ExtractConfig(), progress: bool = True
) -> dict[str, Any]:
    from cbqa.core.formats.corpus import iter_corpus
    from cbqa.core.progress import progress_bar
    from cbqa.memorisation.scoring import pair_log_likelihoods
    from cbqa.model.inference import pick_device
    from cbqa.model.loading import load_pretrained
    from ner_masking.store import load_span_store

    if cfg.samples < 1 or not cfg.top_k or min(cfg.top_k) < 1:
        raise CbqaError("--samples and every --top-k must be >= 1")
    if not 0.0 <= cfg.prefix_fraction <= 1.0:
        raise CbqaError(f"--prefix-fraction must be between 0 and 1, got {cfg.prefix_fraction}")
    store = load_span_store(spans, corpus_path=corpus)  # rows of the store are rows of the corpus
    t0 = time.perf_counter()
    index = ShingleIndex.build(d.text for d in iter_corpus(corpus))
    t_index = time.perf_counter() - t0
    device = pick_device(cfg.device)
    net, tok = load_pretrained(model)
    net.to(device).eval()
    with progress_bar("generating", total=cfg.samples, enabled=progress) as advance:
        samples = generate(net, tok, prompts(corpus, cfg), cfg, device, advance)
    distinct: dict[str, Sample] = {}
    for s in samples:
        distinct.setdefault(s.text, s)
    candidates = [s for s in distinct.values() if len(words_with_offsets(s.text)) >= SHINGLE]
    if candidates:
        sums, counts = pair_log_likelihoods(
            net, tok, [s.prompt for s in candidates], [s.target for s in candidates], cfg.batch_size, device
        )
        for s, total, n in zip(candidates, sums, counts, strict=True):
            s.log_ppl = float(-total / max(int(n), 1))
            s.matches = memorised_matches(s.text, index, store.doc)
            s.memorised = bool(s.matches)
    return {
        "model": model,
        "corpus": corpus,
        "spans": spans,
        "config": asdict(cfg),
        "samples": len(samples),
        "distinct": len(distinct),
        "candidates": len(candidates),  # distinct samples of at least 8 words: the ranked ones
        "memorised": sum(s.memorised for s in candidates),
        "index": {
            "shingles": len(index),
            "bytes": int(index.hashes.nbytes + index.rows.nbytes),
            "seconds": round(t_index, 2),
        },
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "rankings": {key: precision_at(candidates, key, cfg.top_k) for key in RANKINGS},
    }
