"""Benchmark: SSM pretraining data at 20k / 200k / 2M passages, and `cbqa ner` engines.

Part 1 (`--sizes`): writes synthetic spans stores of 100-word passages (generated directly, not with spaCy; kept
under --work and reused), then for each size, in a fresh process: DataModule `setup()` + first batch time, anonymous
resident memory (RssAnon: memory-mapped store pages are file-backed and not counted) after `--batches` batches, and
examples/s of the training data path (SSM task, the demo's preset, mixed with a QA task, tokenized and bucketed).
Prints the growth ratios 200k/20k and 2M/200k, and the data path's rate against a training step of the demo's 1M-
parameter T5 on the same batches, measured in the same run (target >= 20x).

Part 2 (`--padding-store DIR`, e.g. a `cbqa ner` store of the SQuAD dev passages): the padding fraction of input
tokens and the examples cut, per policy, with and without length bucketing, through the real training stream with
an 8,000-piece sentencepiece tokenizer trained on the store's text and `max_input_len` 128.

Part 3 (`--ner-docs`): words/s of `cbqa ner` with the local engine, with `--engine ray`, and of a bare `nlp.pipe`,
on the same documents and processes. Start-up (pipeline load, Ray start, process spawn) is reported separately from
the steady-state rate, measured between the first and the last finished shard; each engine's store size per word.

    python bench/scale_ssm.py [--sizes 20000 200000 2000000] [--ner-docs 20000] [--processes 2] [--work runs/bench_ssm]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

SQUAD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "squad_v1.1_dev" / "passages.jsonl"
LABELS = [
    "PERSON",
    "NORP",
    "FAC",
    "ORG",
    "GPE",
    "LOC",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
    "DATE",
    "TIME",
]
SHARD = 10_000


# -- synthetic stores ------------------------------------------------------------------------------------------------


def synthetic_docs(start: int, n: int, seed: int):
    """Passages shaped like Wikipedia's 100-word DPR passages: 5 sentences of 20 words, ~10 salient spans."""
    from ner_masking.store import SpanDoc

    rng = random.Random(seed * 1_000_003 + start)
    vocab = [f"w{i}" for i in range(5000)]
    out = []
    for i in range(start, start + n):
        text, sentences, spans = "", [], []
        for _ in range(5):
            begin = len(text)
            words = [rng.choice(vocab) for _ in range(20)]
            for k in rng.sample(range(20), 2):
                words[k] = f"Entity{rng.randrange(100_000)}"
            sentence = " ".join(words) + "."
            pos = begin
            for w in words:
                if w.startswith("Entity"):
                    spans.append((pos, pos + len(w), rng.choice(LABELS)))
                pos += len(w) + 1
            text += sentence + " "
            sentences.append((begin, begin + len(sentence)))
        out.append(SpanDoc(f"p{i}", text.rstrip(), sentences, spans, title=f"Title {i}"))
    return out


def make_store(directory: Path, n: int) -> Path:
    """A complete spans store of `n` synthetic passages (reused when it exists)."""
    from cbqa.core.formats.jsonl import write_json
    from ner_masking.store import MANIFEST, STORE_FORMAT, shard_name, write_shard

    if (directory / MANIFEST).exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    t0 = time.perf_counter()
    for k, start in enumerate(range(0, n, SHARD)):
        shards.append(write_shard(directory / shard_name(k), synthetic_docs(start, min(SHARD, n - start), 0), LABELS))
        print(
            f"\r  {directory.name}: {start + SHARD:,} / {n:,} passages ({time.perf_counter() - t0:.0f} s)",
            end="",
            flush=True,
        )
    print()
    counts: dict[str, int] = {}
    for shard in shards:
        for label, k in shard["label_counts"].items():
            counts[label] = counts.get(label, 0) + k
    write_json(
        directory / MANIFEST,
        {
            "format": STORE_FORMAT,
            "complete": True,
            "labels": LABELS,
            "labels_not_in_pipeline": [],
            "shards": shards,
            "docs": n,
            "spans": sum(counts.values()),
            "label_counts": counts,
            "pipeline": {"name": "synthetic", "version": "0", "components": []},
            "options": {"shard_size": SHARD},
            "corpus": {"path": None, "fingerprint": "synthetic", "docs": n},
            "runs": 1,
            "wall_time_s": 0.0,
        },
    )
    return directory


def make_tokenizer(work: Path) -> Path:
    from cbqa.model.tokenizer import train_tokenizer

    out = work / "tokenizer"
    if not (out / "spiece.model").exists():
        texts = [d.text for d in synthetic_docs(0, 2000, 1)] + [f"question: who founded Title {i}?" for i in range(500)]
        train_tokenizer(texts, out, vocab_size=4000)
    return out


def make_qa(work: Path) -> Path:
    from cbqa.core.formats.jsonl import write_jsonl

    path = work / "qa.jsonl"
    if not path.exists():
        write_jsonl(
            path,
            ({"id": f"q{i}", "question": f"Who founded Title {i}?", "answers": [f"Entity{i}"]} for i in range(20_000)),
        )
    return path


# -- part 1: one measurement per size, in a fresh process ------------------------------------------------------------


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(store: Path, tokenizer: Path, qa: Path, batches: int, rate_batches: int) -> dict:
    """Runs in a child process: set-up + first batch, RssAnon after `batches`, examples/s."""
    from transformers import AutoTokenizer

    from cbqa.training.datamodule import Mixing, Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    rss0 = rss_anon_mb()
    t0 = time.perf_counter()
    tasks = [
        TaskConfig(name="ssm", kind="masked", spans=str(store), policy="ssm_title_sentence"),
        TaskConfig(name="qa", kind="qa", file=str(qa)),
    ]
    # The same mixture at every size (K = 20,000: SSM and QA half each), so only the store's size changes; the SSM
    # draws still range over the whole store.
    dm = Seq2SeqDataModule(tasks=tasks, batch_size=64, max_input_len=128, mixing=Mixing(limit=20_000))
    dm.tokenizer = tok
    dm.setup("fit")
    stream = iter(dm.stream())
    first = next(stream)
    first_s = time.perf_counter() - t0
    # Batches come a bucketing window (32 batches) at a time, so the rate is taken over several whole windows' worth
    # of batches after the first one.
    t1, n, padding, tokens, rss = time.perf_counter(), 0, 0, 0, None
    for k in range(batches - 1 + rate_batches):
        b = next(stream)
        n += int(b["stats"][0])
        tokens += int(b["stats"][1])
        padding += int(b["stats"][2])
        if k == batches - 2:
            rss = rss_anon_mb()
    rate = n / (time.perf_counter() - t1)
    return {
        "docs": len(dm.tasks[0].store),
        "setup_first_batch_s": round(first_s, 2),
        "rss_anon_mb_start": round(rss0, 1),
        "rss_anon_mb_after": round(rss, 1),
        "rss_anon_growth_mb": round(rss - rss0, 1),
        "examples_per_s": round(rate, 1),
        "padding_fraction": round(padding / (padding + tokens), 4),
        "first_batch_shape": list(first["input_ids"].shape),
    }


def train_rate(store: Path, tokenizer: Path, qa: Path, steps: int = 20) -> float:
    """Examples/s of a training step (forward, backward, AdamW) of the demo's 1M-parameter T5 on stream batches."""
    import torch
    from transformers import AutoTokenizer

    from cbqa.model.loading import T5Arch, build_from_config
    from cbqa.training.datamodule import Mixing, Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    dm = Seq2SeqDataModule(
        tasks=[
            TaskConfig(name="ssm", kind="masked", spans=str(store), policy="ssm_title_sentence"),
            TaskConfig(name="qa", kind="qa", file=str(qa)),
        ],
        batch_size=64,
        mixing=Mixing(limit=20_000),
    )
    dm.tokenizer = tok
    dm.setup("fit")
    stream = iter(dm.stream())
    data = [next(stream) for _ in range(steps + 3)]
    net, _ = build_from_config(str(tokenizer), T5Arch())
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step(b: dict) -> None:
        loss = net(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in data[:3]:
        step(b)
    t0 = time.perf_counter()
    for b in data[3:]:
        step(b)
    return steps * 64 / (time.perf_counter() - t0)


def child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    store, tok, qa = Path(args.child), make_tokenizer(work), make_qa(work)
    if args.train_rate:
        print(json.dumps({"train_examples_per_s": round(train_rate(store, tok, qa), 1)}))
    else:
        print(json.dumps(measure(store, tok, qa, args.batches, args.rate_batches)))


def run_child(store: Path, args: argparse.Namespace, *extra: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(store),
        "--work",
        args.work,
        "--batches",
        str(args.batches),
        "--rate-batches",
        str(args.rate_batches),
        *extra,
    ]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def scale(args: argparse.Namespace) -> dict:
    work = Path(args.work)
    make_tokenizer(work)
    make_qa(work)
    results = {}
    for n in args.sizes:
        store = make_store(work / f"store_{n}", n)
        results[n] = run_child(store, args)
        print(f"{n:>9,} passages: {json.dumps(results[n])}", flush=True)
    results["train"] = run_child(work / f"store_{args.sizes[0]}", args, "--train-rate")
    sizes = args.sizes
    print("\ngrowth        setup+1st batch   RssAnon growth   examples/s")
    for a, b in zip(sizes, sizes[1:]):
        ra, rb = results[a], results[b]
        print(
            f"{b // 1000}k/{a // 1000}k".ljust(14) + f"{rb['setup_first_batch_s'] / ra['setup_first_batch_s']:>14.2f}x"
            f"{rb['rss_anon_growth_mb'] - ra['rss_anon_growth_mb']:>+15.1f} MB{rb['examples_per_s'] / ra['examples_per_s']:>12.2f}x"
        )
    train = results["train"]["train_examples_per_s"]
    worst = min(results[n]["examples_per_s"] for n in sizes)
    print(
        f"training step (1M-parameter T5, batch 64): {train:,.0f} examples/s; data path (slowest size) {worst:,.0f} "
        f"examples/s = {worst / train:.1f}x the step's consumption (target >= 20x)"
    )
    return results


# -- part 2: padding and truncation on real text ---------------------------------------------------------------------

PADDING_POLICIES = [
    ("ssm (sentence)", "ssm", {}),
    ("ssm_title_sentence", "ssm_title_sentence", {}),
    ("ssm (passage, 128 words)", "ssm", {"context": "passage", "budget": 128}),
    ("span_corruption (whole passage)", "span_corruption", {}),
]


def padding(store_dir: Path, work: Path, batches: int = 60) -> list[dict]:
    from transformers import AutoTokenizer

    from cbqa.model.tokenizer import train_tokenizer
    from cbqa.training.datamodule import Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig
    from ner_masking.store import load_span_store

    tok_dir = work / f"tokenizer_{store_dir.name}"
    if not (tok_dir / "spiece.model").exists():
        train_tokenizer((d.text for d in load_span_store(store_dir)), tok_dir, vocab_size=8000)
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    rows = []
    for name, policy, options in PADDING_POLICIES:
        for window in (1, 32):
            dm = Seq2SeqDataModule(
                tasks=[
                    TaskConfig(name="m", kind="masked", spans=str(store_dir), policy=policy, policy_options=options)
                ],
                batch_size=64,
                bucket_window=window,
            )
            dm.tokenizer = tok
            dm.setup("fit")
            stream = iter(dm.stream())
            total = sum(next(stream)["stats"] for _ in range(batches))
            rows.append(
                {
                    "policy": name,
                    "bucket_window": window,
                    "examples": int(total[0]),
                    "mean_input_tokens": round(int(total[1]) / int(total[0]), 1),
                    "padding_fraction": round(int(total[2]) / int(total[1] + total[2]), 4),
                    "truncated": int(total[3]),
                }
            )
            print(f"  {name:<34} window {window:>2}: {rows[-1]}", flush=True)
    return rows


# -- part 3: NER engines ---------------------------------------------------------------------------------------------


def ner_corpus(work: Path, n: int) -> Path:
    from cbqa.core.formats import Document, write_corpus
    from cbqa.core.formats.corpus import iter_corpus

    path = work / f"ner_{n}.jsonl"
    if path.exists():
        return path
    if SQUAD.exists():
        base = list(iter_corpus(SQUAD))
    else:  # no shared data: the toy world's paragraphs
        from cbqa.world import WorldConfig, generate_world

        base = generate_world(WorldConfig()).documents
    write_corpus(path, (Document(f"n{i}", base[i % len(base)].text, base[i % len(base)].title) for i in range(n)))
    return path


def engine_run(corpus: Path, out: Path, engine: str, processes: int) -> dict:
    import shutil

    from ner_masking.store import ShardView

    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "cbqa",
        "ner",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--engine",
        engine,
        "--n-process",
        str(processes),
        "--shard-size",
        "500",
        "--no-progress",
    ]
    t0 = time.time()
    subprocess.run(cmd, check=True, capture_output=True)
    end = time.time()
    done = sorted((p.stat().st_mtime, p) for p in out.glob("shard-*.arrow"))
    words = {p.name: int(ShardView(p).n_words.sum()) for _, p in done}
    first_t = done[0][0]
    steady_words = sum(words[p.name] for _, p in done[1:])
    store_bytes = sum(p.stat().st_size for p in out.iterdir() if p.is_file())  # the shards and the manifest
    return {
        "engine": engine,
        "wall_s": round(end - t0, 1),
        "startup_s": round(first_t - t0, 1),
        "steady_words_per_s": round(steady_words / max(done[-1][0] - first_t, 1e-9)),
        "words": sum(words.values()),
        "store_bytes_per_word": round(store_bytes / sum(words.values()), 2),  # Arrow, uncompressed, text included
    }


def bare_run(corpus: Path, processes: int) -> dict:
    code = f"""
import json, sys, time
t0 = time.time()
from cbqa.core.formats.corpus import iter_corpus
from ner_masking.pipeline import build_pipeline
texts = [d.text for d in iter_corpus({str(corpus)!r})]
nlp = build_pipeline()
marks, words, seen = [], 0, 0
for doc, text in zip(nlp.pipe(texts, n_process={processes}, batch_size=64), texts):
    seen += 1; words += len(text.split())
    if seen % 500 == 0: marks.append((time.time(), words))
print(json.dumps({{"t0": t0, "marks": marks, "end": time.time(), "words": words}}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    (t1, w1), (t2, w2) = out["marks"][0], out["marks"][-1]
    return {
        "engine": "bare nlp.pipe",
        "wall_s": round(out["end"] - out["t0"], 1),
        "startup_s": round(t1 - out["t0"], 1),
        "steady_words_per_s": round((w2 - w1) / max(t2 - t1, 1e-9)),
        "words": out["words"],
    }


def engines(args: argparse.Namespace) -> list[dict]:
    work = Path(args.work)
    corpus = ner_corpus(work, args.ner_docs)
    rows = [bare_run(corpus, args.processes)]
    for engine in ("local", "ray"):
        rows.append(engine_run(corpus, work / f"ner_{engine}", engine, args.processes))
    print(
        f"\ncbqa ner on {args.ner_docs:,} documents, {args.processes} processes "
        f"(steady state between the first and the last finished shard of 500 documents):"
    )
    for r in rows:
        ratio = r["steady_words_per_s"] / rows[0]["steady_words_per_s"]
        print(
            f"  {r['engine']:<14} start-up {r['startup_s']:>6.1f} s   steady {r['steady_words_per_s']:>8,} words/s "
            f"({ratio:.2f}x bare)   wall {r['wall_s']:.1f} s"
        )
    local, ray = rows[1]["steady_words_per_s"], rows[2]["steady_words_per_s"]
    print(f"  ray / local: {ray / local:.2f} (target >= 0.75)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[20_000, 200_000, 2_000_000])
    ap.add_argument("--batches", type=int, default=50, help="batches before RssAnon is read")
    ap.add_argument("--rate-batches", type=int, default=150, help="batches timed for examples/s, after --batches")
    ap.add_argument("--padding-store", help="a spans store of real text for the padding/truncation table")
    ap.add_argument("--ner-docs", type=int, default=20_000, help="documents for the engine comparison (0: skip)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--work", default="runs/bench_ssm")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--train-rate", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    print(f"load average at start: {os.getloadavg()}")
    results = {
        "scale": scale(args) if args.sizes else None,
        "padding": padding(Path(args.padding_store), Path(args.work)) if args.padding_store else None,
        "ner": engines(args) if args.ner_docs else None,
        "loadavg_end": os.getloadavg(),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
