"""The `cbqa` console script: a thin dispatcher to one module per subcommand.

Each subcommand module exposes `main(argv: list[str]) -> int | None` and owns its own argument parser,
so `cbqa SUB --help` is that module's help; `cbqa.commands.run` turns errors into one line and an exit status.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from cbqa.commands import run

# name -> (module, one-line description). Kept in workflow order for `cbqa --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "world": ("cbqa.commands.world", "generate the embedded toy world (corpus, QA splits, gold overlap labels)"),
    "data": (
        "cbqa.commands.data",
        "prepare a standard QA benchmark (NQ, WebQuestions, TriviaQA, ...) with its protocol",
    ),
    "tokenizer": ("cbqa.commands.tokenizer", "train a sentencepiece T5 tokenizer on a corpus"),
    "ner": ("cbqa.commands.ner", "annotate a corpus with spaCy salient spans (resumable)"),
    "mask": ("cbqa.commands.mask", "preview what a masking policy makes of stored spans"),
    "pretrain": ("cbqa.commands.pretrain", "continue T5 pretraining with a masking policy (Lightning CLI)"),
    "finetune": ("cbqa.commands.finetune", "fine-tune T5 for closed-book QA (Lightning CLI)"),
    "plan": ("cbqa.commands.plan", "per-GPU memory of training a T5 under DDP / FSDP, and which combinations fit"),
    "fill-in": ("cbqa.commands.fill_in", "how much of a corpus a model stored: EM of masked salient spans"),
    "cloze": ("cbqa.commands.cloze", "LAMA-style cloze probes of any T5: P@1 / MRR of facts, per relation"),
    "canaries": ("cbqa.commands.canaries", "copy a corpus with inserted secret-bearing canary sentences"),
    "exposure": (
        "cbqa.commands.exposure",
        "canary exposure of models (Carlini et al. 2019): what they stored verbatim",
    ),
    "extract": ("cbqa.commands.extract", "sample from a model, rank by perplexity / zlib, count memorised samples"),
    "predict": ("cbqa.commands.predict", "answer questions with a trained model, write predictions JSONL"),
    "evaluate": ("cbqa.commands.evaluate", "score prediction files: EM/F1, overall and per overlap category"),
    "benchmark": (
        "cbqa.commands.benchmark",
        "a model on a prepared benchmark: fine-tune, answer, EM/F1 per overlap category, one results row",
    ),
    "overlap": ("cbqa.commands.overlap", "label test questions by test-train overlap (Lewis et al. 2021)"),
    "nn-baseline": ("cbqa.commands.nn_baseline", "nearest-neighbour QA baselines (TF-IDF / dense)"),
    "index": ("retrieval_baseline.commands.index", "split a corpus into passages and build a FAISS index"),
    "retrieve": ("retrieval_baseline.commands.retrieve", "retrieve top-k passages for questions"),
    "retrieval-eval": ("retrieval_baseline.commands.retrieval_eval", "top-k answer recall of retrievers"),
    "reader": ("cbqa.commands.reader", "train / run the open-book T5 reader"),
    "study": ("cbqa.commands.study", "the whole study on your corpus and questions, end to end"),
    "demo": ("cbqa.commands.demo", "the whole study on the embedded toy world, end to end"),
    "reproduce": ("cbqa.commands.reproduce", "re-check the numbers the docs state against the results registry"),
    "app": ("cbqa.commands.app", "start the Streamlit app"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: cbqa COMMAND [options]   (cbqa COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items() if _available(name)]
    return "\n".join(lines)


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(COMMANDS[name][0]) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        sys.exit(0 if argv else 2)
    if argv[0] in {"-V", "--version"}:
        from cbqa import __version__

        print(f"cbqa {__version__}")
        sys.exit(0)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS or not _available(name):
        print(f"cbqa: error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        sys.exit(2)
    run(COMMANDS[name][0], name, rest)
