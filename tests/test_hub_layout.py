"""Real-checkpoint layouts, offline: `cbqa pretrain` (SSM) and `cbqa finetune` from tiny T5s laid out exactly like
the hub's google/t5-v1_1-base (gated-GELU, untied head, pytorch_model.bin, slow-tokenizer files) and t5-base (ReLU,
tied head, model.safetensors, tokenizer.json): 32,000 sentencepiece pieces, <extra_id_0> = 32099, vocabulary 32,128,
dropout 0.1 (tests/hub_layout.py builds them).

The SSM run also exercises Adafactor (T5's fine-tuning settings), bf16-mixed on CPU and two DataLoader workers.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import warnings
from pathlib import Path

import pytest
import torch

from cbqa.model.loading import untie_lm_head
from cbqa.training.cli import run_training

from helpers.hub_layout import EXTRA_IDS, PIECES, VOCAB, write_hub_t5

CITIES = ["Paris", "Lyon", "Rome", "Oslo", "Lima", "Cairo"]
ORGS = ["Acme Corp", "Globex", "Initech"]
COMMON = [
    "--data.batch_size",
    "8",
    "--trainer.log_every_n_steps",
    "1",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_model_summary",
    "false",
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> dict[str, Path]:
    """Both hub layouts, a titled corpus annotated by `cbqa ner` (blank English + entity ruler), and a QA file."""
    from spacy.lang.en import English

    from cbqa.cli import main as cbqa_main

    root = tmp_path_factory.mktemp("hub")
    docs, rows = [], []
    for i in range(40):
        name = f"Person {i}"
        text = f"{name} was born in {CITIES[i % 6]} in {1900 + i % 7}. She worked for {ORGS[i % 3]} in {CITIES[(i + 1) % 6]}."
        docs.append({"id": f"d{i}", "title": name, "text": text})
        rows.append(
            {
                "id": f"q{i}",
                "question": f"Where was {name} born?",
                "answers": [CITIES[i % 6]],
                "split": "dev" if i % 5 == 0 else "train",
            }
        )
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [d["text"] for d in docs] + [r["question"] for r in rows]
    write_hub_t5(root / "t5-v1_1", "t5-v1_1", texts, work=root / "work-t5-v1_1")
    write_hub_t5(root / "t5", "t5", texts, work=root / "work-t5")

    nlp = English()
    patterns = [{"label": "GPE", "pattern": c} for c in CITIES] + [{"label": "ORG", "pattern": o} for o in ORGS]
    patterns += [{"label": "DATE", "pattern": str(y)} for y in range(1900, 1907)]
    patterns += [{"label": "PERSON", "pattern": f"Person {i}"} for i in range(40)]
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.to_disk(root / "nlp")
    with pytest.raises(SystemExit) as exit_info:
        cbqa_main(
            [
                "ner",
                "--corpus",
                str(root / "corpus.jsonl"),
                "--out",
                str(root / "spans"),
                "--spacy-model",
                str(root / "nlp"),
                "--no-progress",
            ]
        )
    assert exit_info.value.code == 0
    return {
        "root": root,
        "t5-v1_1": root / "t5-v1_1",
        "t5": root / "t5",
        "spans": root / "spans",
        "qa": root / "qa.jsonl",
    }


@pytest.mark.parametrize("flavour", ["t5-v1_1", "t5"])
def test_hub_layout_loads_with_the_hubs_ids(hub, flavour: str) -> None:
    from transformers import T5Tokenizer

    from cbqa.model.loading import load_pretrained

    files = sorted(p.name for p in hub[flavour].iterdir())
    if flavour == "t5-v1_1":
        assert files == [
            "config.json",
            "pytorch_model.bin",
            "special_tokens_map.json",
            "spiece.model",
            "tokenizer_config.json",
        ]
    else:
        assert files == ["config.json", "generation_config.json", "model.safetensors", "spiece.model", "tokenizer.json"]
    net, tok = load_pretrained(str(hub[flavour]))  # the project's load path
    slow_path = T5Tokenizer.from_pretrained(str(hub[flavour]), extra_ids=EXTRA_IDS)
    for t in (tok, slow_path):
        assert len(t) == PIECES + EXTRA_IDS and (t.pad_token_id, t.eos_token_id, t.unk_token_id) == (0, 1, 2)
        ids = t.convert_tokens_to_ids([f"<extra_id_{n}>" for n in range(EXTRA_IDS)])
        assert ids == [32099 - n for n in range(EXTRA_IDS)]
    text = "Person 3 was born in <extra_id_0> in 1903."
    assert tok(text).input_ids == slow_path(text).input_ids
    cfg = net.config
    assert cfg.vocab_size == VOCAB and cfg.dropout_rate == 0.1
    assert cfg.feed_forward_proj == ("gated-gelu" if flavour == "t5-v1_1" else "relu")
    assert_head(net, tied=flavour == "t5")


def assert_head(net, tied: bool) -> None:
    """T5.1.1: a head of its own and no output scaling; original T5: the head is the embedding, outputs scaled.
    (transformers 5 reports tie_word_embeddings=True for both and unties on load when the two matrices differ.)"""
    assert (net.lm_head.weight.data_ptr() == net.shared.weight.data_ptr()) is tied
    assert net.config.scale_decoder_outputs is tied


def test_ssm_sentinels_are_the_models_extra_ids(hub) -> None:
    """SSM's <extra_id_N> strings become the checkpoint's own sentinel ids (32099, 32098, ...) in inputs and labels."""
    from cbqa.model.loading import load_pretrained
    from cbqa.training.datamodule import Seq2SeqCollator
    from cbqa.training.tasks import Example
    from ner_masking.policies import make_policy
    from ner_masking.store import SpanDoc

    _, tok = load_pretrained(str(hub["t5-v1_1"]))
    text = "Person 1 was born in Lyon in 1901. She worked for Globex in Rome."
    cut = text.index(". ") + 1
    spans = [
        (text.index(w), text.index(w) + len(w), label)
        for w, label in (("Lyon", "GPE"), ("1901", "DATE"), ("Globex", "ORG"), ("Rome", "GPE"))
    ]
    doc = SpanDoc(id="d", text=text, sentences=[(0, cut), (cut + 1, len(text))], spans=spans, title="Person 1")
    collate = Seq2SeqCollator(tok, 64, 16)
    for policy, sentinels in (("ssm_title_sentence", 2), ("ssm_all", 3)):
        m = make_policy(policy)(doc, random.Random(0))
        batch = collate([Example(m.input_text, m.target_text, ())])
        ids = batch["input_ids"][0].tolist()
        labels = [i for i in batch["labels"][0].tolist() if i != -100]
        assert 32099 in ids and labels[0] == 32099
        used = sorted({i for i in ids + labels if i >= PIECES}, reverse=True)
        assert used == [32099 - n for n in range(sentinels)], (policy, m.input_text, m.target_text)


def _logits(net, tok) -> torch.Tensor:
    enc = tok(
        ["Person 2 was born in <extra_id_0> in 1902.", "Where was Person 7 born?"], return_tensors="pt", padding=True
    )
    labels = tok(["<extra_id_0> Rome <extra_id_1>", "Lyon"], return_tensors="pt", padding=True).input_ids
    with torch.no_grad():
        return net.eval()(**enc, labels=labels).logits


def _assert_export_matches_checkpoint(run: Path, ckpt: Path, tied: bool) -> None:
    """hf/ reloads with T5ForConditionalGeneration.from_pretrained, keeps the head layout, and gives the checkpoint's
    logits exactly."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    exported = T5ForConditionalGeneration.from_pretrained(run / "hf")
    assert_head(exported, tied)
    assert exported.config.vocab_size == VOCAB
    tok = AutoTokenizer.from_pretrained(run / "hf")
    assert tok.convert_tokens_to_ids("<extra_id_0>") == 32099 and len(tok) == PIECES + EXTRA_IDS
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    from_ckpt = T5ForConditionalGeneration(T5Config.from_pretrained(run / "hf"))
    if not tied:
        assert not torch.equal(state["t5.lm_head.weight"], state["t5.shared.weight"])
        untie_lm_head(from_ckpt)  # built from a config, every T5 is tied in transformers 5
    from_ckpt.load_state_dict({k.removeprefix("t5."): v for k, v in state.items()})
    assert torch.equal(_logits(exported, tok), _logits(from_ckpt, tok))


def test_pretrain_ssm_from_t5_v1_1_layout(hub, tmp_path: Path, monkeypatch) -> None:
    """Continued SSM pretraining from a T5.1.1 checkpoint with Adafactor, bf16-mixed and 2 loader workers."""
    from cbqa.training.module import T5Seq2Seq

    seen: list[dict] = []
    original = T5Seq2Seq.training_step

    def recording_step(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        dropouts = [m for m in self.t5.modules() if isinstance(m, torch.nn.Dropout)]
        seen.append(
            {
                "train": self.training and all(m.training for m in self.t5.modules()),
                "dropout_p": {m.p for m in dropouts},
                "autocast": torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16,
                "workers": len(multiprocessing.active_children()),
                "optimizer": type(self.trainer.optimizers[0]).__name__,
                "inputs": batch["input_ids"].tolist(),
                "first_labels": batch["labels"][:, 0].tolist(),
                "loss": float(loss.detach()),
            }
        )
        return loss

    monkeypatch.setattr(T5Seq2Seq, "training_step", recording_step)
    run = tmp_path / "ssm"
    tasks = [{"name": "ssm", "kind": "masked", "spans": str(hub["spans"]), "policy": "ssm_title_sentence"}]
    steps = 8
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = run_training(
            [
                "--model.model",
                str(hub["t5-v1_1"]),
                "--model.optimizer",
                "adafactor",
                "--model.lr",
                "1e-3",
                "--trainer.precision",
                "bf16-mixed",
                "--data.num_workers",
                "2",
                "--data.tasks",
                json.dumps(tasks),
                "--trainer.max_steps",
                str(steps),
                "--trainer.val_check_interval",
                str(steps),
                "--run_dir",
                str(run),
                *COMMON,
            ],
            "cbqa pretrain",
            "x",
        )
    assert code == 0 and len(seen) == steps
    assert not [w for w in caught if "eval mode" in str(w.message)]  # Lightning's "Found N module(s) in eval mode"
    for s in seen:
        assert s["train"] and s["dropout_p"] == {0.1}, "the checkpoint's dropout must be active while training"
        assert s["autocast"] and s["optimizer"] == "Adafactor" and s["workers"] >= 2
        assert all(32099 in row for row in s["inputs"]) and set(s["first_labels"]) == {
            32099
        }  # the model's own sentinel
    losses = [s["loss"] for s in seen]
    assert sum(losses[-3:]) < sum(losses[:3]), losses

    _assert_export_matches_checkpoint(run, run / "checkpoints" / "last.ckpt", tied=False)


def test_finetune_from_t5_base_layout(hub, tmp_path: Path) -> None:
    """Closed-book QA fine-tuning from an original-T5 checkpoint (tied head); hf/ is the best model by dev EM."""
    run = tmp_path / "qa"
    tasks = [{"name": "qa", "kind": "qa", "file": str(hub["qa"]), "split": "train"}]
    code = run_training(
        [
            "--model.model",
            str(hub["t5"]),
            "--model.lr",
            "1e-3",
            "--data.tasks",
            json.dumps(tasks),
            "--data.val_file",
            str(hub["qa"]),
            "--data.val_split",
            "dev",
            "--model.max_new_tokens",
            "4",
            "--trainer.max_steps",
            "4",
            "--trainer.val_check_interval",
            "2",
            "--run_dir",
            str(run),
            *COMMON,
        ],
        "cbqa finetune",
        "x",
    )
    assert code == 0
    info = json.loads((run / "hf" / "cbqa_export.json").read_text())
    (best,) = (run / "checkpoints").glob(f"best-step={info['step']}-*.ckpt")
    _assert_export_matches_checkpoint(run, best, tied=True)
