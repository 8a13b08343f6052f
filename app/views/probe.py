"""Probe: ask one question; compare closed-book models, the retrieval baseline, and the overlap facts."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from cbqa_app import loaders
from cbqa_app.context import AppContext
from cbqa_app.render import check_question, highlight, is_right, reported, show_note, verdict
from cbqa_app.run_dir import RunInfo, find_runs, read_run

TYPE_OWN = "(type your own)"
GOLD_COLOUR, ANSWER_COLOUR = "#b9f6ca", "#ffe08a"


def render(ctx: AppContext) -> None:
    st.header("Probe")
    st.caption(
        f"Ask a question; or see what the models know as fill-in-the-blank models: [Knowledge]({ctx.page_link('knowledge')})"
    )
    run = ctx.run
    test = _test_examples(run)
    by_question = {ex.question.strip(): ex for ex in test}
    _open_linked_question(test)

    left, right = st.columns([3, 2])
    with right:
        st.selectbox(
            "...or pick a test question",
            [TYPE_OWN, *by_question],
            key="probe_pick",
            on_change=_copy_pick,
            help="Questions of the run's test set; their gold answers mark each answer right or wrong.",
        )
    with left:
        question = st.text_input(
            "Question",
            key="probe_question",
            placeholder="Who founded Winham Laboratories?",
            on_change=_sync_pick,
            args=(set(by_question),),
        )
    known = by_question.get(question.strip())
    # The gold box belongs to the question on screen: its key changes with the question, so an answer typed for one
    # question never marks another.
    gold_text = st.text_input(
        "Gold answer (optional; separate aliases with |)",
        value=" | ".join(known.answers) if known else "",
        key=f"probe_gold_{known.id if known else 'typed_' + hashlib.sha1(question.strip().encode()).hexdigest()[:12]}",
    )
    gold = [a.strip() for a in gold_text.split("|") if a.strip()]
    if known is not None:
        st.markdown(f"Test question `{known.id}` · [its row in Benchmark]({ctx.page_link('benchmark', q=known.id)})")

    models = _model_choices(ctx)
    with st.sidebar.expander("Probe settings", expanded=True):
        own = [n for n in models if ": " not in n]
        chosen = st.multiselect(
            "Closed-book models (this run's, and other runs' as run: model)",
            list(models),
            default=own[:3],
            key="probe_models",
        )
        other = st.text_input("Other model (HF dir, training run dir or hub name)", key="probe_other_model")
        beams = st.slider("Beams", 1, 8, 4)
        shown = st.slider("Candidates shown", 1, 8, 3)
        k = st.slider("Passages retrieved", 1, 10, 5)
    selected = {name: models[name] for name in chosen}
    if other.strip():
        selected[other.strip()] = other.strip()

    note = check_question(question)
    if note:
        show_note(note)
        if note.level != "warning":
            return
    q = question.strip()
    answers = _closed_book(q, selected, beams, min(shown, beams), gold, run)
    st.divider()
    _retrieval(q, run, k, gold)
    st.divider()
    checked = gold or answers[:1]
    _overlap_facts(q, run, checked, bool(gold), known.id if known else None)
    if known is not None and run is not None and run.predictions:
        st.divider()
        _stored_predictions(known.id, run)


def _open_linked_question(test: list) -> None:
    """A link's `q` (a test question id) puts that question on screen, once per link followed."""
    wanted = st.query_params.get("q")
    if not wanted or st.session_state.get("probe_linked") == wanted:
        return
    st.session_state["probe_linked"] = wanted
    ex = next((e for e in test if e.id == wanted), None)
    if ex is None:
        st.warning(f"The link names test question `{wanted}`, which this run's test set does not have.")
        return
    st.session_state["probe_question"] = ex.question.strip()
    st.session_state["probe_pick"] = ex.question.strip()


def _copy_pick() -> None:
    pick = st.session_state.get("probe_pick")
    if pick and pick != TYPE_OWN:
        st.session_state["probe_question"] = pick


def _sync_pick(test_questions: set[str]) -> None:
    """A typed question moves the dropdown to it (a test question) or to "(type your own)"."""
    typed = (st.session_state.get("probe_question") or "").strip()
    st.session_state["probe_pick"] = typed if typed in test_questions else TYPE_OWN
    if st.query_params.get("q"):
        del st.query_params["q"]  # the link's question is no longer the one on screen


def _test_examples(run: RunInfo | None) -> list:
    if run is None or run.path("test") is None:
        return []
    with reported("Reading the test set"):
        return loaders.load_qa(run.path("test"))
    return []


def _model_choices(ctx: AppContext) -> dict[str, str]:
    """This run's models by name, then every other run's under the runs directory as `run: model`, to compare runs."""
    out = {name: str(path) for name, path in (ctx.run.models if ctx.run else {}).items()}
    for other in find_runs(ctx.runs_root) if ctx.runs_root.is_dir() else []:
        label = str(other.relative_to(ctx.runs_root)) if other != ctx.runs_root else other.name
        if label == ctx.run_label:
            continue
        info = read_run(other)
        out.update({f"{label}: {name}": str(path) for name, path in (info.models if not info.error else {}).items()})
    return out


def _closed_book(
    q: str, models: dict[str, str], beams: int, shown: int, gold: list[str], run: RunInfo | None
) -> list[str]:
    """Answer with each model side by side; returns the top answers in model order."""
    st.subheader("Closed-book answers")
    if not models:
        st.info(
            "No closed-book model to ask: this run's manifest lists no models. Type the path of a model in "
            "the sidebar (an HF model directory, a training run directory with hf/, or a hub name)."
        )
        return []
    loaded = {}
    for name, path in models.items():
        if not _loadable(path):
            st.error(
                f"{name}: not a model here: no HF model directory, training run directory (with hf/) or "
                "hub name reachable from this machine."
            )
            continue
        with (
            reported(f"Model {name}"),
            st.spinner(f"Loading {name} (the first question after start waits for this)..."),
        ):
            loaded[name] = (path, loaders.load_answerer(path))
    _input_warnings([a for _, a in loaded.values()], q)  # once, not once per model
    dev = run.path("dev") if run else None
    tops: list[str] = []
    for col, (name, (path, answerer)) in zip(st.columns(max(1, len(loaded))), loaded.items()):
        with col, reported(f"Model {name}"):
            st.markdown(f"**{name}**")
            start = time.perf_counter()
            candidates = answerer.answer([q], num_beams=beams, num_return=shown)[0]
            elapsed = time.perf_counter() - start
            best = candidates[0].text
            tops.append(best)
            st.markdown(f"#### {best or '(empty answer)'}")
            if gold:
                st.markdown(verdict(best, gold))
            floor = loaders.confidence_floor(path, dev)
            if floor is not None and best:
                sure = answerer.mean_token_logprob([q], [best])[0]
                if sure < floor:
                    st.warning(
                        f"Unsure: mean token log-probability {sure:.2f}, below {floor:.2f}, the 5th percentile "
                        "of this model's correct dev answers. The question may be outside what it learned."
                    )
            st.caption(
                f"answered in {1000 * elapsed:.0f} ms ({beams} beam{'s' * (beams > 1)}), "
                f"asked as `{answerer.prefix}{q}` (the input the model was trained on)"
            )
            rows = [
                {"answer": c.text, "log-prob": round(c.score, 3), **({"right": is_right(c.text, gold)} if gold else {})}
                for c in candidates
            ]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    return tops


def _loadable(model: str) -> bool:
    """A local HF directory, a training run directory with hf/, or (not a local path) a hub name."""
    path = Path(model).expanduser()
    if path.exists():
        return (path / "config.json").exists() or (path / "hf" / "config.json").exists()
    return not model.startswith((".", "/", "~")) and model.count("/") <= 1 and " " not in model


def _input_warnings(answerers: list, q: str) -> None:
    notes: list[str] = []
    for answerer in answerers:
        ids = answerer.tok(answerer.prefix + q).input_ids
        if len(ids) > answerer.max_input_len:
            notes.append(
                f"The question is {len(ids)} tokens long; the model reads only the first {answerer.max_input_len}."
            )
        unk = answerer.tok.unk_token_id
        if unk is not None and ids and sum(i == unk for i in ids) / len(ids) > 0.2:
            notes.append(
                "Many characters of this question are unknown to the model's vocabulary; expect a poor answer."
            )
    for note in dict.fromkeys(notes):
        st.warning(note)


def _retrieval(q: str, run: RunInfo | None, k: int, gold: list[str]) -> None:
    st.subheader("Retrieval baseline")
    index_dir = run.path("index") if run else None
    if index_dir is None:
        st.info(
            "This run has no retrieval index (the manifest's `index` is empty or missing), so there is no "
            "retrieval answer to compare with."
        )
        return
    if not loaders.retrieval_available():
        st.info("The retrieval_baseline package is not installed here, so the run's index cannot be searched.")
        return
    with reported(f"Retrieval index {index_dir}"):
        index = loaders.load_retrieval_index(index_dir)
        retrievers = ["dense", "bm25", "hybrid"] if index.bm25 is not None else ["dense"]
        retriever = st.radio(
            "Retriever",
            retrievers,
            horizontal=True,
            key="probe_retriever",
            index=retrievers.index("hybrid") if "hybrid" in retrievers else 0,
            help="hybrid (dense + BM25, reciprocal rank fusion) is what the benchmark's retrieval arm uses",
        )
        start = time.perf_counter()
        hits = index.search([q], k=k, retriever=retriever)[0]
        answer, read = _read(q, hits, run, gold)
        elapsed = time.perf_counter() - start
        if answer is not None:
            st.markdown(f"#### {answer or '(empty answer)'}")
            if gold:
                st.markdown(verdict(answer, gold))
        st.caption(
            f"retrieved {len(hits)} passages{f', the reader read the top {read}' if answer is not None else ''} "
            f"in {1000 * elapsed:.0f} ms ({retriever})"
        )
        marks = dict.fromkeys(gold, GOLD_COLOUR)
        if answer:
            marks[answer] = ANSWER_COLOUR
        if marks:
            st.caption("highlighted: :orange-background[reader answer] :green-background[gold answer]")
        for rank, hit in enumerate(hits, 1):
            tag = " · **read by the reader**" if rank <= read else ""
            st.markdown(
                f"**{rank}. {highlight(hit.title, {})}** <small>({hit.id}, score {hit.score:.3f})</small>{tag}<br>"
                f"{highlight(hit.text, marks)}",
                unsafe_allow_html=True,
            )


def _read(q: str, hits, run: RunInfo, gold: list[str]) -> tuple[str | None, int]:
    """The reader's answer from the retrieved passages and how many of them it read, or (None, 0) (with a note) when
    the run has no reader."""
    reader_dir = run.path("reader")
    if reader_dir is None:
        st.info("This run has no reader model (the manifest's `reader` is empty): showing the passages only.")
        return None, 0
    reader = loaders.load_reader(str(reader_dir))  # reads as its run recorded (reader_input.json): concat or FiD
    read = min(reader.passages_read, len(hits))
    answer = reader.read([q], [hits])[0][0].text
    how = (
        "Fusion-in-Decoder: each passage encoded with the question, one decoder over all of them"
        if reader.cfg.reader == "fid"
        else "the question and the passages in one input string"
    )
    where = ""
    if answer:
        from cbqa.reader.copying import occurs_in

        where = (
            " Its answer occurs in the passages it read."
            if occurs_in(answer, [h.text for h in hits[:read]])
            else " Its answer occurs in none of the passages it read (recalled from training, or a guess)."
        )
    st.caption(f"The reader read the top {read} of {len(hits)} passages ({how}).{where}")
    return answer, read


def _overlap_facts(q: str, run: RunInfo | None, answers: list[str], gold_known: bool, test_id: str | None) -> None:
    st.subheader("Overlap with training data")
    train = run.path("train") if run else None
    if train is None:
        st.info("This run names no training set (the manifest's `train`), so there is nothing to compare with.")
        return
    from cbqa.overlap.labeller import DEFAULT_THRESHOLDS
    from cbqa.overlap.question_similarity import search

    method = st.radio(
        "Question similarity",
        ["tfidf", "dense"],
        horizontal=True,
        key="probe_similarity",
        help="TF-IDF over word n-grams, or all-MiniLM-L6-v2 sentence embeddings (cosine).",
    )
    threshold = DEFAULT_THRESHOLDS[method]
    with reported("Nearest training questions"):
        neighbours = search(loaders.load_question_index(train, method), [q], 5)[0]
        st.markdown(f"**Nearest training questions** ({method}; a paraphrase at similarity ≥ {threshold})")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "similarity": round(n.score, 3),
                        "paraphrase": n.score >= threshold,
                        "train question": n.question,
                        "answers": " | ".join(n.answers),
                    }
                    for n in neighbours
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    whose = "gold answer" if gold_known else "first model's answer"
    if not answers or not any(a.strip() for a in answers):
        st.info("No answer to look up (no gold answer given and no model answered).")
        return
    with reported("Answer overlap"):
        matches = loaders.load_answer_index(train).matches(answers)
        if matches:
            ids = ", ".join(i for m in matches for i in m.train_ids)
            st.markdown(
                f"**Answer among training answers:** yes — the {whose} *{matches[0].answer}* "
                f"answers training question(s) {ids}"
            )
        else:
            st.markdown(
                f"**Answer among training answers:** no — the {whose} *{answers[0]}* answers no training question"
            )
    corpus = run.path("corpus")
    if corpus is None:
        st.info("This run names no pretraining corpus (the manifest's `corpus`).")
    else:
        with reported("Corpus overlap"):
            ev = loaders.load_corpus_index(run.path("overlap")).evidence(answers, q)
            if ev.answer_in_corpus and ev.sentence:
                where = {
                    "sentence": "in a sentence with a question term",
                    "passage": "in a document with a question term",
                }
                st.markdown(
                    f"**Answer in the pretraining corpus:** yes, {ev.answer_sentences} sentence(s)"
                    f"{', ' + where[ev.with_question_term] if ev.with_question_term else ''}; e.g. "
                    f"*{ev.title or ev.doc_id}*:"
                )
                # the gold colour only for a gold answer; without one this is the first model's answer
                quote = highlight(ev.sentence, {ev.answer or answers[0]: GOLD_COLOUR if gold_known else ANSWER_COLOUR})
                st.markdown(
                    f'<div style="border-left:3px solid #ccc;padding-left:.8em">{quote}</div>', unsafe_allow_html=True
                )
            else:
                st.markdown(f"**Answer in the pretraining corpus:** no — the {whose} occurs in no corpus sentence")
    if test_id is not None:
        _stored_labels(test_id, run)


def _stored_labels(test_id: str, run: RunInfo) -> None:
    for key, what in (("overlap", "computed"), ("gold_overlap", "gold")):
        path = run.path(key)
        if path is None:
            continue
        with reported(f"Overlap labels {path}"):
            row = loaders.load_overlap_rows(path).get(test_id)
            if row:
                st.markdown(
                    f"**{what.capitalize()} overlap category** of this test question: "
                    f"`{row.get('category') or 'undecided'}`"
                )


def _stored_predictions(test_id: str, run: RunInfo) -> None:
    st.subheader("Stored predictions for this test question")
    rows = []
    for system, path in run.predictions.items():
        with reported(f"Predictions {path}"):
            pred = next((p for p in loaders.load_predictions(path) if p.id == test_id), None)
            if pred is not None:
                rows.append(
                    {"system": system, "prediction": pred.prediction, "right": is_right(pred.prediction, pred.answers)}
                )
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info("No stored prediction for this question.")
