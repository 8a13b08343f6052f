import json
import random
from collections import Counter
from pathlib import Path

import pytest

from cbqa.training.mixing import epoch_schedule, mixing_rates


def test_examples_proportional_with_limit() -> None:
    assert mixing_rates([100, 300]) == pytest.approx([0.25, 0.75])
    # K caps the big task: min(100, 150) : min(300, 150) = 100 : 150
    assert mixing_rates([100, 300], limit=150) == pytest.approx([0.4, 0.6])


def test_temperature_flattens_towards_uniform() -> None:
    p = mixing_rates([100, 900], method="temperature", temperature=1.0)
    assert p == pytest.approx([0.1, 0.9])
    t2 = mixing_rates([100, 900], method="temperature", temperature=2.0)
    # (0.1**0.5, 0.9**0.5) normalised
    assert t2 == pytest.approx([0.1**0.5 / (0.1**0.5 + 0.9**0.5), 0.9**0.5 / (0.1**0.5 + 0.9**0.5)])
    assert mixing_rates([100, 900], method="temperature", temperature=1e6) == pytest.approx([0.5, 0.5], abs=1e-4)
    with pytest.raises(ValueError):
        mixing_rates([1, 2], method="nope")


def test_epoch_schedule_counts_cycles_and_determinism() -> None:
    sizes, rates = [3, 10], [0.5, 0.5]
    s = epoch_schedule(sizes, rates, 20, seed=1, epoch=0)
    counts = Counter(t for t, _ in s)
    assert counts == {0: 10, 1: 10}
    # the small task is up-sampled by cycling whole permutations: each item appears 3 or 4 times
    per_item = Counter(i for t, i in s if t == 0)
    assert sorted(per_item.values()) == [3, 3, 4]
    assert s == epoch_schedule(sizes, rates, 20, seed=1, epoch=0)
    assert s != epoch_schedule(sizes, rates, 20, seed=1, epoch=1)


@pytest.mark.slow
def test_masked_and_qa_mixture_datamodule(tiny_qa, tmp_path: Path) -> None:
    """A real spans store (spaCy small model) + QA, mixed; masks change between epochs, same seed same masks."""
    from ner_masking.annotate import AnnotateConfig, annotate_corpus
    from transformers import AutoTokenizer

    from cbqa.training.datamodule import Mixing, Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Anna Berg was born in Paris on May {i + 1}, 1970. "
                                          f"She joined Acme Corporation in London in 199{i % 10}."}) + "\n" for i in range(12)))  # fmt: skip
    annotate_corpus(corpus, tmp_path / "spans", AnnotateConfig(progress=False))
    tasks = [
        TaskConfig(name="ssm", kind="masked", spans=str(tmp_path / "spans"), policy="ssm", prefix="fill: "),
        TaskConfig(name="qa", kind="qa", file=str(tiny_qa["qa"]), split="train"),
    ]

    def batches(epoch: int) -> list:
        dm = Seq2SeqDataModule(tasks=tasks, mixing=Mixing(method="proportional", limit=12), batch_size=4, seed=3)
        dm.tokenizer = AutoTokenizer.from_pretrained(str(tiny_qa["tok"]))
        dm.setup("fit")
        dl = dm.train_dataloader()
        dl.sampler.set_epoch(epoch)
        ds = dl.dataset
        return [ds[key] for key in dl.sampler]

    e0, e0b, e1 = batches(0), batches(0), batches(1)
    assert e0 == e0b
    assert len(e0) == 24  # min(12, 12) + min(40, 12)
    masked0 = [e for e in e0 if e.input_text.startswith("fill: ")]
    assert len(masked0) == 12 and all("<extra_id_0>" in e.input_text for e in masked0)
    assert [e.input_text for e in e0] != [e.input_text for e in e1]  # dynamic: fresh masks and order each epoch
    qa = [e for e in e0 if e.input_text.startswith("question: ")]
    assert qa and all(e.answers for e in qa)
