"""A real 2-process DDP `cbqa pretrain` on CPU (gloo), run in a process of its own (Lightning's DDP relaunches its
command line): every rank trains on a disjoint share of each epoch, masks depend only on (epoch, item), and change between
epochs."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from helpers.killing import start
from helpers.ruler_store import TINY_ARCH, ruler_store


@pytest.mark.slow
def test_two_process_ddp_pretrain_splits_data_and_keeps_masks(tmp_path, tiny_qa) -> None:
    spans = ruler_store(tmp_path)
    task = {"name": "ssm", "kind": "masked", "spans": str(spans), "policy": "ssm"}
    trace = tmp_path / "trace"
    cmd = [
        "pretrain",
        "--run_dir",
        str(tmp_path / "run"),
        "--model.tokenizer",
        str(tiny_qa["tok"]),
        *TINY_ARCH,
        "--data.tasks",
        json.dumps([task]),
        "--data.batch_size",
        "4",
        "--data.trace_dir",
        str(trace),
        "--trainer.max_steps",
        "9",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
    ]
    # rank 0 forked from the test process's server of preloaded commands (helpers/killing.py: no ~10 s of imports);
    # Lightning starts rank 1 as it would for a user, a fresh `python .../cbqa/__main__.py pretrain ...`
    done = start(*cmd)
    assert done.wait() == 0, done.output()[-3000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["global_step"] == 9

    rows = {r: [json.loads(x) for x in (trace / f"rank{r}-worker0.jsonl").read_text().splitlines()] for r in (0, 1)}
    per_epoch = 3  # ceil(21 documents / (4 per batch x 2 ranks)) batches per rank and epoch
    # every rank built the same batches of 4 (whole bucketing windows, ahead of the 9 steps trained)
    assert len(rows[0]) == len(rows[1]) >= 9 * 4
    for epoch in range(3):
        items = [Counter(x["item"] for x in rows[r] if x["epoch"] == epoch) for r in (0, 1)]
        assert sum(items[0].values()) == sum(items[1].values()) == per_epoch * 4
        # 24 draws of 21 documents: the ranks share at most the 3 documents drawn twice to pad the epoch
        assert len(set(items[0]) & set(items[1])) <= 24 - 21
        assert len(set(items[0]) | set(items[1])) == 21

    # The masks of the 2-rank run are those a 1-rank stream draws for the same (epoch, item) ...
    from transformers import AutoTokenizer

    from cbqa.training.datamodule import Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    dm = Seq2SeqDataModule(tasks=[TaskConfig(**task)], batch_size=4, trace_dir=str(tmp_path / "one"))
    dm.tokenizer = AutoTokenizer.from_pretrained(str(tiny_qa["tok"]))
    dm.setup("fit")
    stream = iter(dm.stream())
    for _ in range(3 * 6):  # three epochs of one rank (6 batches each)
        next(stream)
    one = {
        (x["epoch"], x["item"]): x["input"]
        for x in map(json.loads, (tmp_path / "one" / "rank0-worker0.jsonl").read_text().splitlines())
    }
    both = [x for r in (0, 1) for x in rows[r] if x["epoch"] < 3]
    assert all(one[(x["epoch"], x["item"])] == x["input"] for x in both)  # same 24 draws per epoch, any rank count
    # ... and change from one epoch to the next.
    by_item: dict[int, set[str]] = {}
    for x in both:
        by_item.setdefault(x["item"], set()).add(x["input"])
    assert sum(len(v) > 1 for v in by_item.values()) >= 10
