"""The training stream: per-batch mixing rates, disjoint ranks and workers, masks per (epoch, item), exact resume,
length bucketing, and token budgets that keep every sentinel (with a real sentencepiece T5 tokenizer)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from spacy.lang.en import English
from torch.utils.data import DataLoader

from cbqa.core.formats import Document, write_corpus
from cbqa.training.datamodule import Mixing, Seq2SeqDataModule
from cbqa.training.mixing import batch_composition, draw_order
from cbqa.training.tasks import TaskConfig
from ner_masking.annotate import AnnotateConfig, annotate_corpus

NAMES = ["Anna Berg", "Paul Roth", "Mia Lind", "Jon Falk", "Ida Holm", "Max Ek"]
PLACES = ["Paris", "Lund", "Oslo", "Bern", "Riga", "Graz"]


def test_batch_composition_keeps_rates_in_every_batch() -> None:
    rates = [0.55, 0.3, 0.15]
    comp = batch_composition(rates, 16, 200)
    assert (comp.sum(axis=1) == 16).all()
    ideal = np.asarray(rates) * 16
    assert (np.abs(comp - ideal) <= 1).all()  # each task within one example of its rate, in every batch
    assert np.abs(comp.sum(axis=0) - ideal * 200).max() <= 1  # and on the whole, exactly on rate


def test_draw_order_cycles_whole_permutations() -> None:
    d = draw_order(3, 10, seed=1, epoch=0, task=0)
    assert sorted(Counter(d.tolist()).values()) == [3, 3, 4]
    assert (d == draw_order(3, 10, 1, 0, 0)).all() and not (d == draw_order(3, 10, 1, 1, 0)).all()
    assert sorted(draw_order(7, 7, 5, 2, 1).tolist()) == list(range(7))


@pytest.fixture(scope="module")
def stream_data(tmp_path_factory, tiny_qa) -> dict[str, Path]:
    """A spans store of 60 documents (blank English + entity ruler: fast and exact) and the tiny QA file."""
    d = tmp_path_factory.mktemp("stream")
    docs = [
        Document(
            f"d{i}",
            f"{NAMES[i % 6]} was born in {PLACES[(i // 6) % 6]} in {1900 + i}. "
            f"{NAMES[i % 6]} later lived in {PLACES[(i + 1) % 6]}.",
            title=NAMES[i % 6],
        )
        for i in range(60)
    ]
    write_corpus(d / "corpus.jsonl", docs)
    nlp = English()
    patterns = [{"label": "PERSON", "pattern": n} for n in NAMES] + [{"label": "GPE", "pattern": p} for p in PLACES]
    nlp.add_pipe("entity_ruler").add_patterns(patterns + [{"label": "DATE", "pattern": [{"SHAPE": "dddd"}]}])
    nlp.to_disk(d / "ruler")
    annotate_corpus(
        d / "corpus.jsonl", d / "spans", AnnotateConfig(spacy_model=str(d / "ruler"), shard_size=16, progress=False)
    )
    return {"spans": d / "spans", "qa": tiny_qa["qa"], "tok": tiny_qa["tok"]}


def datamodule(data: dict[str, Path], **kw) -> Seq2SeqDataModule:
    from transformers import AutoTokenizer

    tasks = [
        TaskConfig(name="ssm", kind="masked", spans=str(data["spans"]), policy="ssm", prefix="fill: "),
        TaskConfig(name="qa", kind="qa", file=str(data["qa"]), split="train"),
    ]
    dm = Seq2SeqDataModule(
        tasks=tasks, mixing=kw.pop("mixing", Mixing()), batch_size=kw.pop("batch_size", 10), seed=3, **kw
    )
    dm.tokenizer = AutoTokenizer.from_pretrained(str(data["tok"]))
    dm.setup("fit")
    return dm


def traced(
    dm: Seq2SeqDataModule, tmp: Path, batches: int, world: int = 1, rank: int = 0, workers: int = 0, start: int = 0
) -> tuple[list[dict], list[dict]]:
    """(batches, trace rows) of the first `batches` batches of one rank's stream."""
    dm.trace_dir = str(tmp)
    loader = DataLoader(dm.stream(world, rank, start), batch_size=None, num_workers=workers)
    out = []
    for b in loader:
        out.append(b)
        if len(out) == batches:
            break
    del loader
    rows = [json.loads(line) for p in sorted(tmp.glob(f"rank{rank}-*.jsonl")) for line in p.read_text().splitlines()]
    return out, rows


def test_every_batch_holds_the_mixing_rates(stream_data, tmp_path) -> None:
    dm = datamodule(stream_data)
    assert [len(t) for t in dm.tasks] == [60, 40]
    batches, rows = traced(dm, tmp_path, 12)
    assert all(len(b["answers"]) == 10 for b in batches)
    per_batch = Counter((r["epoch"], r["batch"], r["task"]) for r in rows)
    assert {n for (_, _, t), n in per_batch.items() if t == 0} == {6}  # 60 : 40 of 10, in every batch
    assert {n for (_, _, t), n in per_batch.items() if t == 1} == {4}
    assert all(r["input"].startswith("fill: ") for r in rows if r["task"] == 0)


def test_ranks_see_disjoint_items_and_the_same_masks(stream_data, tmp_path) -> None:
    dm = datamodule(stream_data)
    per_epoch = dm.plan(2, 0).batches_per_epoch  # 5 batches of 10 per rank: the 100 items of an epoch
    _, one = traced(dm, tmp_path / "one", 2 * dm.plan().batches_per_epoch)  # epochs 0 and 1 on one rank
    _, r0 = traced(dm, tmp_path / "r0", per_epoch, world=2, rank=0)
    _, r1 = traced(dm, tmp_path / "r1", per_epoch, world=2, rank=1)
    key = lambda r: (r["task"], r["item"])
    e0 = [r for r in r0 if r["epoch"] == 0], [r for r in r1 if r["epoch"] == 0]
    assert not {key(r) for r in e0[0]} & {key(r) for r in e0[1]}  # disjoint shares of epoch 0
    assert len({key(r) for r in e0[0] + e0[1]}) == 100  # together: every item once
    masks = {(r["epoch"], *key(r)): r["input"] for r in one}
    for r in e0[0] + e0[1]:  # the same item in the same epoch gets the same mask with 1 or 2 ranks
        assert masks[(0, *key(r))] == r["input"]
    e1 = {key(r): r["input"] for r in one if r["epoch"] == 1 and r["task"] == 0}
    e0_masked = {key(r): r["input"] for r in one if r["epoch"] == 0 and r["task"] == 0}
    changed = sum(e1[k] != v for k, v in e0_masked.items() if k in e1)
    assert changed > len(e1) // 3  # fresh masks in the next epoch


def test_two_workers_split_the_stream_and_resume_is_exact(stream_data, tmp_path) -> None:
    dm = datamodule(stream_data, bucket_window=2)
    full, rows = traced(dm, tmp_path / "w", 12, workers=2)
    seen = Counter((r["epoch"], r["task"], r["item"]) for r in rows if r["epoch"] == 0)
    assert len(seen) == 100 and set(seen.values()) == {1}  # both workers together: epoch 0 once, no overlap
    resumed, _ = traced(dm, tmp_path / "r", 5, workers=2, start=7)  # a run that stopped after 7 batches
    for a, b in zip(full[7:], resumed, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])


def test_bucketing_cuts_padding(stream_data, tmp_path) -> None:
    def padding(window: int) -> float:
        batches, _ = traced(datamodule(stream_data, bucket_window=window), tmp_path / f"b{window}", 20)
        stats = sum(b["stats"] for b in batches)
        return float(stats[2] / (stats[1] + stats[2]))

    assert padding(10) < 0.6 * padding(1)


def long_passages(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    words = "the of river valley ancient kingdom merchants traded salt across mountain passes during winter".split()
    docs = []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(300))
        docs.append(
            Document(
                f"p{i}",
                f"{NAMES[i % 6]} founded {PLACES[i % 6]} in {1500 + i}. {body}. "
                f"{NAMES[(i + 2) % 6]} ruled {PLACES[(i + 3) % 6]} until {1600 + i}. {body}.",
            )
        )
    return docs


@pytest.mark.parametrize(
    ("policy", "options"),
    [("ssm", {"context": "passage", "budget": 400}), ("span_corruption", {}), ("span_corruption", {"max_units": 500})],
)
def test_token_budget_keeps_every_sentinel(tmp_path, policy, options) -> None:
    """300-word passages into 64 input and 24 target tokens: without a budget sentinels fall off the end; with it,
    none is lost."""
    from transformers import AutoTokenizer

    from cbqa.model.tokenizer import train_tokenizer

    docs = long_passages(12)
    write_corpus(tmp_path / "c.jsonl", docs)
    train_tokenizer([d.text for d in docs], tmp_path / "tok", vocab_size=200)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "GPE", "pattern": p} for p in PLACES])
    nlp.to_disk(tmp_path / "ruler")
    annotate_corpus(
        tmp_path / "c.jsonl", tmp_path / "s", AnnotateConfig(spacy_model=str(tmp_path / "ruler"), progress=False)
    )
    tasks = [TaskConfig(name="m", kind="masked", spans=str(tmp_path / "s"), policy=policy, policy_options=options)]
    dm = Seq2SeqDataModule(tasks=tasks, batch_size=12, max_input_len=64, max_target_len=24)
    dm.tokenizer = tok
    dm.setup("fit")
    batch = next(iter(dm.stream()))
    assert int(batch["stats"][3]) == 0  # nothing cut
    sentinels = {tok.convert_tokens_to_ids(f"<extra_id_{k}>") for k in range(100)}
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
        assert len([t for t in ids if t != tok.pad_token_id]) <= 64
        asked = [t for t in labels if t in sentinels]
        # every sentinel the target fills is in the input (the target may end with one closing sentinel more)
        assert asked and set(asked[:-1]) <= set(ids) and asked[0] in ids
    # The same policy without a token budget loses sentinels on these passages (what the budget prevents).
    from ner_masking.policies import make_policy
    from ner_masking.store import load_span_store

    bare = make_policy(policy, **options)
    store = load_span_store(tmp_path / "s")
    lost = sum(
        tok.convert_tokens_to_ids("<extra_id_0>")
        not in tok(bare(store[i], random.Random(i)).input_text, max_length=64, truncation=True)["input_ids"]
        for i in range(len(store))
    )
    assert lost > 0
