import json
from pathlib import Path

import pytest

from cbqa.core.errors import CbqaError
from cbqa.training.mixing import mixing_rates


def test_examples_proportional_with_limit() -> None:
    assert mixing_rates([100, 300]) == pytest.approx([0.25, 0.75])
    # K caps the big task: min(100, 150) : min(300, 150) = 100 : 150
    assert mixing_rates([100, 300], limit=150) == pytest.approx([0.4, 0.6])


def test_bad_mixing_is_a_one_line_error() -> None:
    with pytest.raises(CbqaError, match="unknown mixing method 'bogus'"):
        mixing_rates([1, 2], "bogus")
    with pytest.raises(CbqaError, match="all tasks are empty"):
        mixing_rates([0, 0])


def test_temperature_flattens_towards_uniform() -> None:
    p = mixing_rates([100, 900], method="temperature", temperature=1.0)
    assert p == pytest.approx([0.1, 0.9])
    t2 = mixing_rates([100, 900], method="temperature", temperature=2.0)
    # (0.1**0.5, 0.9**0.5) normalised
    assert t2 == pytest.approx([0.1**0.5 / (0.1**0.5 + 0.9**0.5), 0.9**0.5 / (0.1**0.5 + 0.9**0.5)])
    assert mixing_rates([100, 900], method="temperature", temperature=1e6) == pytest.approx([0.5, 0.5], abs=1e-4)
    with pytest.raises(CbqaError):
        mixing_rates([1, 2], method="nope")


@pytest.mark.slow
def test_masked_and_qa_mixture_datamodule(tiny_qa, tmp_path: Path) -> None:
    """A real spans store (spaCy small model) + QA, mixed; masks change between epochs, same seed same masks."""
    from transformers import AutoTokenizer

    from cbqa.training.datamodule import Mixing, Seq2SeqDataModule
    from cbqa.training.tasks import TaskConfig
    from ner_masking.annotate import AnnotateConfig, annotate_corpus

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"d{i}",
                    "text": f"Anna Berg was born in Paris on May {i + 1}, 1970. "
                    f"She joined Acme Corporation in London in 199{i % 10}.",
                }
            )
            + "\n"
            for i in range(12)
        )
    )
    annotate_corpus(corpus, tmp_path / "spans", AnnotateConfig(progress=False))
    tasks = [
        TaskConfig(name="ssm", kind="masked", spans=str(tmp_path / "spans"), policy="ssm", prefix="fill: "),
        TaskConfig(name="qa", kind="qa", file=str(tiny_qa["qa"]), split="train"),
    ]

    def epochs(trace: Path) -> dict[int, list[dict]]:
        dm = Seq2SeqDataModule(
            tasks=tasks, mixing=Mixing(method="proportional", limit=12), batch_size=4, seed=3, trace_dir=str(trace)
        )
        dm.tokenizer = AutoTokenizer.from_pretrained(str(tiny_qa["tok"]))
        dm.setup("fit")
        stream = iter(dm.stream())
        for _ in range(2 * dm.plan().batches_per_epoch):
            next(stream)
        rows = [json.loads(x) for x in (trace / "rank0-worker0.jsonl").read_text().splitlines()]
        return {e: [r for r in rows if r["epoch"] == e] for e in (0, 1)}

    run, again = epochs(tmp_path / "a"), epochs(tmp_path / "b")
    assert run == again  # same seed: same batches and masks
    assert len(run[0]) == 24  # min(12, 12) + min(40, 12)
    masked0 = [r for r in run[0] if r["input"].startswith("fill: ")]
    assert len(masked0) == 12 and all("<extra_id_0>" in r["input"] for r in masked0)
    assert [r["input"] for r in run[0]] != [r["input"] for r in run[1]]  # dynamic: fresh masks and order each epoch
    qa = [r for r in run[0] if r["input"].startswith("question: ")]
    assert len(qa) == 12
