"""kill -9 anywhere, rerun the same command, get what an uninterrupted run gets: `cbqa index`, `cbqa pretrain` and `cbqa
ner` here; `cbqa demo --smoke` in test_demo.py (it shares the uninterrupted run with the demo's own test).

The killed commands and the uninterrupted one (processes of their own, forked from one preloaded server:
helpers/killing.py) run side by side with one OpenMP thread each, so FAISS files and weights compare byte for byte. The
uninterrupted run is a process too, not a call in the test process, where a thread an earlier test left behind could
draw from torch's global generator between a step's seeding and its dropout.
(`cbqa ner` is spaCy's, without torch: its uninterrupted run stays in the test process.)"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from cbqa.core.formats import Document, write_corpus
from retrieval_baseline.commands.index import main as index_main

from helpers.corpora import generated_corpus
from helpers.killing import differing, hidden_leftovers, in_thread, kill_when, start
from helpers.ruler_store import TINY_ARCH, ruler_store

SEED = 15


def differing_tensors(a: Path, b: Path) -> str:
    """Which tensors of two safetensors files differ, and by how much (a failure's message instead of raw bytes)."""
    from safetensors.torch import load_file

    ta, tb = load_file(a), load_file(b)
    diffs = [f"{k}: max |diff| {(ta[k] - tb[k]).abs().max().item():.3g}" for k in ta if not ta[k].equal(tb[k])]
    return f"{len(diffs)} of {len(ta)} tensors differ ({'; '.join(diffs[:5])})"


def corpus(path: Path, n: int) -> Path:
    rng = random.Random(0)
    words = ["river", "castle", "engine", "violin", "harbour", "glacier", "orchard", "lantern", "comet", "meadow"]
    docs = [
        Document(
            id=f"d{i}",
            title=f"Topic {i}",
            text=" ".join(rng.choice(words) for _ in range(40)) + f". Item {i} was founded in {1800 + i}.",
        )
        for i in range(n)
    ]
    write_corpus(path, docs)
    return path


@pytest.mark.slow
def test_index_sigkill_twice_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    """Killed while encoding (after its first embedding shard is written), then while the index files are written or
    published; the rerun resumes at the first missing shard and gives the uninterrupted run's files byte for byte
    (embeddings/ included)."""
    rng = random.Random(SEED)
    c = corpus(tmp_path / "corpus.jsonl", 60)
    args = (
        "index",
        "--corpus",
        str(c),
        "--bm25",
        "--save-embeddings",
        "float32",
        "--batch-size",
        "16",
        "--shard-size",
        "10",
    )
    ref_dir, out = tmp_path / "ref" / "idx", tmp_path / "got" / "idx"
    shards = out.parent / ".idx.build" / "embeddings"

    def kill_chain() -> list[str]:
        outcomes = []
        # 1: a seeded moment once the first of the 6 embedding shards is written
        first = start(*args, "--out", str(out))
        encoded = lambda: shards.is_dir() and any(shards.glob("shard-*.npy"))
        outcomes.append(kill_when(first, encoded, rng.uniform(0.0, 0.3)))
        done_before = len(list(shards.glob("shard-*.npy"))) if shards.is_dir() else 6
        # 2: a seeded moment once the index files are being written (index.faiss in the work dir) or published
        second = start(*args, "--out", str(out))
        writing = lambda: (out.parent / ".idx.build" / "index.faiss").exists() or out.exists()
        outcomes.append(kill_when(second, writing, rng.uniform(0.0, 0.05)))
        if outcomes[0] == "killed" and done_before < 6:
            assert f"resuming {out.parent / '.idx.build'}: {done_before} of 6 shards already done" in second.output()
        last = start(*args, "--out", str(out))
        assert last.wait() == 0, last.output()
        outcomes.append(f"{done_before} of 6 shards encoded at the first kill")
        return outcomes

    uninterrupted = start(*args, "--out", str(ref_dir))  # meanwhile, in a process of its own (see `start`)
    outcomes = kill_chain()
    assert uninterrupted.wait() == 0, uninterrupted.output()[-3000:]

    assert "killed" in outcomes, f"no kill landed: {outcomes}"
    assert differing(ref_dir, out) == []
    assert len(list((out / "embeddings").glob("shard-*.npy"))) == 6
    ref_m, got_m = (json.loads((d / "manifest.json").read_text()) for d in (ref_dir, out))
    assert ref_m["count"] == got_m["count"] == 60
    # nothing a killed run left behind survives the rerun: no work dir, no staging dir, no unpublished version
    assert hidden_leftovers([out.parent]) == []
    print(f"cbqa index kill moments: {outcomes}")


@pytest.mark.slow
def test_pretrain_sigkill_twice_then_rerun_gives_bitwise_identical_weights(tmp_path: Path, tiny_qa) -> None:
    """Killed three times (after a checkpoint at a seeded moment, as the resumed run publishes its first checkpoint, at
    a seeded moment after the start), rerun: the same final weights bit for bit, because the stream resumes at the
    first batch not trained on and dropout's seed is a function of the batch's position."""
    rng = random.Random(SEED)
    spans = ruler_store(tmp_path)
    task = {"name": "ssm", "kind": "masked", "spans": str(spans), "policy": "ssm"}
    args = [
        "pretrain",
        "--model.tokenizer",
        str(tiny_qa["tok"]),
        *TINY_ARCH,
        "--model.arch.dropout_rate",
        "0.3",
        "--data.tasks",
        json.dumps([task]),
        "--data.batch_size",
        "4",
        "--trainer.accumulate_grad_batches",
        "2",
        "--trainer.max_steps",
        "30",
        "--trainer.val_check_interval",
        "5",
        "--trainer.accelerator",
        "cpu",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
    ]
    ref, got = tmp_path / "ref", tmp_path / "got"
    last = got / "checkpoints" / "last.ckpt"

    def published() -> tuple[int, int]:
        return (st := last.stat()).st_ino, st.st_mtime_ns  # (a new file each time: written aside, then renamed)

    def kill_chain() -> list[str]:
        outcomes = []
        # 1: a seeded moment after the first checkpoint
        first = start(*args, "--run_dir", str(got))
        outcomes.append(kill_when(first, last.exists, rng.uniform(0.0, 1.0)))
        # 2: the moment the resumed run publishes its first checkpoint, which must stand between two optimizer steps
        # (it once came after the resumed step's first micro-batch, and the next resume trained on other batches)
        resumed_at = published()
        second = start(*args, "--run_dir", str(got))
        outcomes.append(kill_when(second, lambda: published() != resumed_at, 0.0))
        state = torch.load(last, weights_only=True)
        progress = state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]
        assert progress["processed"] == 2 * state["global_step"], (progress, state["global_step"])
        # 3: a seeded moment after the start (start-up, or training on)
        third = start(*args, "--run_dir", str(got))
        outcomes.append(kill_when(third, last.exists, rng.uniform(0.0, 1.0)))
        final = start(*args, "--run_dir", str(got))
        assert final.wait() == 0, final.output()[-3000:]
        return outcomes

    uninterrupted = start(*args, "--run_dir", str(ref))  # meanwhile, in a process of its own (see `start`)
    outcomes = kill_chain()
    assert uninterrupted.wait() == 0, uninterrupted.output()[-3000:]

    assert "killed" in outcomes, f"no kill landed: {outcomes}"
    summaries = [json.loads((d / "summary.json").read_text()) for d in (ref, got)]
    assert summaries[0]["global_step"] == summaries[1]["global_step"] == 30
    assert summaries[1]["resumed_from"]
    weights = [d / "hf" / "model.safetensors" for d in (ref, got)]
    same = weights[0].read_bytes() == weights[1].read_bytes()  # (a bool: a failure prints no megabyte of bytes)
    assert same, f"{differing_tensors(*weights)} (kills: {outcomes})"
    print(f"cbqa pretrain kill moments: {outcomes}")


@pytest.mark.slow
def test_ner_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Killed once its second shard is written; the rerun writes the rest, and the store is the uninterrupted run's."""
    from cbqa.cli import main as cbqa_main
    from ner_masking.store import load_span_store, read_manifest

    corpus = generated_corpus(tmp_path / "corpus.jsonl", 400)
    out, full = tmp_path / "killed", tmp_path / "full"

    def ner(store: Path) -> list[str]:
        args = ["--corpus", str(corpus), "--out", str(store), "--shard-size", "10", "--batch-size", "10"]
        return ["ner", *args, "--no-progress"]

    def kill_chain() -> tuple[str, Any, int, str]:
        first = start(*ner(out))
        outcome = kill_when(first, lambda: len(list(out.glob("shard-*.arrow"))) >= 2, 0.0)
        manifest, written = read_manifest(out), len(list(out.glob("shard-*.arrow")))
        rerun = start(*ner(out))
        assert rerun.wait() == 0, rerun.output()[-3000:]
        return outcome, manifest, written, rerun.output()

    chain = in_thread(kill_chain)
    with pytest.raises(SystemExit) as e:  # the uninterrupted run, here, meanwhile
        cbqa_main(ner(full))
    assert e.value.code == 0
    outcome, manifest, written, rerun_output = chain()

    assert outcome == "killed" and manifest is not None and not manifest.complete, (
        "the run finished before it was killed"
    )
    assert written < 40
    assert "wrote 40 shard(s)" in rerun_output
    resumed, uninterrupted = load_span_store(out, corpus), load_span_store(full, corpus)
    assert resumed.manifest["runs"] == 2 and uninterrupted.manifest["runs"] == 1
    assert resumed.docs() == uninterrupted.docs()
    volatile = {"wall_time_s", "runs", "docs_per_s_last_run", "corpus"}
    assert {k: v for k, v in resumed.manifest.items() if k not in volatile} == {
        k: v for k, v in uninterrupted.manifest.items() if k not in volatile
    }
    assert not list(out.glob(".*.tmp"))


def test_index_rerun_on_its_finished_index_is_a_no_op_and_other_settings_refuse(tmp_path: Path, capsys) -> None:
    """What makes a kill just after publication harmless: the same command finds its index done (and removes what a
    killed run left next to it); a command with other settings is refused instead of silently reusing the index."""
    from cbqa.core.errors import CbqaError
    from retrieval_baseline import build_index

    from helpers.retrieval import HashEncoder

    c, out = corpus(tmp_path / "corpus.jsonl", 12), tmp_path / "idx"
    build_index(c, out, encoder=HashEncoder(), bm25=True, show_progress=False, use_gpu=False)
    import subprocess
    import sys

    from cbqa.core.io import staging_dir

    live = staging_dir(out)  # this process's staging dir: a live publisher's, kept
    host = live.name.split(".stage-")[1].split("-")[0]
    dead = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )
    leftover = tmp_path / f".idx.stage-{host}-{dead}-abc.tmp"  # a killed run's
    leftover.mkdir()
    argv = ["--corpus", str(c), "--out", str(out), "--encoder", "test-hash-encoder", "--bm25"]
    assert index_main(argv) == 0
    assert "is up to date" in capsys.readouterr().out
    with pytest.raises(CbqaError, match=r"holds an index built differently \(index: .*'hnsw'.*--overwrite"):
        index_main([*argv, "--index-type", "hnsw"])
    with pytest.raises(CbqaError, match=r"corpus: index has 'sha256:"):
        index_main([*argv[:1], str(corpus(tmp_path / "other.jsonl", 13)), *argv[2:]])
    assert not leftover.exists() and live.exists()
