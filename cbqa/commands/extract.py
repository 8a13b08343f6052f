"""`cbqa extract`: training-data extraction (Carlini et al. 2021) — sample from a model, rank the samples by
perplexity and by perplexity / zlib entropy, and count how many of the top k are memorised.

A sample is memorised when at least 8 consecutive words of it occur in exactly one training document and contain a
whole salient span of it (`--spans`: the spans store of CORPUS), found through an 8-word shingle index of the corpus
built in one streaming pass. Prompts: a lone `<extra_id_0>` and the first words of random corpus documents followed
by `<extra_id_0>` (`--prefix-fraction`); only the generated text counts.

    cbqa extract --model runs/demo/pretrain/ssm --corpus runs/demo/world/corpus.jsonl --spans runs/demo/spans \\
        --samples 1000 --top-k 10 100 --json runs/extract-ssm.json
"""

from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    from cbqa.core.formats.jsonl import write_json
    from cbqa.memorisation.run_extraction import ExtractConfig, run_extraction

    d = ExtractConfig()
    ap = argparse.ArgumentParser(
        prog="cbqa extract", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", required=True, help="training run dir, HF model dir or hub name")
    ap.add_argument("--corpus", required=True, help="the corpus the model was trained on")
    ap.add_argument(
        "--spans", required=True, help="spans store of CORPUS (`cbqa ner`): the salient spans a match must hold"
    )
    ap.add_argument("--samples", type=int, default=d.samples, help=f"samples to generate (default {d.samples})")
    ap.add_argument(
        "--top-k", type=int, nargs="+", default=list(d.top_k), help="report precision at these k (default 10 100)"
    )
    ap.add_argument(
        "--prefix-fraction",
        type=float,
        default=d.prefix_fraction,
        help=f"share of samples prompted by a corpus prefix (default {d.prefix_fraction})",
    )
    ap.add_argument(
        "--prefix-words", type=int, default=d.prefix_words, help=f"words of a prefix prompt (default {d.prefix_words})"
    )
    ap.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    ap.add_argument("--sample-top-k", type=int, default=d.sample_top_k, help="top-k sampling when generating")
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", required=True, help="write the report here")
    args = ap.parse_args(argv)

    cfg = ExtractConfig(
        args.samples,
        tuple(args.top_k),
        args.prefix_fraction,
        args.prefix_words,
        args.max_new_tokens,
        args.sample_top_k,
        args.batch_size,
        args.seed,
        args.device,
    )
    result = run_extraction(args.model, args.corpus, args.spans, cfg)
    write_json(args.json, result)
    print(
        f"{result['samples']} samples, {result['distinct']} distinct, {result['candidates']} of >= 8 words, "
        f"{result['memorised']} memorised"
    )
    for key, r in result["rankings"].items():
        cells = ", ".join(
            f"P@{k} = {v['precision'] if v['precision'] is not None else '-'} ({v['memorised']}/{v['k']})"
            for k, v in r["precision_at_k"].items()
        )
        print(f"  ranked by {key}: {cells}")
    print(f"wrote {args.json}")
    return 0
