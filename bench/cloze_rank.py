"""Rank-mode cloze scoring with the encoder run once per input (`cbqa.memorisation.scoring.grid_log_likelihoods`, what
`cbqa cloze --mode rank` does) against the same batches with the encoder recomputed for every (input, candidate)
pair, in the same run: the scores must agree (within 1e-5, relative: float32 rounding differs with the batch
shapes), and the ratio of times is what the reuse saves. "Encoder once per input" is `cbqa cloze`'s path: per input,
the encoder, the decoder's cross-attention keys and values, and the decoder over the targets' common start
(`<extra_id_0>`) once; then one decoder pass per candidate over the rest of its tokens.

Inputs: the toy world's facts as template clozes ("Laura Emerson is a native of <extra_id_0>."), each ranked against
`--candidates` answers (the world's objects, pooled); the model: a random T5 of the demo's size (~1M parameters,
a tokenizer trained on the world's corpus) unless `--model` names one. CPU time per arm (process time, robust to other
work on a shared machine), best of `--repeats`.

    python bench/cloze_rank.py                        # 50 candidates, 200 facts, one torch thread
    python bench/cloze_rank.py --model runs/demo/pretrain/ssm --candidates 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def setup(model: str | None, tmp: Path):
    import torch

    from cbqa.model.loading import T5Arch, build_from_config, load_pretrained
    from cbqa.model.tokenizer import train_tokenizer
    from cbqa.world import WorldConfig, generate_world

    world = generate_world(WorldConfig())
    if model:
        net, tok = load_pretrained(model)
    else:
        texts = [d.text for d in world.documents]
        train_tokenizer(texts, tmp / "tok", vocab_size=800)
        torch.manual_seed(0)
        net, tok = build_from_config(str(tmp / "tok"), T5Arch())
    return world, net.eval(), tok


def main() -> None:
    import numpy as np
    import torch

    from cbqa.memorisation.cloze import span_target, template_input
    from cbqa.memorisation.scoring import grid_log_likelihoods
    from cbqa.world.lama import LAMA_TEMPLATES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model to time instead of a random demo-sized T5")
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--facts", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=None, help="pairs per forward pass (default: sized to the vocab)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        world, net, tok = setup(args.model, Path(tmp))
    facts = [f for f in world.facts if f.relation != "birth_date"][: args.facts]
    sources = [template_input(LAMA_TEMPLATES[f.relation][0], f.subject) for f in facts]
    pool = sorted({a for f in world.facts for a in f.answers[:1]})
    if len(pool) < args.candidates:
        raise SystemExit(f"the world has only {len(pool)} distinct answers")
    step = len(pool) / args.candidates
    targets = [span_target(pool[int(i * step)]) for i in range(args.candidates)]

    def timed(reuse: bool):
        best, scores = float("inf"), None
        for _ in range(args.repeats):
            t0 = time.process_time()
            scores, _ = grid_log_likelihoods(
                net, tok, sources, targets, args.batch_size, reuse_encoder=reuse, eos=False
            )
            best = min(best, time.process_time() - t0)
        return best, scores

    timed(True)  # warm-up (allocator, kernels)
    reuse_s, reuse_scores = timed(True)
    again_s, again_scores = timed(False)
    diff = float((np.abs(reuse_scores - again_scores) / np.maximum(1.0, np.abs(again_scores))).max())
    print(
        f"{len(sources)} facts x {len(targets)} candidates ({len(sources) * len(targets):,} pairs), "
        f"{sum(p.numel() for p in net.parameters()) / 1e6:.1f}M parameters, {args.threads} thread(s)"
    )
    print(f"encoder once per input:  {reuse_s:.3f} s CPU  ({len(sources) / reuse_s:.1f} facts/s)")
    print(f"encoder per candidate:   {again_s:.3f} s CPU  ({len(sources) / again_s:.1f} facts/s)")
    print(f"ratio {again_s / reuse_s:.2f}x; largest relative score difference {diff:.2e} (must be <= 1e-5)")
    if diff > 1e-5:
        raise SystemExit("the two arms disagree")


if __name__ == "__main__":
    main()
