"""Answering with an open-book reader: a trained T5 reading the passages `retrieval_baseline` retrieved.

Two readers, as the reader run recorded (`reader_input.json`, `cbqa.reader.inputs.ReaderInput`):
`concat` (the question and its top passages in one input string; with one passage, the one-passage reader) and `fid`
(Fusion-in-Decoder: each of the top K passages encoded with the question, one decoder over all of them).

A reader trained on anonymised passages (`--data.reader.anonymise true`, recorded as `anonymise` in `reader_input.json`)
reads its test passages anonymised the same way (`cbqa.reader.anonymise`: entities as per-question placeholders, numbered by
the question's text) and its answer's placeholders are mapped back to the names they stand for.

Predictions are written in the common format, so `cbqa evaluate` scores a reader exactly like a closed-book model;
each row also carries the passages the reader read (`passages`, `read`: how many of them) and whether its answer
occurs in them (`copied`, `cbqa.reader.copying`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import torch

from cbqa.core.formats import Prediction, write_predictions
from cbqa.model.inference import Answerer, Candidate
from cbqa.model.tokenizer import EXTRA_IDS, sentinel_ids
from cbqa.reader.anonymise import Anonymised, Anonymiser, decode_keeping_sentinels, example_rng
from cbqa.reader.copy_head import load
from cbqa.reader.copying import occurs_in
from cbqa.reader.inputs import ReaderInput, fid_inputs, format_reader_input, read_reader_input
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of, retrieved_rows


def reader_input_of(model: str, fallback: ReaderInput = ReaderInput()) -> ReaderInput:
    """The input format recorded by the reader run `model`, else `fallback`."""
    return read_reader_input(model) or fallback


class Reader:
    """A reader model on a device; `read(questions, passages)` answers each question from its passages."""

    def __init__(self, model: str, cfg: ReaderInput | None = None, device: str = "auto") -> None:
        self.cfg = cfg or reader_input_of(model)
        # The concat reader's input already starts with `question:` (format_reader_input): no prefix.
        self.answerer = Answerer(load(model), device=device, prefix="", max_input_len=self.cfg.max_input_len)
        self.net, self.tok = self.answerer.net, self.answerer.tok
        self._anonymiser: Anonymiser | None = None

    def anonymiser(self) -> Anonymiser | None:
        """The spaCy entity anonymiser this reader was trained with, or None (loaded on first use)."""
        if self.cfg.anonymise and self._anonymiser is None:
            self._anonymiser = Anonymiser(spacy_model=self.cfg.spacy_model, numbering=self.cfg.numbering)
        return self._anonymiser

    def anonymised(self, questions: Sequence[str], passages: Sequence[Sequence[Hit]]) -> list[Anonymised] | None:
        """Each question with its top passages as this reader reads them, when it reads anonymised passages."""
        anon, k = self.anonymiser(), self.cfg.max_passages
        if anon is None:
            return None
        anon.annotate([h for hits in passages for h in list(hits)[:k]])
        return [anon(q, list(hits)[:k], example_rng(q)) for q, hits in zip(questions, passages)]

    @property
    def passages_read(self) -> int:
        return self.cfg.max_passages

    def read(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Hit]],
        num_beams: int = 4,
        num_return: int = 1,
        max_new_tokens: int = 32,
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Candidate]]:
        """For each question, `num_return` candidates (best first) read from its passages (best first)."""
        if len(questions) != len(passages):
            raise ValueError(f"{len(questions)} questions but {len(passages)} passage lists")
        k = self.cfg.max_passages
        if self.cfg.reader == "concat":
            inputs = [format_reader_input(q, hits, k) for q, hits in zip(questions, passages)]
            return self.answerer.answer(inputs, num_beams, num_return, max_new_tokens, batch_size, progress)
        views = self.anonymised(questions, passages)
        if views is not None:
            questions, passages = [v.question for v in views], [v.hits for v in views]
        banned = [self.banned(v) for v in views] if views is not None else [self.banned(None)] * len(questions)
        out: list[list[Candidate]] = []
        for start in range(0, len(questions), batch_size):
            chunk = [
                fid_inputs(q, hits, k)
                for q, hits in zip(questions[start : start + batch_size], passages[start : start + batch_size])
            ]
            ban = banned[start : start + batch_size]
            out += self._fid(chunk, num_beams, num_return, max_new_tokens, ban)
            if progress:
                progress(len(chunk))
        if views is not None:
            out = [[Candidate(v.restore(c.text), c.score) for c in cands] for v, cands in zip(views, out)]
        return out

    def banned(self, view: Anonymised | None) -> list[int]:
        """The tokens a FiD reader's answer never holds. Padding (T5's decoder start): an undertrained reader can
        emit it until max_new_tokens, an empty answer scored as that many pads. For an anonymised example, the
        question's own placeholders ("Who founded <extra_id_52>?"): a reader that has not yet learnt which of a
        passage's names a question asks for would otherwise often echo the subject; and every placeholder that stands
        for no name of this example (the reader can generate one from its vocabulary, and it cannot be mapped back:
        14 of the SQuAD check reader's 1,079 test answers held one before this ban, none after)."""
        if view is None:
            return [self.tok.pad_token_id]
        unused = [i for t, i in self._placeholders.items() if t not in view.names]
        return [self.tok.pad_token_id, *self.tok.convert_tokens_to_ids(view.in_question()), *unused]

    @cached_property
    def _placeholders(self) -> dict[str, int]:
        """Every placeholder token of the tokenizer (<extra_id_0> .. <extra_id_99>) and its id."""
        ids = sentinel_ids(self.tok, EXTRA_IDS)
        return dict(zip(self.tok.convert_ids_to_tokens(ids), ids))

    @torch.inference_mode()
    def _fid(
        self, inputs: list[list[str]], num_beams: int, num_return: int, max_new_tokens: int, banned: list[list[int]]
    ) -> list[list[Candidate]]:
        from transformers import LogitsProcessorList

        from cbqa.reader.fid import fid_generate
        from cbqa.training.stream import pad_passages

        if num_return > max(num_beams, 1):
            raise ValueError(f"num_return ({num_return}) cannot exceed num_beams ({num_beams})")
        flat = [t for group in inputs for t in group]
        ids = self.tok(flat, max_length=self.cfg.max_input_len, truncation=True)["input_ids"]
        grouped, at = [], 0
        for group in inputs:
            grouped.append(ids[at : at + len(group)])
            at += len(group)
        input_ids, mask = pad_passages(grouped, self.tok.pad_token_id)
        device = self.answerer.device
        gen = fid_generate(
            self.net,
            input_ids.to(device),
            mask.to(device),
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            num_return_sequences=num_return,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            logits_processor=LogitsProcessorList([BanTokens(banned)]),
        )
        if self.cfg.anonymise:  # the answer is a sentinel placeholder: keep it to map it back
            texts = decode_keeping_sentinels(self.tok, gen.sequences)
        else:
            texts = [t.strip() for t in self.tok.batch_decode(gen.sequences, skip_special_tokens=True)]
        if num_beams > 1 and getattr(gen, "sequences_scores", None) is not None:
            scores = gen.sequences_scores.cpu()
        else:
            # log-probabilities over the tokens an answer may hold (banned ones masked first), as `score` gives them
            trans = self.net.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
            scores = trans.masked_fill(~torch.isfinite(trans), 0.0).sum(dim=1).cpu()
        return [
            [Candidate(texts[j], float(scores[j])) for j in range(i * num_return, (i + 1) * num_return)]
            for i in range(len(inputs))
        ]

    @torch.inference_mode()
    def score(self, question: str, passages: Sequence[Hit], answers: Sequence[str]) -> list[float]:
        """The log-probability of each candidate answer (its tokens and EOS, teacher-forced) given the question and
        its passages: how a reader ranks answers it did not generate (e.g. the entities of the passages). Over the
        tokens `read` may generate: for a FiD reader, an answer holding a banned one (padding, the question's own
        placeholders) is -inf."""
        from transformers.modeling_outputs import BaseModelOutput

        from cbqa.reader.copy_head import is_pointer
        from cbqa.reader.fid import fid_encode
        from cbqa.training.stream import pad_passages

        if not answers:
            return []
        k, n, device = self.cfg.max_passages, len(answers), self.answerer.device
        views = self.anonymised([question], [passages])
        # as `read` bans them (a FiD reader's): the log-probability among the answers it may give
        banned = self.banned(views[0] if views is not None else None) if self.cfg.reader == "fid" else []
        if views is not None:  # score each answer as the reader would write it: a name as its placeholder
            fill = views[0].forward()
            question, passages, answers = views[0].question, views[0].hits, [fill(a) for a in answers]
        labels = self.tok(list(answers), padding=True, return_tensors="pt").input_ids.to(device)
        keep = labels != self.tok.pad_token_id
        if self.cfg.reader == "concat":
            enc = self.tok(
                [format_reader_input(question, passages, k)] * n,
                max_length=self.cfg.max_input_len,
                truncation=True,
                return_tensors="pt",
            ).to(device)
            logits = self.net(**enc, labels=labels.masked_fill(~keep, -100)).logits
        else:
            ids = self.tok(fid_inputs(question, passages, k), max_length=self.cfg.max_input_len, truncation=True)[
                "input_ids"
            ]
            input_ids, mask = (t.to(device) for t in pad_passages([ids], self.tok.pad_token_id))
            encoded, fused = fid_encode(self.net, input_ids, mask)
            copy = {"source_ids": input_ids.reshape(1, -1).expand(n, -1)} if is_pointer(self.net) else {}
            logits = self.net(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoded.last_hidden_state.expand(n, -1, -1)),
                attention_mask=fused.expand(n, -1),
                labels=labels.masked_fill(~keep, -100),
                **copy,
            ).logits
        logits = logits.float()
        logits[..., banned] = -float("inf")
        logp = torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        return logp.masked_fill(~keep, 0.0).sum(1).tolist()  # (a padding label is a banned token: -inf, not 0 x -inf)


class BanTokens:
    """A generation logits processor: example i's answer never contains the token ids `banned[i]` (each example's
    rows, one per beam, are consecutive in the batch `generate` expands)."""

    def __init__(self, banned: Sequence[Sequence[int]]) -> None:
        self.banned = [list(ids) for ids in banned]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        per = scores.shape[0] // len(self.banned)
        for i, ids in enumerate(self.banned):
            if ids:
                scores[i * per : (i + 1) * per, ids] = -float("inf")
        return scores


def prediction_row(row: dict, answer: str, read: int, keep_passages: int = 5) -> Prediction:
    """A predictions-file row for a retrieved question answered from its top `read` passages."""
    hits = hits_of(row)
    return Prediction(
        str(row["id"]),
        row["question"],
        answer,
        row.get("answers") or None,
        {
            "passages": row["passages"][: max(keep_passages, read)],
            "read": read,
            "copied": occurs_in(answer, [h.text for h in hits[:read]] + [h.title for h in hits[:read]]),
        },
    )


def predict(
    model: str,
    retrieved: str | Path,
    out: str | Path,
    cfg: ReaderInput | None = None,
    num_beams: int = 4,
    device: str = "auto",
    keep_passages: int = 5,
) -> int:
    """Answer each retrieved question from its passages; rows carry the passages shown to the reader.

    `cfg=None` takes the input format the reader run recorded (`reader_input.json`), else ReaderInput's defaults.
    """
    reader = Reader(model, cfg, device)
    rows = [r for _, r in retrieved_rows(retrieved)]
    answers = reader.read([r["question"] for r in rows], [hits_of(r) for r in rows], num_beams=num_beams)
    preds = [prediction_row(r, a[0].text, reader.passages_read, keep_passages) for r, a in zip(rows, answers)]
    return write_predictions(out, preds)
