"""LAMA-style cloze probes for any T5 (`cbqa cloze`, the demo's cloze stage, the app's Knowledge page).

A fact (subject, relation, object) becomes a T5 input with the sentinel `<extra_id_0>` where LAMA has [Y] or [MASK]:
the relation's template with [X] filled by the subject ("Alan Turing was born in <extra_id_0>."), or an evidence
sentence of the fact. T5's span-corruption pretraining (and SSM) fills exactly such a gap.

- rank mode: every candidate of the relation's answer set (all objects of the relation in the files, LAMA's shared
  vocabulary per relation) is scored by the log-likelihood of the span target `<extra_id_0> CANDIDATE <extra_id_1>`
  (its tokens, the closing sentinel ending it: no EOS), summed and length-normalised (mean per token); the encoder
  runs once per input and the decoder's shared start once per input (`scoring.grid_log_likelihoods`).
  The rank of the gold object is filtered: other objects the files give the same subject in the same relation (an
  N-M relation) are not counted above it. P@1, P@10 and MRR, under both scores.
- generate mode: the span the model writes after `<extra_id_0>` (greedy, or beam search), scored by exact match
  against the object and its aliases (`cbqa.core.metrics`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.formats.lama import MASK, OBJECT, SUBJECT, LamaFact, LamaRelation
from ner_masking.masked import sentinel

Source = Literal["template", "evidence"]
Mode = Literal["generate", "rank"]
RankBy = Literal["sum", "mean"]
SOURCES: tuple[Source, ...] = ("template", "evidence")
MODES: tuple[Mode, ...] = ("rank", "generate")
BLANKS = ("___", "[Y]", MASK, "<extra_id_0>")  # what a typed cloze may use for its gap
MAX_NEW_TOKENS = 16


@dataclass(frozen=True)
class ClozeItem:
    """One probe: a fact and the T5 input that asks for its object."""

    id: str
    relation: str
    subject: str
    gold: str
    aliases: tuple[str, ...]
    input: str
    split: str | None = None


@dataclass
class Scored:
    """A model's answer to one item: its top candidates (best first) with their scores, and the gold's rank."""

    top: list[dict[str, Any]]  # rank: {"candidate", "logp", "mean_logp"}; generate: {"candidate", "score"}
    rank: int | None = None  # rank mode: the gold's filtered rank by summed log-likelihood (1 = first)
    rank_mean: int | None = None  # ... by length-normalised log-likelihood
    correct: bool | None = None  # generate mode: the top span matches the gold or an alias (EM)


@dataclass
class Skipped:
    no_template: dict[str, int] = field(default_factory=dict)  # relation -> facts (template source)
    no_evidence: int = 0  # facts without a sentence holding exactly one [MASK] (evidence source)

    def to_json(self) -> dict[str, Any]:
        return {"no_template": self.no_template, "no_evidence": self.no_evidence}


def tidy(text: str) -> str:
    """LAMA's templates are tokenised for BERT ("born in [Y] ."); T5 was trained on text with the stop against the word."""
    text = re.sub(r"\s+([.,;:!?)])", r"\1", text)
    return re.sub(r"\(\s+", "(", " ".join(text.split()))


def template_input(template: str, subject: str) -> str:
    """`[X] was born in [Y] .` + `Alan Turing` -> `Alan Turing was born in <extra_id_0>.`"""
    return tidy(template.replace(SUBJECT, subject).replace(OBJECT, sentinel(0)))


def evidence_input(sentence: str) -> str | None:
    """An evidence sentence with its one [MASK] as the sentinel; None if it has no [MASK] or several."""
    if sentence.count(MASK) != 1:
        return None
    return tidy(sentence.replace(MASK, sentinel(0)))


def build_items(
    facts: Sequence[LamaFact], relations: dict[str, LamaRelation], source: Source = "template"
) -> tuple[list[ClozeItem], Skipped]:
    """One item per fact: from its relation's template, or from its first evidence sentence with one [MASK]."""
    if source not in SOURCES:
        raise CbqaError(f"unknown --source {source!r}; choose from {', '.join(SOURCES)}")
    items, skipped = [], Skipped()
    for i, f in enumerate(facts):
        if source == "template":
            if f.relation not in relations:
                skipped.no_template[f.relation] = skipped.no_template.get(f.relation, 0) + 1
                continue
            text: str | None = template_input(relations[f.relation].template, f.subject)
        else:
            text = next((t for t in map(evidence_input, f.sentences) if t is not None), None)
            if text is None:
                skipped.no_evidence += 1
                continue
        items.append(ClozeItem(f.uuid or str(i), f.relation, f.subject, f.object, f.aliases, text, f.split))
    return items, skipped


def answer_sets(facts: Iterable[LamaFact]) -> dict[str, list[str]]:
    """relation -> every object the facts give it, sorted (LAMA's candidates, one vocabulary per relation)."""
    out: dict[str, set[str]] = defaultdict(set)
    for f in facts:
        out[f.relation].add(f.object)
    return {r: sorted(v) for r, v in out.items()}


def valid_objects(facts: Iterable[LamaFact]) -> dict[tuple[str, str], set[str]]:
    """(relation, subject) -> all its objects in the files (more than one in an N-M relation)."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in facts:
        out[(f.relation, f.subject)].add(f.object)
    return out


def span_target(candidate: str) -> str:
    return f"{sentinel(0)} {candidate} {sentinel(1)}"


def rank_items(
    net,
    tok,
    items: Sequence[ClozeItem],
    candidates: dict[str, list[str]],
    valid: dict[tuple[str, str], set[str]] | None = None,
    k: int = 10,
    rank_by: RankBy = "sum",
    batch_size: int | None = None,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Rank mode: every candidate of each item's relation scored, the encoder run once per input."""
    from cbqa.memorisation.scoring import grid_log_likelihoods

    out: list[Scored | None] = [None] * len(items)
    by_relation: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_relation[item.relation].append(i)
    for relation, idx in by_relation.items():
        cands = candidates.get(relation) or []
        if not cands:
            raise CbqaError(f"relation {relation!r} has no candidate answers")
        sums, counts = grid_log_likelihoods(
            net,
            tok,
            [items[i].input for i in idx],
            [span_target(c) for c in cands],
            batch_size=batch_size,
            eos=False,
            device=device,
            progress=progress,
        )
        means = sums / np.maximum(counts, 1)
        position = {c: j for j, c in enumerate(cands)}
        for row, i in enumerate(idx):
            item = items[i]
            others = [position[o] for o in (valid or {}).get((relation, item.subject), ()) if o != item.gold]
            s, m = sums[row], means[row]
            order = np.argsort(-(s if rank_by == "sum" else m), kind="stable")[:k]
            out[i] = Scored(
                top=[
                    {"candidate": cands[j], "logp": round(float(s[j]), 4), "mean_logp": round(float(m[j]), 4)}
                    for j in order
                ],
                rank=_filtered_rank(s, position.get(item.gold), others),
                rank_mean=_filtered_rank(m, position.get(item.gold), others),
            )
    return [s for s in out if s is not None]


def _filtered_rank(scores: np.ndarray, gold: int | None, others: list[int]) -> int | None:
    """1 + the candidates scored above the gold, the subject's other valid objects left out; None: gold not a
    candidate (cannot happen with answer sets built from the same facts)."""
    if gold is None:
        return None
    above = scores > scores[gold]
    if others:
        above[others] = False
    return 1 + int(above.sum())


def generate_items(
    net,
    tok,
    items: Sequence[ClozeItem],
    k: int = 10,
    beams: int = 1,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Generate mode: the span each model writes for `<extra_id_0>`; with beams > 1, the top min(k, beams) spans."""
    from cbqa.core.metrics import max_em

    spans = generate_spans(net, tok, [i.input for i in items], k, beams, batch_size, device, progress)
    return [
        Scored(top=top, correct=bool(top and max_em(top[0]["candidate"], [item.gold, *item.aliases])))
        for item, top in zip(items, spans, strict=True)
    ]


def generate_spans(
    net,
    tok,
    inputs: Sequence[str],
    k: int = 1,
    beams: int = 1,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> list[list[dict[str, Any]]]:
    """For each input, the spans written after `<extra_id_0>` (up to `<extra_id_1>` or EOS), best first, with their
    log-probabilities (length-normalised by the beam scorer when beams > 1)."""
    import torch

    from cbqa.model.tokenizer import sentinel_ids

    first, second = sentinel_ids(tok, 2)
    n_return = max(1, min(k, beams))
    out: list[list[dict[str, Any]]] = []
    with torch.inference_mode():
        for lo in range(0, len(inputs), batch_size):
            chunk = list(inputs[lo : lo + batch_size])
            enc = tok(chunk, padding=True, return_tensors="pt").to(device)
            gen = net.generate(
                **enc,
                max_new_tokens=MAX_NEW_TOKENS,
                num_beams=beams,
                num_return_sequences=n_return,
                do_sample=False,
                eos_token_id=[tok.eos_token_id, second],
                output_scores=True,
                return_dict_in_generate=True,
            )
            if beams > 1:
                scores = gen.sequences_scores.cpu().tolist()
            else:
                trans = net.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
                scores = trans.masked_fill(~torch.isfinite(trans), 0.0).sum(dim=1).cpu().tolist()
            texts = [_span(seq.tolist(), tok, first, second) for seq in gen.sequences]
            for i in range(len(chunk)):
                row = range(i * n_return, (i + 1) * n_return)
                out.append([{"candidate": texts[j], "score": round(float(scores[j]), 4)} for j in row])
            if progress:
                progress(len(chunk))
    return out


def _span(ids: list[int], tok, first: int, second: int) -> str:
    """The tokens after the first `<extra_id_0>` (or from the start, for a model that writes the span without it) up
    to `<extra_id_1>`, another sentinel or EOS."""
    while ids and ids[0] == tok.pad_token_id:  # T5's decoder starts from the pad token
        ids = ids[1:]
    if first in ids:
        ids = ids[ids.index(first) + 1 :]
    special = set(tok.all_special_ids) - {tok.unk_token_id}
    end = next((j for j, t in enumerate(ids) if t in special or t == second), len(ids))
    return tok.decode(ids[:end], skip_special_tokens=True).strip()


# -- metrics -----------------------------------------------------------------------------------------------------


def metrics(scored: Sequence[Scored], mode: Mode) -> dict[str, Any]:
    """P@1, P@10 and MRR in percent (rank mode; `length_normalised`: the same by mean log-probability), or EM
    (generate mode), over `scored`."""
    n = len(scored)
    if mode == "generate":
        return {"n": n, "em": _pct(sum(bool(s.correct) for s in scored), n)}
    out: dict[str, Any] = {"n": n, **_rank_metrics([s.rank for s in scored])}
    out["length_normalised"] = _rank_metrics([s.rank_mean for s in scored])
    return out


def _rank_metrics(ranks: Sequence[int | None]) -> dict[str, float | None]:
    r = [x for x in ranks if x is not None]
    n = len(ranks)
    return {
        "p@1": _pct(sum(x == 1 for x in r), n),
        "p@10": _pct(sum(x <= 10 for x in r), n),
        "mrr": round(100.0 * sum(1.0 / x for x in r) / n, 2) if n else None,
    }


def _pct(hits: int, n: int) -> float | None:
    return round(100.0 * hits / n, 2) if n else None


def headline(m: dict[str, Any], rank_by: RankBy = "sum") -> float | None:
    """The one number of a metrics dict: P@1 (by the chosen score) in rank mode, EM in generate mode."""
    if "em" in m:
        return m["em"]
    return (m if rank_by == "sum" else m["length_normalised"])["p@1"]


def summarise(items: Sequence[ClozeItem], scored: Sequence[Scored], mode: Mode) -> dict[str, Any]:
    """Overall, per relation, per split (where the files give one), and per relation within each split."""
    groups: dict[str, dict[str, list[Scored]]] = {"relations": defaultdict(list), "splits": defaultdict(list)}
    by_split_relation: dict[str, dict[str, list[Scored]]] = defaultdict(lambda: defaultdict(list))
    for item, s in zip(items, scored, strict=True):
        groups["relations"][item.relation].append(s)
        if item.split is not None:
            groups["splits"][item.split].append(s)
            by_split_relation[item.split][item.relation].append(s)
    return {
        "overall": metrics(scored, mode),
        "relations": {r: metrics(v, mode) for r, v in groups["relations"].items()},
        "splits": {sp: metrics(v, mode) for sp, v in sorted(groups["splits"].items())},
        "split_relations": {
            sp: {r: metrics(v, mode) for r, v in rels.items()} for sp, rels in sorted(by_split_relation.items())
        },
    }


# -- typed clozes (the app) --------------------------------------------------------------------------------------


def typed_input(text: str) -> str | None:
    """A typed cloze ("Laura Emerson was born in ___") as a T5 input, its gap (a run of underscores, [Y], [MASK] or
    <extra_id_0>) the sentinel; None without exactly one gap."""
    text = re.sub(r"_{2,}", "___", text)
    if sum(text.count(b) for b in BLANKS) != 1:
        return None
    blank = next(b for b in BLANKS if b in text)
    return tidy(text.replace(blank, sentinel(0)))


def match_template(text: str, relations: dict[str, LamaRelation]) -> tuple[str, str] | None:
    """(relation, subject) when a typed cloze is a relation's template with [X] filled in (case, spacing and the
    final stop aside); None when no template matches."""
    typed = typed_input(text)
    if typed is None:
        return None
    key = _loose(typed)
    for name, rel in relations.items():
        pattern = re.escape(_loose(template_input(rel.template, "\x00"))).replace("\x00", "(?P<x>.+?)")
        m = re.fullmatch(pattern, key)
        if m:
            at = typed.lower().find(m.group("x"))
            return name, typed[at : at + len(m.group("x"))].strip() if at >= 0 else m.group("x").strip()
    return None


def _loose(text: str) -> str:
    return " ".join(text.lower().rstrip(" .!?").split())
