"""Outputs that survive faults: checkpoints never half-written and never trusted when broken, one writer per output,
bad input found before anything is written, OS errors as one line with their exit status, the old spans store kept
until its replacement is complete, and long documents annotated in pieces.

OS errors are injected through the I/O layer's fault hook (`CBQA_FAULT`, cbqa.core.io): the tests run as root, where
chmod does not make a directory read-only. EFBIG also comes from a real file size limit (RLIMIT_FSIZE).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cbqa.cli import main as cbqa_main
from cbqa.core.io import atomic_path
from cbqa.core.locks import writer_lock

from helpers.ruler_store import TINY_ARCH, ruler_store


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of `cbqa ARGV`, run in this process."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cbqa_main(argv)
    return e.value.code, capsys.readouterr().err


def one_line(err: str, status: int, code: int) -> None:
    assert code == status, err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def pretrain(store: Path, tok: Path, run: Path, *extra: str) -> list[str]:
    tasks = [{"name": "ssm", "kind": "masked", "spans": str(store), "policy": "ssm"}]
    return [
        "pretrain",
        "--model.tokenizer",
        str(tok),
        "--data.tasks",
        json.dumps(tasks),
        "--data.batch_size",
        "4",
        "--trainer.max_steps",
        "4",
        "--trainer.val_check_interval",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run),
        *TINY_ARCH,
        *extra,
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from cbqa.model.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("faults")
    store = ruler_store(root)
    texts = [json.loads(line)["text"] for line in (root / "c.jsonl").read_text().splitlines()]
    train_tokenizer(texts, root / "tok", vocab_size=80)
    return {"root": root, "store": store, "tok": root / "tok", "corpus": root / "c.jsonl"}


@pytest.fixture(scope="module")
def lone_run(world, tmp_path_factory) -> Path:
    """A pretraining run left alone: the weights every interrupted or contested run must end with."""
    run = tmp_path_factory.mktemp("lone") / "run"
    with pytest.raises(SystemExit) as e:
        cbqa_main(pretrain(world["store"], world["tok"], run))
    assert e.value.code == 0
    return run


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "hf" / "model.safetensors")


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_failed_checkpoint_rename_leaves_a_resumable_run(world, lone_run, tmp_path, capsys, monkeypatch) -> None:
    """The process dies between writing a checkpoint and renaming it into place: the previous one is intact, no
    partial file is left, and the rerun resumes from it to the lone run's weights."""
    import cbqa.core.io as io

    run = tmp_path / "run"
    real_replace, renames = os.replace, []

    def dying_replace(src, dst):
        if str(dst).endswith("last.ckpt"):
            renames.append(dst)
            if len(renames) == 2:  # the step-4 checkpoint: written in full, never renamed
                raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", dying_replace)
    code, err = cli(pretrain(world["store"], world["tok"], run), capsys)
    one_line(err, 3, code)
    monkeypatch.setattr(io.os, "replace", real_replace)
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and "interrupted.ckpt" not in ckpts and not [c for c in ckpts if c.startswith(".")]
    code, err = cli(pretrain(world["store"], world["tok"], run), capsys)
    assert code == 0 and "resuming from" in err and "last.ckpt" in err, err
    assert same_weights(run, lone_run)


def test_a_truncated_checkpoint_is_passed_over_and_named(world, lone_run, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(lone_run, run, symlinks=True)
    last = run / "checkpoints" / "last.ckpt"
    (run / "checkpoints" / "interrupted.ckpt").write_bytes(last.read_bytes())  # an earlier stop's checkpoint
    os.utime(last)  # newer than that one ...
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])  # ... and cut short, as a killed copy leaves it
    code, err = cli(pretrain(world["store"], world["tok"], run), capsys)
    assert code == 0 and "last.ckpt is truncated or not a checkpoint: resuming from interrupted.ckpt" in err, err
    for ckpt in (run / "checkpoints").glob("*.ckpt"):  # all broken: stop, never start over silently
        ckpt.write_bytes(b"")
    code, err = cli(pretrain(world["store"], world["tok"], run), capsys)
    one_line(err, 2, code)
    assert "no usable checkpoint" in err and "--resume never" in err


def hold(target: Path) -> subprocess.Popen:
    """Another process holding `target`'s writer lock (as a running `cbqa pretrain`, `ner` or `index` does)."""
    code = (
        "import sys, time\nfrom cbqa.core.locks import writer_lock\n"
        f"with writer_lock({str(target)!r}, 'cbqa pretrain (the first)'):\n    print('held', flush=True)\n    time.sleep(3600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_stops_at_once_and_touches_nothing(world, lone_run, tmp_path, capsys) -> None:
    """Run dir, spans store and index: while another process writes one, a second writer stops before reading its
    inputs, with one line naming the holder, and leaves the output byte for byte as the first one has it."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(lone_run, run, symlinks=True)
    snapshot = lambda d: {p: p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    cases = [
        (run, pretrain(world["store"], world["tok"], run, "--model.lr", "0.0005", "--resume", "never")),
        (world["store"], ["ner", "--corpus", str(world["corpus"]), "--out", str(world["store"]), "--overwrite"]),
        (tmp_path / "index", ["index", "--corpus", str(world["corpus"]), "--out", str(tmp_path / "index")]),
    ]
    for target, argv in cases:
        before = snapshot(target) if target.exists() else {}
        holder = hold(target)
        try:
            code, err = cli(argv, capsys)
        finally:
            holder.kill()
            holder.wait()
        one_line(err, 4, code)
        assert f"{target} is being written by pid {holder.pid}" in err and "cbqa pretrain (the first)" in err
        assert (snapshot(target) if target.exists() else {}) == before


@pytest.mark.parametrize(
    "case",
    [
        "answers as a string",
        "--model.lr -1",
        "lr: .nan in YAML",
        "--trainer.max_steps -5",
        "an empty spans store",
        "a missing spans shard",
    ],
)
def test_bad_input_leaves_nothing_and_the_fixed_rerun_starts_cleanly(world, tmp_path, capsys, case) -> None:
    run, qa = tmp_path / "run", tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "Where was Anna Berg born?", "answers": ["Paris"]}) + "\n")
    store = tmp_path / "store"
    import shutil

    shutil.copytree(world["store"], store)
    tasks = [{"name": "qa", "kind": "qa", "file": str(qa)}, {"name": "ssm", "kind": "masked", "spans": str(store)}]
    good = [
        "pretrain",
        "--model.tokenizer",
        str(world["tok"]),
        "--data.tasks",
        json.dumps(tasks),
        "--data.batch_size",
        "2",
        "--trainer.max_steps",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run),
        *TINY_ARCH,
    ]
    bad, restore = list(good), None
    if case == "answers as a string":
        qa.write_text(json.dumps({"question": "Where was Anna Berg born?", "answers": "Paris"}) + "\n")
        restore = lambda: qa.write_text(json.dumps({"question": "Where?", "answers": ["Paris"]}) + "\n")
    elif case.startswith("--"):
        bad += case.split()
    elif case == "lr: .nan in YAML":
        (tmp_path / "c.yaml").write_text("model:\n  lr: .nan\n")
        bad += ["-c", str(tmp_path / "c.yaml")]
    elif case == "an empty spans store":
        shard = next(store.glob("shard-*.arrow"))
        saved = ((store / "manifest.json").read_text(), {p.name: p.read_bytes() for p in store.glob("shard-*.arrow")})
        manifest = json.loads(saved[0])
        for p in store.glob("shard-*.arrow"):
            p.unlink()
        manifest.update(shards=[], docs=0, spans=0, label_counts={})
        (store / "manifest.json").write_text(json.dumps(manifest))

        def restore() -> None:
            (store / "manifest.json").write_text(saved[0])
            for name, data in saved[1].items():
                (store / name).write_bytes(data)

        assert not shard.exists()
    else:  # a missing shard
        shard = next(store.glob("shard-*.arrow"))
        data = shard.read_bytes()
        shard.unlink()
        restore = lambda: shard.write_bytes(data)
    code, err = cli(bad, capsys)
    one_line(err, 2, code)
    assert not run.exists(), sorted(p.name for p in run.iterdir())  # nothing of the failed run is kept
    if restore:
        restore()
    code, err = cli(good, capsys)  # the corrected rerun: no "made with a different config", no --resume never
    assert code == 0, err


def test_os_errors_are_one_line_with_the_environment_status_and_keep_what_was_there(
    world, tmp_path, capsys, monkeypatch
):
    store = tmp_path / "store"
    import shutil

    shutil.copytree(world["store"], store)
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    for fault, words in (("ENOSPC", "No space left"), ("EROFS", "Read-only file system"), ("EACCES", "Permission")):
        monkeypatch.setenv("CBQA_FAULT", f"{fault}:.store.rebuild")  # the new store, built beside the old one
        argv = [
            "ner",
            "--corpus",
            str(world["corpus"]),
            "--out",
            str(store),
            "--overwrite",
            "--no-progress",
            "--spacy-model",
            str(world["root"] / "ruler"),
        ]
        code, err = cli(argv, capsys)
        one_line(err, 3, code)
        assert words in err and fault in err
        assert {p.name: p.read_bytes() for p in store.iterdir()} == before  # the old store, untouched
    monkeypatch.setenv("CBQA_FAULT", "ENOSPC:checkpoints")
    code, err = cli(pretrain(world["store"], world["tok"], tmp_path / "run"), capsys)
    one_line(err, 3, code)
    monkeypatch.delenv("CBQA_FAULT")
    # a real file size limit (RLIMIT_FSIZE) on a command writing more than it allows: EFBIG
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    done = subprocess.run(
        [sys.executable, "-m", "cbqa", "world", "--out", str(tmp_path / "world")],
        preexec_fn=limit,
        capture_output=True,
        text=True,
    )
    one_line(done.stderr, 3, done.returncode)
    assert "EFBIG" in done.stderr and "ulimit" in done.stderr


def test_the_tokenizer_reports_the_corpus_line_not_sentencepiece(tmp_path, capsys) -> None:
    corpus = tmp_path / "c.jsonl"
    for content in (
        b'{"id": "a", "text": "fine text"}\n{"id": "b", "text": "bad \xff"}\n',
        b'{"id": "a", "text": "x" ,,}\n',
    ):
        corpus.write_bytes(content)
        code, err = cli(["tokenizer", "--corpus", str(corpus), "--out", str(tmp_path / "tok")], capsys)
        one_line(err, 2, code)
        assert f"{corpus}:" in err and not (tmp_path / "tok").exists()


def test_a_long_document_is_annotated_in_pieces_with_offsets_into_the_original(tmp_path) -> None:
    from spacy.lang.en import English

    from cbqa.core.formats import Document
    from ner_masking.pipeline import annotate_docs, build_pipeline, pieces

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "PERSON", "pattern": "Anna Berg"}, {"label": "GPE", "pattern": "Paris"}]
    )
    nlp.to_disk(tmp_path / "ruler")
    sentences = [
        f"Anna Berg went to Paris on day {i}." if i % 3 else f"Nothing happened on day {i}." for i in range(1800)
    ]
    doc = Document("long", " ".join(sentences))
    assert len(doc.text) > 50_000
    pipe = build_pipeline(str(tmp_path / "ruler"), ("PERSON", "GPE"))
    pipe.max_length = len(doc.text) + 1
    (whole,) = annotate_docs(pipe, [doc], 8, piece_chars=len(doc.text))
    (cut,) = annotate_docs(pipe, [doc], 8, piece_chars=2_000)
    bounds = pieces(doc.text, 2_000)
    assert len(bounds) > 25 and all(e - s <= 2_000 for s, e in bounds)
    assert all(doc.text[s] == "A" or doc.text[s] == "N" for s, _ in bounds)  # each piece starts a sentence
    assert cut.sentences == whole.sentences and cut.spans == whole.spans and len(cut.spans) == 2 * 1200
    assert all(doc.text[s:e] in ("Anna Berg", "Paris") for s, e, _ in cut.spans)


def test_atomic_path_never_leaves_a_partial_file(tmp_path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"new, half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    with writer_lock(target, "test"):
        pass
