"""The retrieval arm that reads: Fusion-in-Decoder in the Lightning module, reading examples from a spans store, the
extractive floor, the counterfactual entity swap and the copied-from-passage measure, on a tiny world (blank English +
entity ruler, a word-overlap stand-in for the retriever, a tiny T5)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from cbqa.core.errors import CbqaError
from retrieval_baseline.hits import Hit

CITIES = ["Paris", "Lyon", "Rome", "Oslo", "Lima", "Cairo", "Quito", "Riga"]
ORGS = ["Acme Group", "Globex", "Initech", "Umbrella"]
PEOPLE = [f"Anna {s}" for s in ("Berg", "Cole", "Dahl", "Ekdal", "Frey", "Gray", "Holm", "Ives", "Jung", "Kerr")]
TRAIN_PEOPLE = 6  # the others are held out: asked about in test only
TINY = [
    "--model.arch.d_model",
    "32",
    "--model.arch.d_ff",
    "64",
    "--model.arch.num_heads",
    "2",
    "--model.arch.d_kv",
    "16",
    "--model.arch.num_layers",
    "1",
    "--model.arch.num_decoder_layers",
    "1",
]


class WordIndex:
    """A stand-in for `retrieval_baseline`'s index: passages ranked by shared words with the query."""

    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs
        self.calls = 0

    def search(self, questions, k=10, retriever="hybrid"):
        self.calls += 1
        out = []
        for q in questions:
            words = set(q.lower().replace(":", " ").replace(".", " ").replace("?", " ").split())
            scored = sorted(
                self.docs,
                key=lambda d: (
                    -len(words & set(f"{d['title']} {d['text']}".lower().replace(".", " ").split())),
                    d["id"],
                ),
            )
            out.append([Hit(d["id"], d["title"], d["text"], float(k - i)) for i, d in enumerate(scored[:k])])
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    from spacy.lang.en import English

    from cbqa.cli import main as cbqa_main
    from cbqa.model.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("fid")
    docs, qa = [], []
    for i, name in enumerate(PEOPLE):
        city, org = CITIES[i % len(CITIES)], ORGS[i % len(ORGS)]
        docs.append({"id": f"p{i}-1", "title": name, "text": f"{name} was born in {city}. She works for {org}."})
        docs.append({"id": f"p{i}-2", "title": name, "text": f"The birthplace of {name} is {city}. {org} employs her."})
        split = "train" if i < TRAIN_PEOPLE else "test"
        qa.append({"id": f"q{i}-b", "question": f"Where was {name} born?", "answers": [city], "split": split})
        qa.append(
            {"id": f"q{i}-e", "question": f"Which company does {name} work for?", "answers": [org], "split": split}
        )
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    train = [r for r in qa if r["split"] == "train"]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    index = WordIndex(docs)
    for split in ("train", "test"):
        rows = [r for r in qa if r["split"] == split]
        hits = index.search([r["question"] for r in rows], k=3)
        (root / f"{split}_retrieved.jsonl").write_text(
            "".join(json.dumps({**r, "passages": [h.to_json() for h in hs]}) + "\n" for r, hs in zip(rows, hits))
        )
    train_tokenizer(
        [d["text"] for d in docs] + [r["question"] for r in qa] + ["question: context: title: text:"],
        root / "tok",
        vocab_size=160,
    )

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "GPE", "pattern": c} for c in CITIES]
        + [{"label": "ORG", "pattern": o} for o in ORGS]
        + [{"label": "PERSON", "pattern": p} for p in PEOPLE]
    )
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
    return {"root": root, "docs": docs, "index": index, "nlp": root / "nlp"}


def test_fid_forward_equals_t5_on_one_passage_and_ignores_padding_slots() -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    from cbqa.reader.fid import fid_forward, fid_generate
    from cbqa.training.stream import pad_passages

    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=40,
            d_model=16,
            d_ff=32,
            num_layers=1,
            num_decoder_layers=1,
            num_heads=2,
            d_kv=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).eval()
    labels = torch.tensor([[5, 6, 1]])
    one_ids, one_mask = pad_passages([[[7, 8, 9, 1]]], 0)
    plain = t5(input_ids=one_ids[:, 0], attention_mask=one_mask[:, 0], labels=labels).loss
    assert torch.allclose(fid_forward(t5, one_ids, one_mask, labels).loss, plain)
    # The same example in a batch whose other example has 3 passages: its 2 padding slots change nothing.
    ids, mask = pad_passages([[[7, 8, 9, 1]], [[3, 1], [4, 4, 1], [5, 1]]], 0)
    assert ids.shape == (2, 3, 4) and mask[0, 1:].sum() == 0
    batch_loss = fid_forward(t5, ids, mask, torch.tensor([[5, 6, 1], [5, 6, 1]])).logits[0]
    assert torch.allclose(batch_loss, fid_forward(t5, one_ids, one_mask, labels).logits[0], atol=1e-5)
    assert torch.equal(
        fid_generate(t5, one_ids, one_mask, max_new_tokens=4, do_sample=False),
        t5.generate(input_ids=one_ids[:, 0], attention_mask=one_mask[:, 0], max_new_tokens=4, do_sample=False),
    )


def test_reading_examples_only_from_documents_about_train_entities(world, tmp_path: Path) -> None:
    from cbqa.core.formats import read_qa
    from cbqa.core.formats.jsonl import read_jsonl
    from cbqa.reader.reading_examples import write_reading_examples

    out = tmp_path / "reading.jsonl"
    stats = write_reading_examples(
        world["root"] / "spans", read_qa(world["root"] / "train.jsonl"), world["index"], out, k=3
    )
    rows = [r for _, r in read_jsonl(out)]
    assert stats.documents == 2 * len(PEOPLE) and stats.subject_documents == 2 * TRAIN_PEOPLE
    assert {r["title"] for r in rows} == set(PEOPLE[:TRAIN_PEOPLE])  # never a held-out person's document
    for r in rows:
        spans = [r["sentence"][s:e] for s, e, _ in r["spans"]]
        assert spans and not any(s in r["title"] for s in spans)  # the subject's name is in the question, not a target
        assert len(r["passages"]) == 3
    labels = {lab for r in rows for *_, lab in r["spans"]}
    assert labels == {"GPE", "ORG"}


def test_reading_task_cloze_reads_the_fact_in_another_wording(tmp_path: Path) -> None:
    from cbqa.reader.tasks import ReadingTask
    from cbqa.training.tasks import TaskConfig

    sentence = "Anna Berg was born in Paris."
    source = Hit("p0-1", "Anna Berg", f"{sentence} She works for Acme Corp.", 3.0)
    other = Hit("p0-2", "Anna Berg", "The birthplace of Anna Berg is Paris.", 2.0)
    unrelated = Hit("p1-1", "Anna Cole", "Anna Cole was born in Lyon.", 1.0)
    row = {
        "id": "p0-1#0",
        "title": "Anna Berg",
        "sentence": sentence,
        "spans": [[22, 27, "GPE"]],
        "passages": [h.to_json() for h in (source, other, unrelated)],
    }
    (tmp_path / "r.jsonl").write_text(json.dumps(row) + "\n")
    task = ReadingTask(TaskConfig(name="reading", kind="reading", file=str(tmp_path / "r.jsonl")), passages=2)
    ex = task.example(0, random.Random(0))
    assert ex.input_text == "question: Anna Berg: Anna Berg was born in <extra_id_0>."
    assert ex.target_text == "Paris" and ex.answers == ("Paris",)
    # The source sentence is left out: the answer has to be read from the other wording.
    assert ex.passages == (
        "question: Anna Berg: Anna Berg was born in <extra_id_0>. context: title: Anna Berg text: "
        "The birthplace of Anna Berg is Paris.",
        "question: Anna Berg: Anna Berg was born in <extra_id_0>. context: title: Anna Cole text: "
        "Anna Cole was born in Lyon.",
    )
    keep = ReadingTask(
        TaskConfig(name="r", kind="reading", file=str(tmp_path / "r.jsonl"), policy_options={"keep_source": True}), 2
    )
    assert "works for Acme Corp" in keep.example(0, random.Random(0)).passages[0]
    # Without another passage stating the span, the source stays (the example must be answerable).
    row["passages"] = [source.to_json(), unrelated.to_json()]
    (tmp_path / "r.jsonl").write_text(json.dumps(row) + "\n")
    assert (
        "works for Acme Corp"
        in ReadingTask(TaskConfig(name="r", kind="reading", file=str(tmp_path / "r.jsonl")), 2)
        .example(0, random.Random(0))
        .passages[0]
    )
    # Counterfactual augmentation: the span swapped for another of its label in the passages and the target.
    rows = [
        row,
        {
            **row,
            "id": "p1-1#0",
            "title": "Anna Cole",
            "sentence": "Anna Cole lives in Rome.",
            "spans": [[19, 23, "GPE"]],
            "passages": [unrelated.to_json()],
        },
    ]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    swapped = ReadingTask(
        TaskConfig(name="r", kind="reading", file=str(tmp_path / "s.jsonl"), policy_options={"swap": 1.0}), 2
    ).example(0, random.Random(0))
    assert swapped.target_text == "Rome" and "Paris" not in " ".join(swapped.passages)  # Lyon is in a passage shown
    assert "works for Acme Corp" in swapped.passages[0] and "born in Rome" in swapped.passages[0]
    with pytest.raises(CbqaError, match="'swap' must be a probability"):
        ReadingTask(TaskConfig(name="r", kind="reading", file=str(tmp_path / "s.jsonl"), policy_options={"swap": 2}), 2)
    (tmp_path / "bad.jsonl").write_text(json.dumps({**row, "spans": [[0, 99, "GPE"]]}) + "\n")
    with pytest.raises(CbqaError, match="bad.jsonl:1: 'spans' must be"):
        ReadingTask(TaskConfig(name="r", kind="reading", file=str(tmp_path / "bad.jsonl")), 2)


def test_reader_task_swaps_the_answer_for_one_of_a_question_of_the_same_kind(tmp_path: Path) -> None:
    from cbqa.reader.tasks import ReaderTask, answer_kind, question_kind
    from cbqa.training.tasks import TaskConfig

    assert question_kind("In which town was Anna Berg born?") == "which town"
    assert question_kind("Who founded Acme?") == "who" and question_kind("Acme was set up in what year?") == "what year"
    assert answer_kind("What is Anna's birth date?", "May 1, 1950") != answer_kind(
        "What is Anna's alma mater?", "Oxford"
    )

    def row(i: int, question: str, answer: str, text: str) -> dict:
        return {
            "id": f"q{i}",
            "question": question,
            "answers": [answer],
            "passages": [{"id": f"p{i}", "title": "T", "text": text, "score": 1.0}],
        }

    rows = [
        row(0, "In which town was Anna Berg born?", "Paris", "Anna Berg was born in Paris. Paris is big."),
        row(1, "In which town was Anna Cole born?", "Lyon", "Anna Cole was born in Lyon."),
        row(2, "Who founded Acme?", "Anna Dahl", "Acme was founded by Anna Dahl."),
    ]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TaskConfig(name="qa", kind="reader", file=str(tmp_path / "r.jsonl"), policy_options={"swap": 1.0})
    task = ReaderTask(cfg, 1)
    ex = task.example(0, random.Random(0))
    # the other town replaces every occurrence of the answer, in the passage and the target; never a person's name
    assert ex.target_text == "Lyon" and ex.answers == ("Lyon",)
    assert ex.passages == (
        "question: In which town was Anna Berg born? context: title: T text: Anna Berg was born in Lyon. Lyon is big.",
    )
    # no question of its kind to take an answer from: the example stays as it is
    assert task.example(2, random.Random(0)).target_text == "Anna Dahl"
    plain = ReaderTask(TaskConfig(name="qa", kind="reader", file=str(tmp_path / "r.jsonl")), 1).example(
        0, random.Random(0)
    )
    assert plain.target_text == "Paris" and "born in Paris" in plain.passages[0]
    # novel substitutes: a string never seen as a target (words recombined, digits drawn), put in the passage too
    novel = ReaderTask(
        TaskConfig(
            name="qa", kind="reader", file=str(tmp_path / "r.jsonl"), policy_options={"swap": 1.0, "novel": True}
        ),
        1,
    )
    got = {novel.example(0, random.Random(seed)).target_text for seed in range(20)}
    assert len(got - {"Paris", "Lyon"}) > 3
    for seed in range(20):
        ex = novel.example(0, random.Random(seed))
        assert ex.target_text != "Paris" and f"born in {ex.target_text}. {ex.target_text} is big." in ex.passages[0]
    with pytest.raises(CbqaError, match="unknown reader option"):
        ReaderTask(TaskConfig(name="qa", kind="reader", file=str(tmp_path / "r.jsonl"), policy_options={"swp": 1}), 1)
    # draw_from: K passages of the top N, in rank order, drawn afresh at each draw
    many = {
        **rows[0],
        "passages": [{"id": f"p{j}", "title": "T", "text": f"Passage {j}.", "score": 1.0} for j in range(5)],
    }
    (tmp_path / "m.jsonl").write_text(json.dumps(many) + "\n")
    drawn = ReaderTask(
        TaskConfig(name="qa", kind="reader", file=str(tmp_path / "m.jsonl"), policy_options={"draw_from": 3}), 2
    )
    shown = {
        tuple(p.split("Passage ")[1][0] for p in drawn.example(0, random.Random(seed)).passages) for seed in range(30)
    }
    assert shown == {("0", "1"), ("0", "2"), ("1", "2")}
    with pytest.raises(CbqaError, match="draw_from"):
        ReaderTask(
            TaskConfig(name="qa", kind="reader", file=str(tmp_path / "m.jsonl"), policy_options={"draw_from": 1}), 2
        )


def test_novel_entities_keep_the_shape_of_the_span() -> None:
    from cbqa.reader.tasks import novel_entity

    rng = random.Random(0)
    names = ["Anna Berg", "Carl Dahl", "Eva Holm", "Ivar Kerr"]
    made = [novel_entity("Anna Berg", names, rng) for _ in range(50)]
    assert all(len(m.split()) == 2 for m in made) and len(set(made) - set(names)) > 10
    dates = [novel_entity("May 3, 1950", ["June 12, 1961"], rng) for _ in range(20)]
    assert all(d.split()[0] in ("May", "June") and d.split()[1].endswith(",") and len(d.split()[2]) == 4 for d in dates)
    assert len(set(dates)) > 10


def test_fid_batches_are_batch_by_passages_by_tokens(world) -> None:
    from cbqa.model.tokenizer import load_tokenizer
    from cbqa.reader.tasks import reader_example
    from cbqa.reader.training import ReaderCollator
    from cbqa.training.datamodule import Seq2SeqCollator
    from cbqa.training.tasks import Example

    tok = load_tokenizer(str(world["root"] / "tok"))
    hits = [
        Hit("a", "Anna Berg", "Anna Berg was born in Paris.", 1.0),
        Hit("b", "Anna Cole", "Anna Cole works for Globex.", 0.5),
    ]
    fid = reader_example("Where was Anna Berg born?", ["Paris"], hits, 2)
    batch = Seq2SeqCollator(tok, 12, 8)(
        [fid, reader_example("Where?", ["Lyon"], hits[:1], 2), Example("question: x", "y")]
    )
    assert batch["input_ids"].shape[:2] == (3, 2) and batch["input_ids"].shape[2] == 12  # cut to max_input_len
    assert batch["input_ids"][0, 0, -1].item() == tok.eos_token_id  # cut keeps EOS
    assert batch["attention_mask"][1, 1].sum() == 0 and batch["attention_mask"][2, 1].sum() == 0  # padding slots
    assert batch["stats"][3].item() >= 1  # the cut example is counted
    # validation decodes an anonymised reader's sentinel answers only when its batches say so (the reader's
    # collator does when it anonymises); the generic collator knows nothing of it
    assert "keep_sentinels" not in batch
    assert ReaderCollator(tok, 12, 8, keep_sentinels=True)([fid])["keep_sentinels"] is True


def test_fid_reader_trains_predicts_and_is_checked(world, tmp_path: Path, monkeypatch) -> None:
    from cbqa.commands import reader as reader_cmd
    from cbqa.core.formats import read_predictions, read_qa
    from cbqa.overlap import evaluate_systems
    from cbqa.reader.counterfactual import plan_swaps, run_counterfactual
    from cbqa.reader.floor import PassageNER, floor_predictions
    from cbqa.reader.inputs import ReaderInput, read_reader_input
    from cbqa.reader.reading_examples import write_reading_examples
    from cbqa.training.cli import run_training

    root, run = world["root"], tmp_path / "reader"
    write_reading_examples(
        root / "spans", read_qa(root / "train.jsonl"), world["index"], tmp_path / "reading.jsonl", k=3
    )
    tasks = [
        {"name": "reading", "kind": "reading", "file": str(tmp_path / "reading.jsonl")},
        {"name": "qa", "kind": "reader", "file": str(root / "train_retrieved.jsonl")},
    ]
    argv = [
        "--model.tokenizer",
        str(root / "tok"),
        "--data.tasks",
        json.dumps(tasks),
        "--data.reader.passages",
        "2",
        "--data.max_input_len",
        "48",
        "--data.batch_size",
        "8",
        "--data.val_file",
        str(root / "test_retrieved.jsonl"),
        "--trainer.max_steps",
        "4",
        "--trainer.val_check_interval",
        "4",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run),
        *TINY,
    ]
    # reader tasks are the reader command's: `cbqa finetune` says so in one line
    with pytest.raises(
        CbqaError, match="kind 'reading' trains a reader over retrieved passages: `cbqa reader finetune`"
    ):
        run_training([a.replace("data.reader.passages", "data.batch_size") for a in argv], "cbqa finetune", str(run))
    # with a copy head (cbqa.reader.copy_head): trained, exported with it, and read back with it by predict / counterfactual
    assert reader_cmd.main(["finetune", *argv, "--model.pointer", "true", "--resume", "never"]) == 0
    from cbqa.model.loading import load_pretrained
    from cbqa.reader.copy_head import is_pointer, load

    assert is_pointer(load(str(run))[0])
    with pytest.raises(CbqaError, match="a reader with a copy head"):  # the closed-book loader never drops the head
        load_pretrained(str(run))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 4 and summary["best_val_em"] is not None and summary["data"]["examples"] == 32
    assert (
        reader_cmd.main(
            ["record", "--run-dir", str(run), "--reader", "fid", "--passages", "2", "--max-input-len", "48"]
        )
        == 0
    )
    assert read_reader_input(run) == ReaderInput(2, 48, "fid")

    preds_path = tmp_path / "preds.jsonl"
    assert (
        reader_cmd.main(
            [
                "predict",
                "--model",
                str(run),
                "--retrieved",
                str(root / "test_retrieved.jsonl"),
                "--out",
                str(preds_path),
                "--num-beams",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    preds = read_predictions(preds_path)
    assert len(preds) == 2 * (len(PEOPLE) - TRAIN_PEOPLE) and all(p.extra["read"] == 2 for p in preds)
    assert all(
        p.extra["copied"] == any(p.prediction and p.prediction in h["text"] for h in p.extra["passages"][:2])
        for p in preds
        if p.prediction
    )
    # Reader.score: teacher-forced log-probability of given answers; for the greedy answer, what greedy decoding summed
    from cbqa.reader.answering import Reader
    from retrieval_baseline.retrieved import hits_of

    reader, row = (
        Reader(str(run), device="cpu"),
        json.loads((root / "test_retrieved.jsonl").read_text().splitlines()[0]),
    )
    greedy = reader.read([row["question"]], [hits_of(row)], num_beams=1)[0][0]
    scores = reader.score(row["question"], hits_of(row), [greedy.text, "Paris", "Anna Berg"])
    assert len(scores) == 3 and all(s <= 0 for s in scores) and scores[0] == pytest.approx(greedy.score, abs=1e-3)

    ner = PassageNER(nlp=_ruler(world))
    floor = tmp_path / "floor.jsonl"
    floor_predictions(root / "test_retrieved.jsonl", floor, 2, ner=ner)
    floor_preds = read_predictions(floor)
    assert [p.prediction for p in floor_preds] == [
        a for i in range(TRAIN_PEOPLE, len(PEOPLE)) for a in (CITIES[i % len(CITIES)], ORGS[i % len(ORGS)])
    ]
    result = evaluate_systems({"floor": floor_preds}, read_qa(root / "test_retrieved.jsonl"))
    assert result["floor"]["total"]["em"] == 100.0 and result["floor"]["total"]["copied_share"] == 100.0

    rows = [json.loads(line) for line in (root / "test_retrieved.jsonl").read_text().splitlines()]
    swaps, skipped = plan_swaps(rows, 2, ner)
    assert len(swaps) == len(rows) and not skipped
    for s, r in zip(swaps, rows):
        assert s.substitute not in r["answers"] and s.label in {"GPE", "ORG"}
        assert not any(a in h.text for h in s.passages for a in r["answers"]) and any(
            s.substitute in h.text for h in s.passages
        )
        assert s.outcome(s.substitute) == "substitute" and s.outcome(r["answers"][0]) == "original"
    monkeypatch.setattr("cbqa.reader.counterfactual.PassageNER", lambda spacy_model=None: ner)
    summary = run_counterfactual(
        str(run), root / "test_retrieved.jsonl", tmp_path / "cf.json", num_beams=1, device="cpu"
    )
    assert summary["swapped"] == len(rows) and summary["substitute"] + summary["original"] + summary[
        "other"
    ] == pytest.approx(100.0)


def _ruler(world):
    import spacy

    nlp = spacy.load(world["nlp"])
    nlp.add_pipe("rule_sentencizer", first=True)
    nlp.add_pipe("salient_span_marker", config={"labels": ["GPE", "ORG", "PERSON"]})
    return nlp


def test_answer_types_and_the_floors_choice() -> None:
    from cbqa.reader.floor import Mention, answer_labels, extract

    assert answer_labels("When was Anna Berg born?") == ("DATE", "TIME")
    assert answer_labels("In which town does Anna live?") == ("GPE", "LOC", "FAC")
    assert answer_labels("Which company does Anna work for?") == ("ORG",)
    assert "PERSON" in answer_labels("Who founded Globex?") and answer_labels("How many cats?")[0] == "CARDINAL"
    assert answer_labels("What is her occupation?") is None
    mentions = [
        Mention("Anna Berg", "PERSON", 1, 0, "Anna Berg was born in Paris."),
        Mention("Paris", "GPE", 1, 22, "Anna Berg was born in Paris."),
        Mention("Lyon", "GPE", 1, 40, "She lives in Lyon."),
        Mention("Lyon", "GPE", 2, 0, "Lyon is big."),
    ]
    assert extract("Where was Anna Berg born?", mentions).text == "Lyon"  # the vote: two mentions beat the first one
    assert extract("Where was Anna Berg born?", mentions, "sentence").text == "Paris"  # "born" is in Paris's sentence
    assert extract("Who is Anna Berg?", mentions) is None  # the subject itself is never the answer


def test_copied_from_passages_breakdown() -> None:
    from cbqa.reader.copying import copy_breakdown, occurs_in

    assert occurs_in("the Acme Corp.", ["She works for Acme Corp in Rome."]) and not occurs_in("Acme", ["Acmes"])
    out = copy_breakdown(
        ["Paris", "Lyon", "Rome", "x"],
        [["Paris"], ["Lyon"], ["Oslo"], ["y"]],
        [["born in Paris"], ["no city"], ["Rome"], []],
    )
    assert out == {"em_copied": 25.0, "em_not_in_passages": 25.0, "copied_share": 50.0}


def test_question_overlap_defaults_follow_the_papers_definition() -> None:
    from cbqa.commands.overlap import _config, build_parser
    from cbqa.core.formats import QAExample
    from cbqa.overlap import OverlapConfig, label_overlap

    cfg = _config(build_parser().parse_args(["--train", "t", "--test", "x", "--out", "o"]))
    assert cfg.methods == ("dense",) and cfg.require_shared_answer
    assert not _config(
        build_parser().parse_args(["--train", "t", "--test", "x", "--out", "o", "--no-require-shared-answer"])
    ).require_shared_answer
    train = [
        QAExample("t1", "who wrote war and peace", ["Leo Tolstoy"]),
        QAExample("t2", "where was anna born", ["Paris"]),
    ]
    test = [
        QAExample("a", "who wrote war and peace ?", ["Tolstoy"]),  # same wording, another answer string: no overlap
        QAExample("b", "where was anna born ?", ["Paris"]),
    ]
    rows = label_overlap(train, test, OverlapConfig(methods=("tfidf",)))
    assert [r["question_overlap"] for r in rows] == [False, True]
    assert all(r["answer_overlap"] for r in rows if r["question_overlap"])
    loose = label_overlap(train, test, OverlapConfig(methods=("tfidf",), require_shared_answer=False))
    assert [r["question_overlap"] for r in loose] == [True, True]


def test_anonymised_reader_trains_on_placeholders_and_answers_with_names(world, tmp_path: Path, monkeypatch) -> None:
    from cbqa.commands import finetune
    from cbqa.commands import reader as reader_cmd
    from cbqa.model.inference import Candidate
    from cbqa.reader.anonymise import PLACEHOLDER
    from cbqa.reader.answering import Reader
    from cbqa.reader.inputs import ReaderInput, read_reader_input
    from retrieval_baseline.retrieved import hits_of

    root, run, nlp = world["root"], tmp_path / "anon", str(world["nlp"])
    tasks = [{"name": "qa", "kind": "reader", "file": str(root / "train_retrieved.jsonl")}]
    argv = [
        "--model.tokenizer",
        str(root / "tok"),
        "--data.tasks",
        json.dumps(tasks),
        "--data.reader.passages",
        "2",
        "--data.reader.anonymise",
        "true",
        "--data.reader.numbering",
        "order",
        "--data.reader.spacy_model",
        nlp,
        "--data.max_input_len",
        "48",
        "--data.batch_size",
        "8",
        "--data.val_file",
        str(root / "test_retrieved.jsonl"),
        "--data.trace_dir",
        str(tmp_path / "trace"),
        "--trainer.max_steps",
        "2",
        "--trainer.val_check_interval",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--run_dir",
        str(run),
        *TINY,
    ]
    assert reader_cmd.main(["finetune", *argv]) == 0
    assert read_reader_input(run) == ReaderInput(2, 48, "fid", True, nlp, "order")  # recorded by the run itself
    traced = [json.loads(line) for f in (tmp_path / "trace").glob("*.jsonl") for line in f.read_text().splitlines()]
    names = CITIES + ORGS + PEOPLE
    assert len(traced) >= 16 and all(PLACEHOLDER.fullmatch(t["target"]) for t in traced)
    assert all(len(t["passages"]) == 2 for t in traced)
    assert not any(name in text for t in traced for text in [t["input"], *t["passages"]] for name in names)
    # numbered in order of first mention: every example's first person is <extra_id_1>
    assert all("<extra_id_1>" in t["passages"][0] for t in traced)
    # the options' old keys: one line naming the new key (reader command) or the reader command (finetune)
    with pytest.raises(CbqaError, match="^--data.anonymise is now --data.reader.anonymise$"):
        reader_cmd.main(["finetune", *argv, "--data.anonymise", "true"])
    with pytest.raises(CbqaError, match=r"^--data.passages moved: .*`cbqa reader finetune` \(--data.reader.passages\)"):
        finetune.main(["--data.passages", "2", "--run_dir", str(run)])

    assert (
        reader_cmd.main(
            [
                "record",
                "--run-dir",
                str(run),
                "--reader",
                "fid",
                "--passages",
                "2",
                "--max-input-len",
                "48",
                "--anonymise",
                "--anonymise-spacy-model",
                nlp,
                "--anonymise-numbering",
                "order",
            ]
        )
        == 0
    )
    assert read_reader_input(run) == ReaderInput(2, 48, "fid", True, nlp, "order")
    reader = Reader(str(run), device="cpu")
    from cbqa.reader.anonymise import decode_keeping_sentinels

    tok = reader.tok
    ids = torch.tensor(
        [[tok.pad_token_id, tok.convert_tokens_to_ids("<extra_id_5>"), tok.eos_token_id, tok.pad_token_id]]
    )
    assert decode_keeping_sentinels(tok, ids) == ["<extra_id_5>"] and tok.batch_decode(
        ids, skip_special_tokens=True
    ) == [""]
    rows = [json.loads(line) for line in (root / "test_retrieved.jsonl").read_text().splitlines()]
    questions, passages = [r["question"] for r in rows], [hits_of(r) for r in rows]
    views = reader.anonymised(questions, passages)
    seen: list[list[str]] = []
    bans: list[list[int]] = []

    def fid(
        inputs, num_beams, num_return, max_new_tokens, banned
    ):  # the model "answers" with the gold answer's placeholder
        seen.extend(inputs)
        bans.extend(banned)
        at = len(seen) - len(inputs)
        return [[Candidate(v.answers(r["answers"])[0], -0.5)] for v, r in zip(views[at:], rows[at:])]

    monkeypatch.setattr(reader, "_fid", fid)
    answers = reader.read(questions, passages, num_beams=1)
    assert [a[0].text for a in answers] == [r["answers"][0] for r in rows]  # placeholders mapped back to the names
    assert len(seen) == len(rows) and not any(name in text for group in seen for text in group for name in names)
    # each question's own placeholders may not be its answer, nor a placeholder that names nothing in its passages
    # (nor padding, banned for every question)
    tok, pad = reader.tok, reader.tok.pad_token_id
    sentinels = {f"<extra_id_{n}>" for n in range(100)}
    assert len(bans) == len(views)
    for ban, v in zip(bans, views):
        assert ban[0] == pad and set(tok.convert_tokens_to_ids(v.in_question())) <= set(ban), (ban, v.in_question())
        answerable = set(v.names) - set(v.in_question())
        assert answerable and set(tok.convert_tokens_to_ids(sorted(answerable))).isdisjoint(ban)
        assert set(tok.convert_ids_to_tokens(ban[1:])) == sentinels - answerable


def test_counterfactual_substitutes_are_names_without_a_possessive() -> None:
    from spacy.lang.en import English

    import ner_masking  # noqa: F401  (registers salient_span_marker)
    from cbqa.reader.counterfactual import plan_swaps
    from cbqa.reader.floor import PassageNER

    nlp = English()
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": p} for p in ("Ann Lee", "Bo Dahl's")])
    nlp.add_pipe("rule_sentencizer", first=True)
    nlp.add_pipe("salient_span_marker", config={"labels": ["PERSON"]})
    rows = [
        {
            "id": "q1",
            "question": "Who founded Acme?",
            "answers": ["Ann Lee"],
            "passages": [{"id": "a", "title": "Acme", "text": "Acme was founded by Ann Lee.", "score": 1.0}],
        },
        {
            "id": "q2",
            "question": "Who runs Zeta?",
            "answers": ["Cy Ong"],
            "passages": [{"id": "b", "title": "Zeta", "text": "Bo Dahl's firm is Zeta.", "score": 1.0}],
        },
    ]
    swaps, _ = plan_swaps(rows, 1, PassageNER(nlp=nlp))
    assert swaps[0].substitute == "Bo Dahl" and swaps[0].passages[0].text == "Acme was founded by Bo Dahl."
