"""Benchmark: the JSONL readers (QA, corpus, predictions) against a bare `json.loads` loop over the same file.

Generates, in a temporary directory, 200k QA rows, 100k corpus documents of ~100 words and 200k predictions (--qa,
--docs), and times for each, in turns, best of --repeat:

    json.loads        `json.loads(line)` for every line, nothing else: the floor
    cbqa              the project's reader (`read_qa`, `iter_corpus`, `read_predictions`): a pydantic model per line
                      (`model_validate_json`, cbqa.core.formats.jsonl.read_rows)
    hand (before)     the reader before it: `json.loads`, then checks by hand (kept here to compare)

and prints each one's time as a multiple of the floor; a record type keeps pydantic only if its multiple is at most
10% above the hand reader's. Last, corpus rows that are dicts already (Parquet, Hugging Face datasets): checked by
hand (`parse_document`) or by the model (`DocumentRow.model_validate`), per row.

    python bench/readers.py [--qa 200000] [--docs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cbqa.core.formats import Document, Prediction, QAExample, read_predictions, read_qa
from cbqa.core.formats.corpus import DocumentRow, iter_corpus, parse_document

WORDS = "the of and river castle engine violin harbour glacier orchard lantern comet meadow Zoë Paris 1900".split()


def write_files(d: Path, n_qa: int, n_docs: int) -> dict[str, Path]:
    rng = random.Random(0)
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))
    rows = {
        "qa": (
            {"id": f"q{i}", "question": words(10), "answers": [words(2), words(1)], "split": "x"} for i in range(n_qa)
        ),
        "corpus": ({"id": f"d{i}", "title": words(2), "text": words(100)} for i in range(n_docs)),
        "predictions": (
            {"id": f"q{i}", "question": words(10), "prediction": words(2), "answers": ["a b"]} for i in range(n_qa)
        ),
    }
    for name, it in rows.items():
        (d / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in it), encoding="utf-8"
        )
    return {name: d / f"{name}.jsonl" for name in rows}


def lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        yield from (raw for raw in f if raw.strip())


def objects(path: Path) -> Iterator[dict[str, Any]]:
    """What `read_jsonl` did before: decode, parse, refuse lone surrogates and non-objects."""
    for raw in lines(path):
        text = raw.decode("utf-8")
        obj = json.loads(text)
        if "\\u" in text or not isinstance(obj, dict):
            raise ValueError("a lone surrogate or not an object")
        yield obj


def _id(value: Any) -> str:
    if value is None or not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError("bad id")
    return str(value)


def qa_hand(path: Path) -> list[QAExample]:
    out, seen = [], set()
    for i, obj in enumerate(objects(path)):
        q, key = obj.get("question"), "answers" if "answers" in obj else "answer"
        answers = obj.get(key)
        if not isinstance(q, str) or not q.strip() or not isinstance(answers, list) or not answers:
            raise ValueError("bad question or answers")
        if not all(isinstance(a, str) and a.strip() for a in answers):
            raise ValueError("bad answer")
        qid, split = _id(obj.get("id", str(i))), obj.get("split")
        if split is not None and not isinstance(split, str) or qid in seen:
            raise ValueError("bad split or duplicate id")
        seen.add(qid)
        extra = {k: v for k, v in obj.items() if k not in {"id", "question", "answers", "answer", "split"}}
        out.append(QAExample(qid, q, answers, split, extra))
    return out


def corpus_hand(path: Path) -> list[Document]:
    out, seen = [], set()
    for obj in objects(path):
        out.append(parse_document(obj, path, None))
        if out[-1].id in seen:
            raise ValueError("duplicate id")
        seen.add(out[-1].id)
    return out


def predictions_hand(path: Path) -> list[Prediction]:
    out, seen = [], set()
    for obj in objects(path):
        pid, question, pred = _id(obj.get("id")), obj.get("question", ""), obj.get("prediction")
        answers = obj.get("answers", obj.get("answer"))
        if not isinstance(question, str) or not isinstance(pred, str) or pid in seen:
            raise ValueError("bad question, prediction or duplicate id")
        if answers is not None and (
            not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers)
        ):
            raise ValueError("bad answers")
        seen.add(pid)
        extra = {k: v for k, v in obj.items() if k not in {"id", "question", "prediction", "answers", "answer"}}
        out.append(Prediction(pid, question, pred, answers, extra))
    return out


def best(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """The best time of each function, timed in turns (a load that comes and goes slows them all alike)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qa", type=int, default=200_000, help="QA and prediction rows")
    ap.add_argument("--docs", type=int, default=100_000, help="corpus documents")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    readers: dict[str, tuple[Callable[[Path], Any], Callable[[Path], Any]]] = {
        "qa": (read_qa, qa_hand),
        "corpus": (lambda p: list(iter_corpus(p)), corpus_hand),
        "predictions": (read_predictions, predictions_hand),
    }
    with tempfile.TemporaryDirectory(prefix="cbqa-bench-readers-") as tmp:
        paths = write_files(Path(tmp), args.qa, args.docs)
        print(f"{'file':<12} {'rows':>8}  {'reader':<14} {'seconds':>8}  {'x json.loads':>12}")
        for name, (cbqa, hand) in readers.items():
            path, n = paths[name], sum(1 for _ in lines(paths[name]))
            assert cbqa(path) == hand(path), f"{name}: the readers disagree"
            fns = {
                "json.loads": lambda: [json.loads(raw) for raw in lines(path)],  # noqa: B023 (called in this iteration)
                "cbqa": lambda: cbqa(path),  # noqa: B023
                "hand (before)": lambda: hand(path),  # noqa: B023
            }
            timed = best(fns, args.repeat)
            for reader, s in timed.items():
                print(f"{name:<12} {n:>8}  {reader:<14} {s:>8.3f}  {s / timed['json.loads']:>12.2f}")
            change = timed["cbqa"] / timed["hand (before)"] - 1
            print(
                f"{name:<12} pydantic vs hand: {change:+.0%} ({'within' if change <= 0.1 else 'over'} the 10% allowed)\n"
            )
        docs = [json.loads(raw) for raw in lines(paths["corpus"])]
        per_row = best(
            {
                "parse_document": lambda: [parse_document(d, "p", None) for d in docs],
                "DocumentRow.model_validate": lambda: [DocumentRow.model_validate(d) for d in docs],
            },
            args.repeat,
        )
        shown = ", ".join(f"{k} {v / len(docs) * 1e6:.2f} us" for k, v in per_row.items())
        print(f"corpus rows that are dicts already (Parquet, Hugging Face), per row: {shown}")


if __name__ == "__main__":
    main()
