"""`cbqa cloze`: LAMA files read as released (T-REx, Google-RE, relations.jsonl) or refused with one line; the encoder
reused across candidates scores as every pair run whole; a tiny T5 that memorised its facts ranks every one first;
a random T5 ranks the gold first at chance; the toy world's LAMA templates are worded as no corpus sentence is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cbqa.cli import main as cli
from cbqa.core.errors import DataError
from cbqa.core.formats.lama import read_lama, read_lama_facts, read_lama_relations
from cbqa.memorisation.cloze import (
    build_items,
    evidence_input,
    match_template,
    span_target,
    template_input,
    typed_input,
)
from cbqa.memorisation.run_cloze import ClozeConfig, load_cloze_set, run_cloze
from cbqa.memorisation.scoring import grid_log_likelihoods, pair_log_likelihoods
from cbqa.model.loading import T5Arch, build_from_config
from cbqa.model.tokenizer import train_tokenizer

TINY = T5Arch(d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16)
COLOURS = "red blue green black white amber violet silver".split()
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "lama_trex"
TREX = {
    "uuid": "u1",
    "obj_uri": "Q90",
    "obj_label": "Paris",
    "sub_uri": "Q1",
    "sub_label": "Alan Smithee",
    "predicate_id": "P19",
    "evidences": [{"sub_surface": "Smithee", "obj_surface": "Paris", "masked_sentence": "Smithee was born in [MASK]."}],
}
GOOGLE_RE = {
    "pred": "/people/person/place_of_birth",
    "sub": "/m/01",
    "obj": "/m/02",
    "evidences": [{"url": "http://en.wikipedia.org/wiki/X", "considered_sentences": ["..."]}],
    "sub_label": "Hans Gefors",
    "sub_aliases": [],
    "obj_label": "Stockholm",
    "obj_aliases": ["Stockholm, Sweden"],
    "uuid": "g1",
    "masked_sentences": ["Hans Gefors (born 1952 in [MASK]) is a Swedish composer."],
}


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_trex_and_google_re_lines_and_templates(tmp_path: Path) -> None:
    facts, templates = read_lama(
        [jsonl(tmp_path / "mixed.jsonl", [TREX, GOOGLE_RE])],
        jsonl(tmp_path / "relations.jsonl", [{"relation": "P19", "template": "[X] was born in [Y] .", "type": "N-1"}]),
    )
    trex, gre = facts
    assert (trex.relation, trex.subject, trex.object, trex.sentences) == (
        "P19",
        "Alan Smithee",
        "Paris",
        ("Smithee was born in [MASK].",),
    )
    assert (gre.relation, gre.object, gre.aliases) == ("place_of_birth", "Stockholm", ("Stockholm, Sweden",))
    assert templates["place_of_birth"].template == "[X] was born in [Y] ."  # LAMA's run script's, built in
    items, skipped = build_items(facts, templates, "template")
    assert [i.input for i in items] == [
        "Alan Smithee was born in <extra_id_0>.",
        "Hans Gefors was born in <extra_id_0>.",
    ]
    assert template_input("[X] (born [Y]).", "Ada") == "Ada (born <extra_id_0>)."
    items, _ = build_items(facts, templates, "evidence")
    assert items[1].input == "Hans Gefors (born 1952 in <extra_id_0>) is a Swedish composer."
    assert evidence_input("no mask here") is None and evidence_input("[MASK] and [MASK]") is None


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        ([TREX, "{not json"], 2, "invalid JSON"),
        ([TREX, {**TREX, "sub_label": None}], 2, "'sub_label' must be a string"),
        ([{k: v for k, v in TREX.items() if k != "obj_label"}], 1, "missing 'obj_label'"),
        ([{**TREX, "evidences": ["x"]}], 1, "'evidences[0]' must be an object"),
        ([{**TREX, "evidences": [{"obj_surface": "x"}]}], 1, "'evidences[0].masked_sentence' must be a string"),
        ([{k: v for k, v in TREX.items() if k != "predicate_id"}], 1, "missing 'predicate_id' (T-REx) or 'pred'"),
        ([{**TREX, "sub_label": "  "}], 1, "'sub_label' is empty"),
        ([{"relation": "P19", "template": "[X] in [Y] ."}], 1, "pass relations.jsonl as --relations"),
    ],
)
def test_a_bad_fact_line_is_one_error_at_file_and_line(tmp_path: Path, lines, line: int, reason: str) -> None:
    path = jsonl(tmp_path / "P19.jsonl", lines)
    with pytest.raises(DataError) as e:
        read_lama_facts(path)
    assert str(e.value).startswith(f"{path}:{line}: ") and reason in str(e.value), str(e.value)


def test_bad_relations_and_the_cli_writes_nothing(tmp_path: Path, capsys) -> None:
    bad = jsonl(tmp_path / "relations.jsonl", [{"relation": "P19", "template": "[X] was born ."}])
    with pytest.raises(DataError, match=r"relations.jsonl:1: template .* must hold \[Y\] exactly once"):
        read_lama_relations(bad)
    facts = jsonl(tmp_path / "P19.jsonl", [TREX, {**TREX, "obj_label": ""}])
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        cli(["cloze", "--model", "no-such-model", "--lama", str(facts), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err == f"cbqa cloze: error: {facts}:2: 'obj_label' is empty"
    assert not out.exists()
    jsonl(facts, [TREX])  # a relation with no template: refused before any model loads
    with pytest.raises(SystemExit) as e:
        cli(["cloze", "--model", "no-such-model", "--lama", str(facts), "--out", str(out)])
    assert e.value.code == 2 and "relation 'P19' has no template" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (../shared/data is not on users' machines)")
def test_the_seven_released_trex_files_parse_completely() -> None:
    files = sorted(SHARED.glob("P*.jsonl"))
    facts, templates = read_lama(files, SHARED / "relations.jsonl")
    assert len(files) == 7 and len(facts) == 5111
    assert sum(len(f.sentences) for f in facts) == 18115
    assert {f.relation for f in facts} == {"P101", "P106", "P108", "P19", "P20", "P413", "P463"} <= set(templates)
    items, skipped = build_items(facts, templates, "evidence")
    assert len(items) == 5111 and skipped.no_evidence == 0  # every fact has a sentence with one [MASK]
    assert templates["P19"].template == "[X] was born in [Y] ."


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    """A tokenizer in which each colour word is one piece (so colour candidates have equal token length)."""
    import random

    d = tmp_path_factory.mktemp("cloze_tok")
    rng = random.Random(0)
    words = COLOURS + "item painted colour house garden river stone paper window table".split()
    texts = [" ".join(rng.choice(words) for _ in range(8)) + "." for _ in range(3000)]
    texts += [f"Item {i} is painted {c}. The colour of item {i} is {c}." for i, c in enumerate(COLOURS * 40)]
    return train_tokenizer(texts, d / "tok", vocab_size=200)


def tiny_model(tok_dir: Path, seed: int):
    torch.manual_seed(seed)
    net, tok = build_from_config(str(tok_dir), TINY)
    return net.eval(), tok


def test_encoder_reuse_scores_as_every_pair_run_whole(tok_dir: Path) -> None:
    net, tok = tiny_model(tok_dir, 0)
    sources = [f"Item {i} is painted <extra_id_0>." for i in range(7)] + ["The colour <extra_id_0> of item 3 is red."]
    targets = [span_target(t) for t in ("red", "blue green", "violet silver amber", "white", "the colour of black")]
    reused, counts = grid_log_likelihoods(net, tok, sources, targets, batch_size=12)
    whole, _ = grid_log_likelihoods(net, tok, sources, targets, batch_size=12, reuse_encoder=False)
    assert np.abs(reused - whole).max() <= 1e-5
    # and both equal an independent reference: each pair through the model's plain forward (which sums in float32)
    pairs = [(s, t) for s in sources for t in targets]
    ref, ref_counts = pair_log_likelihoods(net, tok, [s for s, _ in pairs], [t for _, t in pairs], batch_size=5)
    assert np.abs(reused.ravel() - ref).max() <= 1e-4 and list(ref_counts[: len(targets)]) == list(counts)
    no_eos, short = grid_log_likelihoods(net, tok, sources, targets, eos=False)
    assert list(short) == list(counts - 1) and (no_eos > reused).all()  # the EOS token's log-probability is < 0


def test_a_tiny_t5_that_memorised_its_facts_ranks_each_first(tmp_path: Path, tok_dir: Path) -> None:
    facts = [(f"Item {i}", "painted", c) for i, c in zip(range(3), ("red", "blue", "green"))]
    facts += [(f"Item {i}", "colour", c) for i, c in zip(range(3, 6), ("black", "white", "amber"))]
    templates = {"painted": "[X] is painted [Y] .", "colour": "The colour of [X] is [Y] ."}
    net, tok = tiny_model(tok_dir, 1)
    net.train()
    inputs = tok([template_input(templates[r], s) for s, r, _ in facts], padding=True, return_tensors="pt")
    labels = tok([span_target(o) for _, _, o in facts], padding=True, return_tensors="pt").input_ids
    labels = labels.masked_fill(labels == tok.pad_token_id, -100)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        net(**inputs, labels=labels).loss.backward()
        opt.step()
    net.eval().save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [
        {"uuid": f"f{k}", "sub_label": s, "obj_label": o, "predicate_id": r, "evidences": [], "split": "train"}
        for k, (s, r, o) in enumerate(facts)
    ]
    lama = jsonl(tmp_path / "facts.jsonl", rows)
    relations = jsonl(tmp_path / "relations.jsonl", [{"relation": r, "template": t} for r, t in templates.items()])
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        cli(["cloze", "--model", str(tmp_path / "model"), "--lama", str(lama), str(relations), "--out", str(out)])
    assert e.value.code == 0
    results = json.loads((out / "cloze.json").read_text())
    assert list(results["models"]) == [f"{tmp_path.name}/model"]  # the directory's last two parts
    mine = results["models"][f"{tmp_path.name}/model"]
    assert mine["path"] == str(tmp_path / "model")
    overall = mine["overall"]
    assert overall["p@1"] == 100.0 and overall["mrr"] == 100.0 and overall["length_normalised"]["p@1"] == 100.0
    assert mine["splits"]["train"]["n"] == 6
    fact = json.loads((out / "facts.jsonl").read_text().splitlines()[0])
    assert fact["input"] == "Item 0 is painted <extra_id_0>." and fact["gold"] == "red"
    top = fact["models"][f"{tmp_path.name}/model"]["top"]
    assert [t["candidate"] for t in top][:1] == ["red"] and len(top) == 3  # the relation's 3 candidates
    assert (out / "cloze.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # generate mode: the span it writes is the memorised object
    cset = load_cloze_set([lama], relations)
    gen = run_cloze({"tiny": str(tmp_path / "model")}, cset, ClozeConfig(mode="generate", device="cpu"), False)
    assert gen["results"]["models"]["tiny"]["overall"]["em"] == 100.0


def test_a_random_t5_ranks_the_gold_first_at_chance(tmp_path: Path, tok_dir: Path) -> None:
    from scipy.stats import binom

    colours = COLOURS
    net, tok = tiny_model(tok_dir, 7)
    lengths = {len(tok(span_target(c)).input_ids) for c in colours}
    assert len(lengths) == 1, "the candidates must have equal token length"
    rows = [
        {"uuid": str(i), "sub_label": f"Item {i}", "obj_label": colours[i % 8], "predicate_id": "painted"}
        for i in range(240)
    ]
    cset = load_cloze_set(
        [jsonl(tmp_path / "f.jsonl", rows)],
        jsonl(tmp_path / "r.jsonl", [{"relation": "painted", "template": "[X] is painted [Y] ."}]),
    )
    result = run_cloze({"random": (net, tok)}, cset, ClozeConfig(device="cpu"), progress=False)
    overall = result["results"]["models"]["random"]["overall"]
    low, high = binom.interval(0.99, 240, 1 / 8)
    for p1 in (overall["p@1"], overall["length_normalised"]["p@1"]):
        assert 100 * low / 240 <= p1 <= 100 * high / 240, (p1, low, high)


def test_typed_clozes_and_template_matching() -> None:
    from cbqa.core.formats.lama import LamaRelation

    relations = {"P19": LamaRelation("P19", "[X] was born in [Y] ."), "P20": LamaRelation("P20", "[X] died in [Y] .")}
    assert typed_input("Laura Emerson was born in ___") == "Laura Emerson was born in <extra_id_0>"
    assert typed_input("Laura Emerson was born in [MASK] .") == "Laura Emerson was born in <extra_id_0>."
    assert typed_input("no gap") is None and typed_input("___ met ___") is None
    assert match_template("laura emerson was born in ____.", relations) == ("P19", "laura emerson")
    assert match_template("Laura Emerson died in [Y]", relations) == ("P20", "Laura Emerson")
    assert match_template("Laura Emerson lived in ___", relations) is None


def test_the_toy_worlds_lama_files(tmp_path: Path) -> None:
    from cbqa.world import WorldConfig, generate_world, write_world
    from cbqa.world.lama import LAMA_TEMPLATES

    world = generate_world(WorldConfig(people=20, orgs=4, places=6))
    paths = write_world(world, tmp_path)
    files = [p for name, p in paths.items() if name.startswith("lama_") and name != "lama_relations"]
    facts, templates = read_lama(files, paths["lama_relations"])
    assert len(facts) == len(world.facts) and set(LAMA_TEMPLATES) <= set(templates)
    subjects = {f.subject_id: f for f in world.facts}
    assert all(f.split == ("train" if subjects[f.extra["sub_uri"]].group == "train" else "held_out") for f in facts)
    assert {f.split for f in facts} == {"train", "held_out"}
    corpus = "\n".join(d.text for d in world.documents).lower()
    for name, (template, _, _) in LAMA_TEMPLATES.items():
        # the phrases around [X] and [Y] occur nowhere in the corpus, so no filled template is a corpus sentence
        parts = [p.strip(" .").lower() for p in template.replace("[X]", "\0").replace("[Y]", "\0").split("\0")]
        assert any(len(p.split()) >= 2 for p in parts), template
        for part in (p for p in parts if len(p.split()) >= 2):
            assert part not in corpus, (name, part)
    for f in facts:
        filled = template_input(templates[f.relation].template, f.subject).replace("<extra_id_0>", f.object)
        assert filled.lower().rstrip(".") not in corpus
        assert all(s.count("[MASK]") == 1 and f.subject in s for s in f.sentences)
    assert sum(len(f.sentences) for f in facts) > len(facts)  # most facts have corpus sentences as evidence


def test_the_docs_demo_cloze_table_is_generated_from_its_registry_entries() -> None:
    from cbqa.results.pages import regenerated
    from cbqa.results.registry import Measured, registry

    text = (Path(__file__).resolve().parents[1] / "docs" / "probes.md").read_text(encoding="utf-8")
    entries = [e for e in registry().table("demo-cloze") if isinstance(e, Measured)]
    assert len(entries) >= 4  # every variant x stage x split the page shows
    assert regenerated(text, registry()) == text  # the page is what the registry generates
    block = text.split("<!-- results: demo-cloze -->")[1].split("<!-- /results -->")[0]
    assert all(f"{e.expected:.1f}" in block for e in entries)


def test_the_span_is_read_after_the_first_sentinel(tok_dir: Path) -> None:
    from cbqa.memorisation.cloze import _span
    from cbqa.model.tokenizer import load_tokenizer, sentinel_ids

    tok = load_tokenizer(tok_dir)
    s0, s1 = sentinel_ids(tok, 2)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    red = tok("red blue", add_special_tokens=False).input_ids
    assert _span([pad, s0, *red, s1, eos], tok, s0, s1) == "red blue"
    assert _span([pad, s0, *red, eos, pad, pad], tok, s0, s1) == "red blue"
    assert _span([pad, *red, eos], tok, s0, s1) == "red blue"  # a QA model that writes no sentinel
