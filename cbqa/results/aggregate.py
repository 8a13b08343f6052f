"""Measured registry entries from repeated runs: the mean over the runs, their sd, and the band by the registry's rule.

    python -m cbqa.results.aggregate demo --runs R0 R1 R2 --other-threads R0T2 [--write]
    python -m cbqa.results.aggregate demo-worlds --runs W1 W2 --machine-pair R0 R0T2 [--write]
    python -m cbqa.results.aggregate study-squad --runs S0 S1 S2 --other-threads S0T2 [--write]
    python -m cbqa.results.aggregate demo-times --runs R0 R1 R2 --before B --paired N [--write]
    python -m cbqa.results.aggregate study-times --runs S0 S2 [--write]
    python -m cbqa.results.aggregate cpu_webquestions --runs W0 W1 W2 --other-threads W0T1 [--write]
    python -m cbqa.results.aggregate bench-scale-ssm --runs B [--write]          # B: bench/scale_ssm.py's --work
    python -m cbqa.results.aggregate bench-scale-retrieval --runs B [--write]    # B: bench/scale_retrieval.py's --work
    python -m cbqa.results.aggregate bench-scale-overlap --runs B [--write]      # B: its --work of --overlap-only

Each table (`TABLES`) names where each figure of a finished run is read (a JSON file and key). `--runs` are runs that
differ in what the table's `spread` says (training seeds; world seeds for demo-worlds); `--other-threads` is a run of
the first run's seed on another number of torch threads, which sums in another order, as another machine of this
kind does (`--machine-pair R0 R0T2` takes that term from another table's pair, for runs without a twin of their own).
tolerance = max(3 sd, |first run - other-threads run|), capped at 10 points for an EM-like figure (a band
wider than that cannot tell a broken install from normal variation; a capped entry's `what` says what the rule gave,
and a fresh run may then fall outside by seed alone); a wall time's or a rate's band is at least 40% of its mean, since
machines of this kind differ by 20-40% in speed, and so is a memory figure's; a recall's is at least 0.02.
A table's `estimates` are estimate entries computed from its fresh figures (docs/scale.md's figures of DPR's
Wikipedia: NER core-hours, spans store and data-path memory from bench-scale-ssm, index sizes from
bench-scale-retrieval and bench-scale-overlap), so that they follow each rerun. `--write` replaces the table's
generated block in registry.yaml; without it, the entries are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_writer
from cbqa.results.registry import EM_UNITS, MAX_EM_HALF_WIDTH
from cbqa.results.reproduce import figure

REGISTRY = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class Figure:
    row: str
    column: str
    file: str
    key: str
    unit: str
    what: str


def _systems(columns: dict[str, str]) -> list[Figure]:
    rows = {
        "closed_book_none": "closed-book, no pretraining objective",
        "closed_book_span_corruption": "closed-book, span corruption",
        "closed_book_ssm": "closed-book, salient span masking",
        "retrieval_fid": "retrieval + FiD reader",
        "extractive_floor": "extractive floor (rank)",
        "extractive_floor_sentence": "extractive floor (sentence rule)",
        "nearest_neighbour_tfidf": "nearest neighbour (TF-IDF)",
        "nearest_neighbour_dense": "nearest neighbour (dense)",
    }
    return [
        Figure(label, col, "report/results.json", f"{system}.{cat}.em", "EM", f"test EM of {label}, {col}")
        for system, label in rows.items()
        for cat, col in columns.items()
    ]


CATEGORIES = {"total": "total", "answer_overlap_only": "answer overlap only", "no_overlap": "no overlap"}
# (the tables below keep one figure, table or field a line: they read as the tables they become)
CHECKS = [
    Figure("SSM − none, total", "EM points", "report/summary.json", "differences.ssm_minus_none_total", "points", "test EM of SSM minus the variant without an objective"),
    Figure("SSM − none, answer overlap only", "EM points", "report/summary.json", "differences.ssm_minus_none_answer_overlap_only", "points", "the same, on questions whose answer (only) appears in training"),
    Figure("SSM − span corruption, total", "EM points", "report/summary.json", "differences.ssm_minus_span_corruption_total", "points", "test EM of SSM minus span corruption"),
    Figure("SSM − span corruption, answer overlap only", "EM points", "report/summary.json", "differences.ssm_minus_span_corruption_answer_overlap_only", "points", "the same, answer-overlap-only questions"),
    Figure("reader − rank floor, no overlap", "EM points", "report/summary.json", "differences.reader_minus_extractive_floor_no_overlap", "points", "the FiD reader's EM minus the rank-based extractive floor's, no-overlap questions"),
    Figure("reader − sentence-rule floor, no overlap", "EM points", "report/summary.json", "differences.reader_minus_extractive_floor_sentence_no_overlap", "points", "the FiD reader's EM minus the sentence-rule floor's, no-overlap questions"),
    Figure("counterfactual: reader outputs the substitute", "%", "retrieval/counterfactual.json", "substitute", "%", "share of entity-swapped questions the reader answers with the substitute"),
]  # fmt: skip # one figure a line: the list reads as the table's rows
# The demo's wall time and its longest stages (stages run side by side, two lanes, so their sum exceeds the total)
TIMES = [
    Figure("whole run", "wall time (s)", "timings.json", "total_s", "s", "wall time of the whole run"),
    *(Figure(stage, "", "timings.json", f"stages_s.{stage}", "s", f"wall time of the demo's {stage!r} stage")
      for stage in ("train none", "pretrain span_corruption", "train span_corruption", "pretrain ssm", "train ssm",
                    "reader finetune")),
]  # fmt: skip # one figure a line
TIME_SHARE = 0.4  # machines of this kind differ by 20-40% in speed: a wall time's band is at least 40% of its mean
# (and so is a rate's, and a one-run memory figure's: resident memory follows the allocator and the host's state)
SHARE_UNITS = {"s", "examples/s", "words/s", "queries/s", "MB"}
RECALL_BAND = 0.02  # a recall from a fixed-seed index on one thread: only the summation order can move it
CLOZE = [
    Figure(f"{v}, after {when}", subjects, "report/summary.json", f"cloze.{v}.{stage}.{key}", "P@1",
           f"rank-mode cloze P@1 of the {v} variant after {when}, {subjects} (docs/probes.md)")
    for v in ("none", "span_corruption", "ssm")
    for stage, when in (("pretrain", "pretraining"), ("models", "fine-tuning"))
    if not (v == "none" and stage == "pretrain")
    for key, subjects in (("train", "QA-train subjects"), ("held_out", "held-out subjects"))
]  # fmt: skip # one figure a line

WQ_ROW = "T5, 1.2M parameters from scratch, 200 steps (CPU)"
WEBQUESTIONS = [
    Figure(WQ_ROW, "EM", "bench/benchmark.json", "total.em", "EM", "EM (squad normaliser) of the CPU run on all 2,032 WebQuestions test questions"),
    Figure(WQ_ROW, "F1", "bench/benchmark.json", "total.f1", "F1", "F1 (squad normaliser) of the CPU run on all 2,032 WebQuestions test questions"),
    Figure(WQ_ROW, "EM, answer overlap", "bench/benchmark.json", "categories.answer_overlap.em", "EM", "EM of the CPU run on the 1,210 test questions whose answer is a training answer (detector)"),
    Figure(WQ_ROW, "EM, no answer overlap", "bench/benchmark.json", "categories.no_answer_overlap.em", "EM", "EM of the CPU run on the 822 test questions whose answer no training question has (detector)"),
    Figure(WQ_ROW, "wall time (s)", "bench/benchmark.json", "timing.total_s", "s", "wall time of the cbqa benchmark command of the CPU run (fine-tuning, answering the 2,032 questions, scoring)"),
]  # fmt: skip # one figure a line

# bench/scale_ssm.py --json scale_ssm.json: the SSM data path at three corpus sizes and `cbqa ner`'s engines
SSM_SIZES = (20_000, 200_000, 2_000_000)
SCALE_SSM = [
    *(Figure(f"{n:,} passages", col, "scale_ssm.json", f"scale.{n}.{key}", unit, f"{what}, {n:,} synthetic passages")
      for n in SSM_SIZES
      for col, key, unit, what in (
          ("set-up + first batch (s)", "setup_first_batch_s", "s", "DataModule set-up and first batch of the SSM data path"),
          ("RssAnon growth (MB)", "rss_anon_growth_mb", "MB", "anonymous resident memory the data path adds over its batches"),
          ("examples/s", "examples_per_s", "examples/s", "examples/s of the SSM + QA training data path"))),
    Figure("training step of the demo's T5", "examples/s", "scale_ssm.json", "scale.train.train_examples_per_s", "examples/s", "examples/s of a training step of the demo's 1M-parameter T5 on the same batches"),
    *(Figure(f"cbqa ner, {engine}", col, "scale_ssm.json", f"ner.{i}.{key}", unit, f"{what} of {engine} on 8,000 SQuAD passages, 2 processes")
      for i, engine in enumerate(("a bare nlp.pipe", "the local engine", "the Ray engine"))
      for col, key, unit, what in (("start-up (s)", "startup_s", "s", "start-up"), ("steady words/s", "steady_words_per_s", "words/s", "steady-state words/s"))),
    Figure("cbqa ner, the local engine", "store bytes/word", "scale_ssm.json", "ner.1.store_bytes_per_word", "bytes/word", "size of the spans store (Arrow shards, text included, and manifest) per word, local engine on 8,000 SQuAD passages"),
]  # fmt: skip # one figure a line
# DPR's Wikipedia (Karpukhin et al. 2020): 21,015,324 passages of 100 words, what docs/scale.md sizes its runs by
WIKIPEDIA_PASSAGES = 21_015_324
WIKIPEDIA_WORDS = WIKIPEDIA_PASSAGES * 100
MIB = 2**20  # the benches' "MB" are MiB (kB of /proc / 1024, bytes / 2**20)
BIG = 2_000_000  # the largest corpus of bench/scale_retrieval.py, which the DPR-scale estimates carry on from
DIM_COLUMN = {384: "MiniLM, 384-d", 768: "DPR, 768-d"}  # table scale-dpr's columns: the encoders' dimensions


def estimate(
    *, id: str, table: str, row: str, column: str, unit: str, value: float, formula: str, inputs: list[str], what: str
) -> dict[str, Any]:
    """An estimate entry in registry form, its keys in the order registry.yaml shows them."""
    return {
        "id": id,
        "kind": "estimate",
        "unit": unit,
        "table": table,
        "what": what,
        "row": row,
        "column": column,
        "value": value,
        "formula": formula,
        "inputs": inputs,
    }


def at_wikipedia_gb(mb: float, passages: int) -> float:
    """GB over DPR's 21M passages of what took `mb` MiB for `passages` passages (the same bytes a passage)."""
    return mb * MIB / passages * WIKIPEDIA_PASSAGES / 1e9


def scale_ssm_estimates(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """docs/scale.md's Wikipedia-scale NER figures, computed from this run's local engine (estimate entries of table
    scale-wikipedia, so that they follow each rerun of the bench), then the data path's (`_data_path_estimates`)."""
    of = {e["id"].rsplit("/", 1)[-1]: e for e in measured if e["row"] == "cbqa ner, the local engine"}
    rate, size = of["steady-words-s"], of.get("store-bytes-word")
    row = "cbqa ner over DPR's Wikipedia (2.1B words), the local engine"
    out = [
        estimate(
            id="scale-wikipedia/ner/core-hours",
            table="scale-wikipedia",
            row=row,
            column="core-hours",
            unit="core h",
            value=round(WIKIPEDIA_WORDS / (rate["expected"] / 2) / 3600),
            formula="core-hours = 21,015,324 passages x 100 words / (the local engine's steady words/s on 2 cores / 2) / 3600",
            inputs=[rate["id"]],
            what="core-hours of `cbqa ner` (local engine, en_core_web_sm) over DPR's Wikipedia, 2.1B words",
        )
    ]
    if size is not None:
        out.append(
            estimate(
                id="scale-wikipedia/ner/store-gb",
                table="scale-wikipedia",
                row=row,
                column="spans store (GB)",
                unit="GB",
                value=round(WIKIPEDIA_WORDS * size["expected"] / 1e9, 1),
                formula="GB = 21,015,324 passages x 100 words x the store's bytes per word on SQuAD / 1e9",
                inputs=[size["id"]],
                what="size of the spans store of DPR's Wikipedia, 2.1B words",
            )
        )
    return out + _data_path_estimates(measured)


def _data_path_estimates(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a rank of SSM pretraining holds in anonymous memory over DPR's Wikipedia: the growth per passage between
    the bench's two largest corpora, carried on from the largest to 21M passages."""
    growth = {e["row"]: e for e in measured if e["id"].endswith("/rssanon-growth-mb")}
    (small, a), (big, b) = [(n, growth.get(f"{n:,} passages")) for n in SSM_SIZES[-2:]]
    if a is None or b is None:
        return []
    per_passage = (b["expected"] - a["expected"]) * MIB / (big - small)
    row, inputs = "the SSM data path over DPR's Wikipedia (21M passages), one rank", [a["id"], b["id"]]
    return [
        estimate(
            id="scale-wikipedia/data-path/bytes-passage",
            table="scale-wikipedia",
            row=row,
            column="bytes per passage",
            unit="bytes",
            value=round(per_passage, 1),
            formula=f"bytes per passage = (RssAnon growth at {big:,} - at {small:,} passages) / {big - small:,}",
            inputs=inputs,
            what="anonymous memory a rank's SSM data path adds per passage of the corpus",
        ),
        estimate(
            id="scale-wikipedia/data-path/rss-anon-gb",
            table="scale-wikipedia",
            row=row,
            column="RssAnon per rank (GB)",
            unit="GB",
            value=round((b["expected"] * MIB + per_passage * (WIKIPEDIA_PASSAGES - big)) / 1e9, 2),
            formula=f"GB = (RssAnon growth at {big:,} passages + bytes per passage x (21,015,324 - {big:,})) / 1e9",
            inputs=inputs,
            what="anonymous memory a rank's SSM data path holds over DPR's 21M passages",
        ),
    ]


# the bench's figures at 2M that scale_retrieval_estimates reads: (index type, column slug)
RETRIEVAL_INPUTS = (
    ("flat", "passage-store-mb"),
    ("flat", "index-mb"),
    ("ivfpq", "index-mb"),
    ("flat", "queries-s-batched"),
)


def scale_retrieval_estimates(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """docs/scale.md's figures of an index over DPR's 21M passages, carried on from the bench's 2M-passage figures
    (synthetic 100-word passages, 384-d vectors): per passage, times 21M; at 768-d, twice the vector bytes (the flat
    index, exact search) or 48 more code bytes (IVF-PQ's codes of dimensions / 8 bytes)."""
    n, ids = BIG, {e["id"]: e for e in measured}
    of = {f"{k}-{c}": ids.get(f"bench-scale-retrieval/{k}-2-000-000-passages/{c}") for k, c in RETRIEVAL_INPUTS}
    if None in of.values():
        return []
    store, flat, pq, qps = of.values()
    out = []
    for dim in DIM_COLUMN:
        x = dim // 384
        for row, value, formula, source in (
            ("passage store (GB)", at_wikipedia_gb(store["expected"], n),
             f"passage store GB = its bytes per synthetic 100-word passage at {n:,} x 21,015,324 / 1e9", store),
            ("float16 embeddings (GB)", WIKIPEDIA_PASSAGES * dim * 2 / 1e9,
             "embeddings GB = 21,015,324 x dimensions x 2 bytes / 1e9", None),
            ("flat index (GB)", x * at_wikipedia_gb(flat["expected"], n),
             f"flat index GB = its bytes per 384-d passage at {n:,} (x 2 at 768-d) x 21,015,324 / 1e9", flat),
            ("IVF-PQ index (GB)", at_wikipedia_gb(pq["expected"], n) + (dim - 384) / 8 * WIKIPEDIA_PASSAGES / 1e9,
             f"IVF-PQ index GB = (its bytes per passage at {n:,} with codes of 384 / 8 bytes, + 48 at 768-d) x 21,015,324 / 1e9", pq),
            ("exact search on one thread (queries/s)", qps["expected"] * n / WIKIPEDIA_PASSAGES / x,
             f"queries/s = the flat index's batched queries/s at {n:,} x {n:,} / 21,015,324 (/ 2 at 768-d)", qps),
        ):  # fmt: skip # one figure a line: the list reads as the table's rows
            out.append(
                estimate(
                    id=f"scale-dpr/{slug(row)}/{dim}-d",
                    table="scale-dpr",
                    row=row,
                    column=DIM_COLUMN[dim],
                    unit="queries/s" if "queries" in row else "GB",
                    value=round(value, 1),
                    formula=formula,
                    inputs=[source["id"]] if source else [],
                    what=f"{row.split(' (')[0]} over DPR's 21,015,324 passages, {dim}-d vectors",
                )
            )
    return out


# bench/scale_retrieval.py --sizes 2000000 --overlap-only: `cbqa overlap --corpus` over the 2M corpus, 200 questions
OVERLAP_ROW = "cbqa overlap --corpus, 2,000,000 passages, 200 questions"
SCALE_OVERLAP = [
    Figure(OVERLAP_ROW, col, "results.json", f"{BIG}.overlap.{key}", unit, what)
    for col, key, unit, what in (
        (
            "build and label (s)",
            "wall_s",
            "s",
            "wall time of cbqa overlap --corpus building its sentence index over 2M synthetic passages and labelling 200 questions",
        ),
        (
            "rerun, index built (s)",
            "rerun_s",
            "s",
            "wall time of the same command again, the sentence index built: corpus fingerprint, open, 200 lookups",
        ),
        (
            "on disk (MB)",
            "dir_mb",
            "MB",
            "size of the on-disk sentence index of 2M synthetic passages (and the labels)",
        ),
        (
            "peak resident (MB)",
            "peak_mb",
            "MB",
            "peak resident memory of cbqa overlap --corpus while it builds its sentence index over 2M passages",
        ),
    )
]


def scale_overlap_estimates(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The on-disk sentence index of `cbqa overlap --corpus` over DPR's 21M passages: its size per passage at 2M."""
    disk = next((e for e in measured if e["column"] == "on disk (MB)"), None)
    if disk is None:
        return []
    return [
        estimate(
            id=f"scale-dpr/overlap-sentence-index-gb/{dim}-d",
            table="scale-dpr",
            row="cbqa overlap's sentence index (GB)",
            column=DIM_COLUMN[dim],
            unit="GB",
            value=round(at_wikipedia_gb(disk["expected"], BIG), 1),
            formula="sentence index GB = its bytes per synthetic 100-word passage at 2,000,000 x 21,015,324 / 1e9",
            inputs=[disk["id"]],
            what="the on-disk sentence index of cbqa overlap --corpus over DPR's 21,015,324 passages",
        )
        for dim in DIM_COLUMN
    ]


# bench/scale_retrieval.py --threads 1: results.json, per size and index type (one FAISS thread)
SCALE_RETRIEVAL = [
    Figure(f"{kind}, {n:,} passages", col, "results.json", f"{n}.{kind}.{key}", unit, f"{what}, {kind} index over {n:,} synthetic 384-d passages")
    for n in (200_000, 2_000_000)
    for kind in ("flat", "ivf", "ivfpq")
    for col, key, unit, what in (
        ("build (s)", "build.wall_s", "s", "wall time of build_index"),
        ("build peak over start (MB)", "build.peak_over_start_mb", "MB", "peak resident memory of the build over its start"),
        ("index (MB)", "build.index_mb", "MB", "size of the index file"),
        ("queries/s, batched", "load.batched_qps", "queries/s", "queries/s of search_vectors, all queries in one call"),
        ("recall@10 vs flat", "recall", "recall", "recall@10 against the flat index's results"))
] + [
    Figure(f"flat, {n:,} passages", "passage store (MB)", "results.json", f"{n}.flat.build.passages_mb", "MB", f"size of the passage store (Arrow shards) of {n:,} synthetic 100-word passages")
    for n in (200_000, 2_000_000)
]  # fmt: skip # one figure a line

TABLES: dict[str, dict[str, Any]] = {
    "demo": {"run": "demo", "figures": _systems(CATEGORIES), "spread": "training seeds 0-2 on world seed 0"},
    "demo-checks": {"run": "demo", "figures": CHECKS, "spread": "training seeds 0-2 on world seed 0"},
    "demo-cloze": {"run": "demo", "figures": CLOZE, "spread": "training seeds 0-2 on world seed 0"},
    "demo-times": {"run": "demo", "figures": TIMES, "spread": "training seeds 0-2 on world seed 0", "column": "make demo",
                   "paired_column": "back to back", "before": "main at 40b1dfe", "before_commit": "40b1dfe", "before_run": "demo-before"},
    "demo-worlds": {"run": "demo-worlds", "figures": _systems({"total": "total", "no_overlap": "no overlap"}), "spread": "world seeds 1-2, each trained with its own seed"},
    "study-squad": {"run": "study-squad", "figures": _systems({"total": "total", "no_overlap": "no overlap (detected)"}), "spread": "training seeds 0-2"},
    "cpu_webquestions": {"run": "webquestions_cpu", "figures": WEBQUESTIONS, "spread": "training seeds 0-2, set by --seed_everything"},
    "bench-scale-ssm": {"run": "bench-scale-ssm", "figures": SCALE_SSM, "spread": "one run; a speed, time or memory band is 40% of the value", "estimates": scale_ssm_estimates},
    "bench-scale-retrieval": {"run": "bench-scale-retrieval", "figures": SCALE_RETRIEVAL, "spread": "one run; a speed, time or memory band is 40% of the value", "estimates": scale_retrieval_estimates},
    "bench-scale-overlap": {"run": "bench-scale-overlap", "figures": SCALE_OVERLAP, "spread": "one run; a time or memory band is 40% of the value", "estimates": scale_overlap_estimates},
    "study-times": {"run": "study-squad", "figures": TIMES[:1], "spread": "uninterrupted runs of training seeds 0 and 2", "column": "cbqa study (SQuAD)"},
}  # fmt: skip # one table a line


def entries(table: str, runs: list[Path], other: Path | None, pair: list[Path] | None = None) -> list[dict[str, Any]]:
    """`other`: runs[0]'s seed on other threads; `pair`: a run and its other-threads twin from another table's runs
    (the machine term for runs that have no twin of their own, e.g. the other worlds)."""
    spec = TABLES[table]
    twin = tuple(pair) if pair is not None else (runs[0], other) if other is not None else None
    out = []
    for f in spec["figures"]:
        values = [figure_of(run, f) for run in runs]
        if any(v is None for v in values):
            if all(v is None for v in values):
                continue  # a figure these runs do not have (e.g. no retrieval arm)
            raise CbqaError(f"{f.key} is missing from some of {', '.join(map(str, runs))}")
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        machine = _machine_term(f, twin)
        share = TIME_SHARE * mean if f.unit in SHARE_UNITS else RECALL_BAND if f.unit == "recall" else 0.0
        tolerance = max(3 * sd, machine, share)
        what = f.what
        if f.unit in EM_UNITS and tolerance > MAX_EM_HALF_WIDTH:
            # the band is capped (a wider one could not tell a broken install from a seed); the entry says by how much
            what += f" (band capped at ±{MAX_EM_HALF_WIDTH:g}; the rule gives ±{tolerance:.1f})"
            tolerance = MAX_EM_HALF_WIDTH
        out.append({
            "id": "/".join(p for p in (table, slug(f.row), slug(spec.get("column", f.column))) if p), "kind": "measured", "what": what, "unit": f.unit,
            "table": table, "row": f.row, "column": spec.get("column", f.column), "run": spec["run"], "file": f.file, "key": f.key,
            "expected": round(mean, 2), "tolerance": round(max(tolerance, 0.01), 2), "sd": round(sd, 2),
            "n": len(values), "hardware": "cpu", "spread": spec["spread"] + (PAIR_NOTE if pair is not None else ""),
        })  # fmt: skip # an entry's fields packed
    return out


PAIR_NOTE = "; the summation-order term from the demo's seed-0 run and its 2-thread twin"


def _machine_term(f: Figure, twin: tuple[Path, Path] | None) -> float:
    """How far another summation order moves the figure: |run - its other-threads twin|, or 0 without a twin."""
    if f.unit in SHARE_UNITS or twin is None:
        return 0.0  # (a twin on other threads runs at another speed by design: its time says nothing of a machine's)
    a, b = figure_of(twin[0], f), figure_of(twin[1], f)
    return abs(a - b) if a is not None and b is not None else 0.0


def _one_run(
    table: str, entry_id: str, what: str, where: tuple[str, str, str], f: Figure, value: float, spread: str
) -> dict:
    """A measured entry of a single run (`where`: row, column, registry run); a wall time's band is TIME_SHARE of it."""
    row, column, run = where
    return {
        "id": entry_id, "kind": "measured", "what": what, "unit": f.unit, "table": table, "row": row, "column": column,
        "run": run, "file": f.file, "key": f.key, "expected": round(value, 1), "tolerance": round(TIME_SHARE * value, 1),
        "sd": None, "n": 1, "hardware": "cpu", "spread": spread,
    }  # fmt: skip # an entry's fields packed


def before_entries(table: str, before: Path, paired: Path) -> list[dict[str, Any]]:
    """The wall times of one run of the code now started right after one run of the code before a change, on the same
    machine (`--paired`, `--before`: a column each), and the ratio of their whole runs (an estimate entry). The pair,
    not the mean over seeds, makes the ratio and the stage comparison: one machine's speed drifts over hours more than
    a change of a few percent."""
    spec = TABLES[table]
    runs = [
        (paired, "paired", spec["paired_column"], spec["run"], f", the run paired with main at {spec['before_commit']}", "one run, right after the run of main before"),
        (before, "before", spec["before"], spec["before_run"], f", main at {spec['before_commit']}", "one run, then the paired run of the code now"),
    ]  # fmt: skip # one column's run a line
    out: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, dict[str, Any]] = {}
    for run, name, column, run_id, of, spread in runs:
        out[name] = []
        for f in spec["figures"]:
            value = figure_of(run, f)
            if value is None:
                continue
            entry_id = f"{table}/{name}/{slug(f.row)}"
            out[name].append(_one_run(table, entry_id, f.what + of, (f.row, column, run_id), f, value, spread))
            if f.key == "total_s":
                totals[name] = out[name][-1]
        if name not in totals:
            raise CbqaError(f"{run}: no timings.json with total_s")
    total_now, total_before = totals["paired"], totals["before"]
    ratio = {
        "id": f"{table}/ratio", "kind": "estimate", "what": f"wall time of the demo now over main at {spec['before_commit']}",
        "unit": "x", "table": table, "row": "whole run, now / before", "column": spec["paired_column"],
        "value": round(total_now["expected"] / total_before["expected"], 2),
        "formula": "wall time of the run now / the run before it, back to back on one machine",
        "inputs": [total_now["id"], total_before["id"]],
    }  # fmt: skip # an entry's fields packed
    return [*out["paired"], *out["before"], ratio]


def figure_of(run: Path, f: Figure) -> float | None:
    from cbqa.results.registry import Measured

    probe = Measured(id="x", what="", kind="measured", run="x", file=f.file, key=f.key, expected=0, tolerance=0, n=1)
    return figure(run, probe)


def slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text.replace("−", "minus"))
    return "-".join(p for p in keep.split("-") if p)


def write(table: str, new: list[dict[str, Any]]) -> None:
    """Replace the table's generated block of registry.yaml (appended when it has none)."""
    begin = f"  # >>> {table}: generated by `python -m cbqa.results.aggregate {table}` (do not edit by hand)\n"
    end = f"  # <<< {table}\n"
    text = REGISTRY.read_text(encoding="utf-8")
    body = yaml.safe_dump(new, sort_keys=False, allow_unicode=True, width=118)
    block = begin + "".join(f"  {line}\n" if line else "\n" for line in body.splitlines()) + end
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n" + block
    with atomic_writer(REGISTRY) as fh:
        fh.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", choices=list(TABLES))
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--other-threads", type=Path, help="the first run's seed on another number of torch threads")
    ap.add_argument(
        "--machine-pair",
        nargs=2,
        type=Path,
        metavar=("RUN", "TWIN"),
        help="the machine term from another pair: a run and the same seed on other threads",
    )
    ap.add_argument("--before", type=Path, help="demo-times: a run of main at the table's before_commit")
    ap.add_argument("--paired", type=Path, help="with --before: a run of the code now, right after it, same machine")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.other_threads is not None and args.machine_pair is not None:
        raise SystemExit("give --other-threads or --machine-pair, not both")
    for run in [*args.runs, *filter(None, [args.other_threads, args.before, args.paired, *(args.machine_pair or [])])]:
        if not run.is_dir():
            raise SystemExit(f"{run}: no such run directory")
    new = entries(args.table, args.runs, args.other_threads, args.machine_pair)
    if not new:  # (--write would empty the table's block)
        where = sorted({f.file for f in TABLES[args.table]["figures"]})
        raise SystemExit(
            f"--runs {' '.join(map(str, args.runs))}: no figure of table {args.table} in them ({', '.join(where)})"
        )
    new += TABLES[args.table].get("estimates", lambda _: [])(new)
    if args.before is not None:
        if "before" not in TABLES[args.table]:
            raise SystemExit(f"--before is for the tables {[t for t in TABLES if 'before' in TABLES[t]]}")
        if args.paired is None:
            raise SystemExit("--before needs --paired: a run of the code now started right after it")
        new += before_entries(args.table, args.before, args.paired)
    if args.write:
        write(args.table, new)
        print(f"wrote {len(new)} entries of table {args.table} into {REGISTRY}")
    else:
        print(json.dumps(new, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
