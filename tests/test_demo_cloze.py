"""The demo's cloze stage on a tiny demo-shaped directory: P@1 of every variant after pretraining and fine-tuning, for
QA-train and held-out subjects; skipped when done with the same models, rerun when a model changed."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cbqa.demo.cloze import RELATIONS, cloze_stage
from cbqa.demo.stages import Stages
from cbqa.model.loading import T5Arch, build_from_config
from cbqa.model.tokenizer import train_tokenizer
from cbqa.world import WorldConfig, generate_world, write_world

TINY = T5Arch(d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16)
VARIANTS = ("none", "span_corruption", "ssm")


def save_model(tok: Path, where: Path, seed: int) -> None:
    torch.manual_seed(seed)
    net, t = build_from_config(str(tok), TINY)
    net.save_pretrained(where)
    t.save_pretrained(where)


def test_cloze_stage_reports_p1_per_variant_stage_and_split(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    world = generate_world(WorldConfig(people=20, orgs=4, places=6))
    write_world(world, out / "world")
    train_tokenizer([d.text for d in world.documents], out / "tokenizer", vocab_size=300)
    for i, v in enumerate(VARIANTS):
        save_model(out / "tokenizer", out / "models" / v / "hf", i)
        if v != "none":
            save_model(out / "tokenizer", out / "pretrain" / v / "hf", 10 + i)

    report = cloze_stage(Stages(out), out, out / "world", VARIANTS)
    summary = json.loads(report.read_text())
    assert [r["variant"] for r in summary["variants"]] == list(VARIANTS)
    assert summary["variants"][0]["pretrain"] is None  # `none` has no pretraining run
    ssm = summary["variants"][2]
    for stage in ("pretrain", "models"):
        assert {"train", "held_out", "all"} == set(ssm[stage])
        assert ssm[stage]["train"]["n"] + ssm[stage]["held_out"]["n"] == ssm[stage]["all"]["n"]
        assert 0 <= ssm[stage]["all"]["p@1"] <= 100
    assert summary["relations"] == list(RELATIONS)  # birth dates left out
    md = report.with_suffix(".md").read_text()
    assert "| ssm |" in md and "held-out subjects" in md
    results = json.loads((out / "cloze" / "cloze.json").read_text())
    assert list(results["models"]) == [
        "pretrain/span_corruption",
        "pretrain/ssm",
        "models/none",
        "models/span_corruption",
        "models/ssm",
    ]
    assert results["models"]["pretrain/ssm"]["path"] == "pretrain/ssm/hf"  # relative to the run, as its manifest
    assert results["lama"][0] == "world/lama/birthplace.jsonl"

    capsys.readouterr()
    cloze_stage(Stages(out), out, out / "world", VARIANTS)
    assert "cloze: already done" in capsys.readouterr().out
    save_model(out / "tokenizer", out / "models" / "ssm" / "hf", 99)  # a retrained model: the stage reruns
    cloze_stage(Stages(out), out, out / "world", VARIANTS)
    assert "cloze: rerunning" in capsys.readouterr().out and report.exists()
