"""Property-based fuzzing (hypothesis) of every reader: corpus / QA / predictions JSONL, DPR TSV, TriviaQA and
WebQuestions JSON, the spans-store and index manifests, and YAML training configs.

Each case is a clean input mutated (random bytes, truncated, bytes inserted or overwritten, a line or a JSON field of
another type, deep nesting, lone surrogates, a huge line, an empty file) and read in this process, by the reader
function and, where a cheap command reads the format, by `cbqa.cli.main(argv)`. Every case either parses, or raises
a one-line `CbqaError` that starts with `file:line:` or `file:` (the CLI: exit status 2, that one line on stderr, no
traceback, and no output file or temporary file left behind). A UTF-8 BOM, CRLF line ends and blank lines parse like
the clean input. Example counts are fixed and the generation is derandomized, so every run tries the same cases;
`pytest -s` prints how many each reader got.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cbqa.cli import main as cli_main  # noqa: E402
from cbqa.core.errors import CbqaError  # noqa: E402
from cbqa.core.formats import read_corpus, read_predictions, read_qa  # noqa: E402

TRIED: Counter[str] = Counter()


def fuzz(n: int):
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print("\nfuzzed cases per reader:", dict(sorted(TRIED.items())))


# ---- clean inputs ---------------------------------------------------------------------------------------------------
def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


QA = jsonl(
    [
        {
            "id": "q1",
            "question": "Who wrote Hamlet?",
            "answers": ["Shakespeare", "William Shakespeare"],
            "split": "test",
        },
        {"id": "q2", "question": "Capital of Peru?", "answers": ["Lima"], "split": "test"},
        {"question": "Year of the Moon landing?", "answer": ["1969"]},
    ]
)
PREDICTIONS = jsonl(
    [
        {"id": "q1", "question": "Who wrote Hamlet?", "prediction": "Shakespeare", "answers": ["Shakespeare"]},
        {"id": "q2", "question": "Capital of Peru?", "prediction": "Cusco", "answers": ["Lima"], "score": -1.5},
    ]
)
CORPUS = jsonl(
    [
        {"id": "d1", "title": "Hamlet", "text": "Hamlet is a tragedy by William Shakespeare."},
        {"id": 2, "text": "Lima is the capital of Peru. Zoë visited it."},
    ]
)
TSV = b"who wrote hamlet\t['Shakespeare', \"O'Neil\"]\ncapital of peru\t\"['Lima']\"\n"
TRIVIAQA = json.dumps(
    {
        "Data": [
            {
                "QuestionId": "tc_1",
                "Question": "Who wrote Hamlet?",
                "Answer": {"Value": "Shakespeare", "Aliases": ["William Shakespeare", "Bard"]},
            },
            {"Question": "Capital of Peru?", "Answer": {"Value": "Lima"}},
        ]
    },
    indent=1,
).encode()
WEBQ = json.dumps(
    [
        {
            "utterance": "what did shakespeare write?",
            "targetValue": '(list (description Hamlet) (description "King Lear"))',
        },
        {"utterance": "where is lima?", "targetValue": "(list (description Peru))"},
    ],
    indent=1,
).encode()
CONFIG = b"""# a training config
run_dir: runs/x
model:
  tokenizer: runs/tok
  lr: 0.002
  schedule: linear
data:
  tasks:
    - {name: qa, kind: qa, file: runs/world/train.jsonl}
  val_file: runs/world/dev.jsonl
  batch_size: 64
trainer:
  max_steps: 1500
  val_check_interval: 300
"""

# ---- mutations --------------------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
SPECIAL_LINES = [
    b"[" * 100_000,
    b'{"a":' * 60_000,
    b'{"question": "\\ud800", "answers": ["a"]}',
    b"\x00\x01\x02",
    b"null",
    b'"just a string"',
    b"1e999",
    b"NaN",
    b"{}",
    b"\xff\xfe\x00",
    b"\xed\xa0\x80",
    b"\t\t",
    b"--- !!python/object:os.system\n",
    b"a: &x [*x]",
]


def _replace_node(obj: Any, path: list[Any], value: Any, delete: bool) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(obj, dict):
        out = dict(obj)
        if delete and not rest:
            out.pop(key, None)
        else:
            out[key] = _replace_node(obj[key], rest, value, delete)
        return out
    out = list(obj)
    if delete and not rest:
        del out[key]
    else:
        out[key] = _replace_node(obj[key], rest, value, delete)
    return out


def _paths(obj: Any, prefix: list[Any]) -> list[list[Any]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, [*prefix, k])
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, [*prefix, i])
    return out


def json_field_mutation(doc: Any) -> st.SearchStrategy[Any]:
    """`doc` with one node replaced by a JSON value of any type, or deleted."""
    paths = _paths(doc, [])
    return st.tuples(st.sampled_from(paths), json_values, st.booleans()).map(
        lambda t: _replace_node(doc, t[0], t[1], t[2] and bool(t[0]))
    )


def mutated(clean: bytes, kind: str) -> st.SearchStrategy[bytes]:
    """Broken versions of `clean`; `kind` ("jsonl", "json", "yaml", "text") adds type-aware mutations."""
    n = len(clean)
    lines = clean.splitlines(keepends=True)
    strategies = [
        st.binary(max_size=400),  # random bytes
        st.just(b""),  # empty file
        st.integers(0, n - 1).map(lambda k: clean[:k]),  # truncated
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=16)).map(
            lambda t: clean[: t[0]] + t[1] + clean[t[0] :]
        ),
        st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=4)).map(
            lambda t: clean[: t[0]] + t[1] + clean[t[0] + len(t[1]) :]
        ),  # overwritten bytes
        st.tuples(st.integers(0, len(lines) - 1), st.sampled_from(SPECIAL_LINES)).map(
            lambda t: b"".join(lines[: t[0]]) + t[1] + b"\n" + b"".join(lines[t[0] + 1 :])
        ),  # a line replaced
        st.tuples(st.integers(0, len(lines)), st.sampled_from([b"x" * 2_000_000, b"\xc3" * 500_000])).map(
            lambda t: b"".join(lines[: t[0]]) + t[1] + b"\n" + b"".join(lines[t[0] :])
        ),  # a huge line
    ]
    if kind == "jsonl":
        rows = [json.loads(line) for line in lines if line.strip()]
        strategies.append(
            st.tuples(st.integers(0, len(rows) - 1), st.data()).flatmap(
                lambda t: json_field_mutation(rows[t[0]]).map(
                    lambda row: (
                        jsonl([*rows[: t[0]], row, *rows[t[0] + 1 :]])
                        if isinstance(row, dict)
                        else b"".join(json.dumps(r).encode() + b"\n" for r in [*rows[: t[0]], row, *rows[t[0] + 1 :]])
                    )
                )
            )
        )
        strategies.append(json_values.map(lambda v: json.dumps(v).encode() + b"\n" + clean))  # a line of another type
        big = {**rows[0], **{k: "y" * 1_500_000 for k, v in rows[0].items() if isinstance(v, str) and k != "id"}}
        strategies.append(st.just(jsonl([big, *rows[1:]])))  # a huge but valid line
    if kind == "json":
        strategies.append(json_field_mutation(json.loads(clean)).map(lambda d: json.dumps(d).encode()))
    if kind == "yaml":
        import yaml

        strategies.append(json_field_mutation(yaml.safe_load(clean)).map(lambda d: yaml.safe_dump(d).encode()))
    return st.one_of(strategies)


def neutral(clean: bytes) -> st.SearchStrategy[bytes]:
    """Changes that must not change what is read: a BOM, CRLF line ends, blank lines at the end."""
    return (
        st.tuples(st.booleans(), st.booleans(), st.sampled_from([b"", b"\n", b"\n\n"]))
        .filter(any)
        .map(lambda t: (b"\xef\xbb\xbf" if t[0] else b"") + (clean.replace(b"\n", b"\r\n") if t[1] else clean) + t[2])
    )


# ---- checks -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Callable[[], Path]:
    """An empty directory for one example's files, under pytest's temporary directory: each call empties the one
    directory the examples share (they run one at a time), instead of leaving ~800 behind."""
    case = tmp_path_factory.mktemp("fuzz") / "case"

    def empty() -> Path:
        shutil.rmtree(case, ignore_errors=True)
        case.mkdir()
        return case

    return empty


def read_or_clear_error(read: Callable[[Path], Any], path: Path, where: Path | None = None) -> Any:
    """The reader's result, or None after checking its error is one `file[:line]: reason` CbqaError line."""
    try:
        return read(path)
    except CbqaError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert re.match(re.escape(str(where or path)) + r"(/[\w.-]+)?(:\d+)?: \S", msg), msg
        return None


def cli(argv: list[str], outputs: list[Path]) -> None:
    """`cbqa ARGV` in this process: exit 0 with its outputs, or exit 2, one stderr line, and no output at all."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        cli_main(argv)
    if e.value.code == 0:
        assert all(p.exists() for p in outputs)
        return
    text = err.getvalue()
    assert e.value.code == 2, (e.value.code, text)
    assert text.startswith(f"cbqa {argv[0]}: error: ") and text.count("\n") == 1 and "Traceback" not in text, text
    for p in outputs:
        assert not p.exists(), f"{p} left behind by a failed run"
        assert not list(p.parent.glob(f".{p.name}*")), f"temporary file of {p} left behind"


def check_qa_file(d: Path, data: bytes, suffix: str, name: str, clean: bytes | None = None) -> None:
    TRIED[name] += 1
    path = d / f"qa{suffix}"
    path.write_bytes(data)
    got = read_or_clear_error(read_qa, path)
    if clean is not None:  # a neutral change: read exactly like the clean file
        (d / f"clean{suffix}").write_bytes(clean)
        assert got == read_qa(d / f"clean{suffix}")
    preds = d / "p.jsonl"
    preds.write_bytes(PREDICTIONS)
    cli(
        [
            "evaluate",
            "--predictions",
            str(preds),
            "--gold",
            str(path),
            "--allow-missing",
            "--json",
            str(d / "out.json"),
        ],
        [d / "out.json"],
    )


# ---- the readers ----------------------------------------------------------------------------------------------------
@fuzz(150)
@given(mutated(QA, "jsonl"))
def test_fuzz_qa_jsonl(workdir, data: bytes) -> None:
    check_qa_file(workdir(), data, ".jsonl", "QA JSONL")


@fuzz(80)
@given(mutated(TSV, "text"))
def test_fuzz_dpr_tsv(workdir, data: bytes) -> None:
    check_qa_file(workdir(), data, ".tsv", "DPR TSV")


@fuzz(80)
@given(mutated(TRIVIAQA, "json"))
def test_fuzz_triviaqa_json(workdir, data: bytes) -> None:
    check_qa_file(workdir(), data, ".json", "TriviaQA JSON")


@fuzz(80)
@given(mutated(WEBQ, "json"))
def test_fuzz_webquestions_json(workdir, data: bytes) -> None:
    check_qa_file(workdir(), data, ".json", "WebQuestions JSON")


@fuzz(30)
@given(
    st.sampled_from([(QA, ".jsonl"), (TSV, ".tsv"), (TRIVIAQA, ".json"), (WEBQ, ".json")]).flatmap(
        lambda c: neutral(c[0]).map(lambda b: (b, c))
    )
)
def test_bom_crlf_and_blank_lines_read_like_the_clean_file(workdir, case) -> None:
    data, (clean, suffix) = case
    check_qa_file(workdir(), data, suffix, "QA neutral changes (BOM, CRLF, blank lines)", clean)


@fuzz(150)
@given(mutated(PREDICTIONS, "jsonl"))
def test_fuzz_predictions_jsonl(workdir, data: bytes) -> None:
    TRIED["predictions JSONL"] += 1
    d = workdir()
    path = d / "p.jsonl"
    path.write_bytes(data)
    read_or_clear_error(read_predictions, path)
    cli(
        ["evaluate", "--predictions", str(path), "--json", str(d / "o.json"), "--markdown", str(d / "o.md")],
        [d / "o.json", d / "o.md"],
    )


@fuzz(150)
@given(st.one_of(mutated(CORPUS, "jsonl"), neutral(CORPUS).map(lambda b: b"NEUTRAL" + b)))
def test_fuzz_corpus_jsonl(workdir, data: bytes) -> None:
    TRIED["corpus JSONL"] += 1
    d = workdir()
    path = d / "corpus.jsonl"
    is_neutral = data.startswith(b"NEUTRAL")
    path.write_bytes(data[len(b"NEUTRAL") :] if is_neutral else data)
    got = read_or_clear_error(read_corpus, path)
    if is_neutral:
        (d / "clean.jsonl").write_bytes(CORPUS)
        assert got == read_corpus(d / "clean.jsonl")


# ---- manifests ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spans_store(tmp_path_factory) -> Path:
    from ner_masking.store import MANIFEST, STORE_FORMAT, SpanDoc, write_shard

    d = tmp_path_factory.mktemp("spans")
    docs = [SpanDoc("d1", "Hamlet is by William Shakespeare.", [(0, 33)], [(13, 32, "PERSON")], "Hamlet")]
    write_shard(d / "shard-00000.arrow", docs, ["PERSON"])
    manifest = {
        "format": STORE_FORMAT,
        "complete": True,
        "pipeline": {"name": "blank", "version": "0", "components": ["ner"]},
        "labels": ["PERSON"],
        "labels_not_in_pipeline": [],
        "options": {"shard_size": 1000},
        "corpus": {"path": "c.jsonl", "fingerprint": "sha256:00", "docs": 1},
        "shards": [{"file": "shard-00000.arrow", "docs": 1, "spans": 1, "label_counts": {"PERSON": 1}}],
        "docs": 1,
        "spans": 1,
        "label_counts": {"PERSON": 1},
        "wall_time_s": 0.5,
        "runs": 1,
    }
    (d / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return d


@fuzz(120)
@given(data=st.data())
def test_fuzz_spans_store_manifest(workdir, spans_store: Path, data) -> None:
    from ner_masking.store import load_span_store

    TRIED["spans store manifest"] += 1
    clean = (spans_store / "manifest.json").read_bytes()
    d = workdir() / "spans"
    shutil.copytree(spans_store, d)
    (d / "manifest.json").write_bytes(data.draw(mutated(clean, "json")))
    store = read_or_clear_error(load_span_store, d)
    if store is not None:
        read_or_clear_error(lambda p: store.docs(), d)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    from retrieval_baseline import build_index

    from helpers.retrieval import DOCS, HashEncoder

    d = tmp_path_factory.mktemp("index") / "idx"
    build_index(DOCS, d, encoder=HashEncoder(), bm25=True, show_progress=False, use_gpu=False)
    return d


@fuzz(120)
@given(data=st.data())
def test_fuzz_index_manifest(workdir, index_dir: Path, data) -> None:
    from retrieval_baseline import load_index

    TRIED["index manifest"] += 1
    clean = (index_dir / "manifest.json").read_bytes()
    d = workdir() / "idx"
    shutil.copytree(index_dir.resolve(), d)
    (d / "manifest.json").write_bytes(data.draw(mutated(clean, "json")))
    read_or_clear_error(lambda p: load_index(p, use_gpu=False), d)


# ---- YAML training configs ------------------------------------------------------------------------------------------
@fuzz(30)
@given(st.one_of(mutated(CONFIG, "yaml"), neutral(CONFIG)))
def test_fuzz_yaml_config(workdir, data: bytes) -> None:
    TRIED["YAML config (cbqa finetune -c FILE --print_config)"] += 1
    path = workdir() / "config.yaml"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        cli_main(["finetune", "-c", str(path), "--print_config"])
    text = err.getvalue()
    assert e.value.code in (0, 2), (e.value.code, text)
    if e.value.code == 2:
        assert text.startswith(f"cbqa finetune: error: {path}") and text.count("\n") == 1, text
        assert re.match(rf"cbqa finetune: error: {re.escape(str(path))}(:\d+)?: \S", text), text
