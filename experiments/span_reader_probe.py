"""Does an extractive span head read better than the generative FiD reader? (a probe for issue 13; negative so far)

A DPR-style extractive reader on the demo's T5 encoder: each of the top-K retrieved passages is encoded with the
question (`question: Q context: title: T text: X`, as FiD does), a linear head scores every passage token as the
answer's start and end, and the loss is the marginal likelihood of every occurrence of the answer in the K passages
under one softmax over all of them (shared normalisation, Clark & Gardner 2018). The answer is the best-scoring span
(start <= end, at most 16 tokens) of the passages' text. No decoder, so a step is cheaper than FiD's and nothing has to
be generated token by token. Training data: QA-train over its retrieved passages (`cbqa retrieve` output), drawn with
replacement, with several ways of keeping the head from learning which strings are answers instead of where they sit:

- `--swap P --novel`: the answer alone is replaced, in the passages and the target, by another training answer of
  its kind or a new string (`cbqa.reader.tasks.ReaderTask`, the FiD recipe's option);
- `--rename-all P [--all-novel]`: every spaCy entity of the passages that the question does not name is renamed, the
  answer with them, to an entity of the same label from passages about QA-train's subjects, or with `--all-novel`
  to a new string shaped like it (`novel_entity`), or with `--made-up` to random syllables (`made_up`), so the answer
  and its distractors look alike;
- `--anonymise`: Hermann et al. (2015)'s entity anonymisation in training and test (placeholders such as `GPE7`,
  numbered afresh per example; a predicted placeholder maps back to its name);
- `--clozes FILE` (with `--anonymise`): a share (`--cloze-share`) of the draws are clozes over sentences of QA-train
  subjects' documents (a `cbqa reader reading-examples` file), read over passages that state the span in other words;
- `--match`: DrQA's exact-match feature (Chen et al. 2017): a learnt embedding added to the input of each passage
  token whose word (or 5-letter prefix) is a content word of the question.

    python experiments/span_reader_probe.py --demo runs/demo --k 1 --steps 600 --rename-all 1.0 --all-novel

Prints EM on the test questions by every overlap label of `world/overlap_gold.jsonl`; `--eval-renamed` also reads the
test passages with every entity renamed the same way (EM against the renamed answer); `--fresh` starts from random
weights of the model's shape; `--dump FILE` writes each prediction. Results are in README.md ("The retrieval arm").
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cbqa.core.formats.jsonl import read_jsonl
from cbqa.core.formats.qa import QAExample
from cbqa.core.metrics import max_em
from cbqa.model.loading import load_pretrained
from cbqa.model.tokenizer import load_tokenizer
from cbqa.reader.anonymise import replacer
from cbqa.reader.floor import PassageNER
from cbqa.reader.inputs import fid_inputs
from cbqa.reader.reading_examples import SubjectFilter
from cbqa.reader.tasks import ReaderTask, novel_entity
from cbqa.training.tasks import TaskConfig
from retrieval_baseline.hits import Hit
from retrieval_baseline.retrieved import hits_of

CONTEXT = " context:"
MAX_SPAN = 16
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    """a an the of in on at to for from by with and or is are was were be been do does did has have had
what which who whom whose when where why how that this it its his her their he she they question context title text
now""".split()
)


@dataclass
class Encoded:
    """One question over its K passage inputs: token ids, exact-match flags, offsets, the context tokens (answer
    candidates), and the (passage, token) positions where an answer starts and ends."""

    texts: list[str]
    ids: list[list[int]] = field(default_factory=list)
    flags: list[list[int]] = field(default_factory=list)
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)
    context: list[list[int]] = field(default_factory=list)
    starts: list[tuple[int, int]] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)


def encode(tok, texts: Sequence[str], max_len: int, answers: Sequence[str] = ()) -> Encoded:
    out = Encoded(list(texts))
    for j, text in enumerate(texts):
        enc = tok(text, truncation=True, max_length=max_len, return_offsets_mapping=True)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
        ctx = text.find(CONTEXT) + len(CONTEXT)
        question = {w for w in _WORD.findall(text[:ctx].lower()) if w not in _STOP}
        prefixes = {w[:5] for w in question if len(w) > 4}
        words = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text)]
        flags = []
        for a, _ in offsets:
            word = next((w for ws, we, w in words if ws <= a < we), None)
            flags.append(int(a >= ctx and word is not None and (word in question or word[:5] in prefixes)))
        out.ids.append(enc["input_ids"])
        out.flags.append(flags)
        out.offsets.append(offsets)
        out.context.append([i for i, (s, e) in enumerate(offsets) if s >= ctx and e > s])
        for a in answers:
            for m in re.finditer(rf"(?<!\w){re.escape(a)}(?!\w)", text[ctx:], flags=re.IGNORECASE):
                cs, ce = ctx + m.start(), ctx + m.end()
                covered = [i for i, (s, e) in enumerate(offsets) if e > cs and s < ce and e > s]
                if covered and offsets[covered[-1]][1] >= ce:  # not cut off by truncation
                    out.starts.append((j, covered[0]))
                    out.ends.append((j, covered[-1]))
    return out


def collate(items: Sequence[Encoded], pad: int, k: int) -> dict[str, torch.Tensor]:
    n = max(len(x) for it in items for x in it.ids)
    shape = (len(items), k, n)
    t = {
        "ids": torch.full(shape, pad),
        "mask": torch.zeros(shape, dtype=torch.long),
        "flags": torch.zeros(shape, dtype=torch.long),
        "valid": torch.zeros(shape, dtype=torch.bool),
        "starts": torch.zeros(shape, dtype=torch.bool),
        "ends": torch.zeros(shape, dtype=torch.bool),
    }
    for b, it in enumerate(items):
        for j, ids in enumerate(it.ids):
            t["ids"][b, j, : len(ids)] = torch.tensor(ids)
            t["mask"][b, j, : len(ids)] = 1
            t["flags"][b, j, : len(ids)] = torch.tensor(it.flags[j])
            t["valid"][b, j, it.context[j]] = True
        for name in ("starts", "ends"):
            for j, i in getattr(it, name):
                t[name][b, j, i] = True
    return t


class SpanReader(torch.nn.Module):
    """The T5 encoder, an optional exact-match embedding, and a start/end head."""

    def __init__(self, t5, match: bool) -> None:
        super().__init__()
        self.encoder = t5.get_encoder()
        self.head = torch.nn.Linear(t5.config.d_model, 2)
        self.match = torch.nn.Embedding(2, t5.config.d_model) if match else None

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, n = ids.shape
        emb = self.encoder.embed_tokens(ids)
        if self.match is not None:
            emb = emb + self.match(flags)
        h = self.encoder(
            inputs_embeds=emb.reshape(b * k, n, -1), attention_mask=mask.reshape(b * k, n)
        ).last_hidden_state
        logits = self.head(h).reshape(b, k * n, 2).float()
        return logits[..., 0], logits[..., 1]


def span_loss(start: torch.Tensor, end: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """-log P(some gold start) - log P(some gold end), each softmax over the context tokens of all K passages."""
    b = start.shape[0]
    valid = t["valid"].reshape(b, -1)
    neg = torch.finfo(torch.float32).min
    loss = torch.zeros(b)
    for logits, gold in ((start, t["starts"]), (end, t["ends"])):
        logits = logits.masked_fill(~valid, neg)
        loss = loss + torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~gold.reshape(b, -1), neg), -1)
    return loss.mean() / 2


@torch.no_grad()
def best_span(model: SpanReader, item: Encoded, pad: int, k: int) -> str:
    t = collate([item], pad, k)
    start, end = (x.reshape(k, -1) for x in model(t["ids"], t["mask"], t["flags"]))
    best, answer = float("-inf"), ""
    for j, ctx in enumerate(item.context):
        if not ctx:
            continue
        c = torch.tensor(ctx)
        scores = start[j, c][:, None] + end[j, c][None, :]
        pos = torch.arange(len(ctx))
        scores = scores.masked_fill(
            ~((pos[None, :] >= pos[:, None]) & (pos[None, :] - pos[:, None] < MAX_SPAN)), float("-inf")
        )
        a, z = divmod(int(scores.argmax()), len(ctx))
        if float(scores[a, z]) > best:
            o = item.offsets[j]
            best, answer = float(scores[a, z]), item.texts[j][o[ctx[a]][0] : o[ctx[z]][1]]
    return answer


_ONSETS = "b c d f g h j k l m n p r s t v w br ch cl dr fl gr pl sh st th tr".split()
_VOWELS = "a e i o u ai ea ee oo ou".split()
_CODAS = ["", "", "n", "r", "l", "s", "th", "ck", "m", "nd", "rt"]
_MONTHS = frozenset("january february march april may june july august september october november december".split())


def made_up(text: str, rng: random.Random) -> str:
    """A new string shaped like `text`, made letter cluster by letter cluster (random syllables for each capitalised
    word but month names, each digit random, other words kept), so it shares no word piece family with any entity of the corpus."""
    out = []
    for word in text.split():
        if any(c.isdigit() for c in word):
            out.append("".join(str(rng.randrange(10)) if c.isdigit() else c for c in word))
        elif word[:1].isupper() and word.lower() not in _STOP and word.rstrip(".,;:").lower() not in _MONTHS:
            syllables = "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(1, 3))
            )
            out.append(syllables.capitalize() + word[len(word.rstrip(".,;:")) :])
        else:
            out.append(word)
    return " ".join(out)


@torch.no_grad()
def best_candidate(
    model: SpanReader, item: Encoded, hits: Sequence[Hit], question: str, ner: PassageNER, pad: int, k: int
) -> str:
    """The extractive floor's candidates (spaCy entities of the passages whose label fits the question, minus the
    question's own words), ranked by the head's start + end score instead of by retrieval rank."""
    from cbqa.reader.floor import answer_labels

    t = collate([item], pad, k)
    start, end = (x.reshape(k, -1) for x in model(t["ids"], t["mask"], t["flags"]))
    fits, q = answer_labels(question), question.lower()
    best, answer = float("-inf"), ""
    for j, h in enumerate(hits[:k]):
        base = item.texts[j].find(h.text, item.texts[j].find(CONTEXT))
        if base < 0:
            continue
        offsets = item.offsets[j]
        for s, e, label, _ in ner.entities(h.text):
            text = h.text[s:e]
            if (fits is not None and label not in fits) or text.lower() in q:
                continue
            covered = [i for i, (a, b) in enumerate(offsets) if b > base + s and a < base + e and b > a]
            if covered and offsets[covered[-1]][1] >= base + e:
                score = float(start[j, covered[0]] + end[j, covered[-1]])
                if score > best:
                    best, answer = score, text
    return answer


class Anonymiser:
    """Hermann et al. (2015)'s entity anonymisation: every spaCy entity of the passages becomes a placeholder of its
    label and a number drawn afresh for each example (`GPE7`), the same in every passage and in the question, so no
    name carries anything a reader could remember; an answer that is a placeholder maps back to the name."""

    def __init__(self, ner: PassageNER, k: int) -> None:
        self.ner, self.k = ner, k

    def __call__(self, question: str, hits: Sequence[Hit], rng: random.Random) -> tuple[str, list[Hit], dict[str, str]]:
        names: dict[str, str] = {}
        free: dict[str, list[int]] = {}
        for h in hits[: self.k]:
            for s, e, label, _ in self.ner.entities(h.text):
                text = h.text[s:e]
                if text not in names:
                    pool = free.setdefault(label, rng.sample(range(1, 100), 99))
                    names[text] = f"{label.replace('_', '')}{pool.pop()}"
        if not names:
            return question, list(hits[: self.k]), {}
        fill = replacer(names)
        shown = [Hit(h.id, fill(h.title), fill(h.text), h.score) for h in hits[: self.k]]
        return fill(question), shown, {v: k for k, v in names.items()}


class Renamer:
    """Renames every entity of the passages shown (those the question does not name), the answer with them."""

    def __init__(self, task: ReaderTask, train_rows: list[dict], k: int, novel: bool, made: bool = False) -> None:
        self.ner, self.k, self.novel, self.made = PassageNER(), k, novel, made
        shown = [h for _, _, hits in task.items for h in hits[:k]]
        self.ner.annotate([h.text for h in shown])
        about = SubjectFilter([QAExample(str(r["id"]), r["question"], r["answers"]) for r in train_rows])
        pool: dict[str, set[str]] = defaultdict(set)
        for h in shown:
            if about(h.id.split("#")[0], h.title):  # substitutes only from passages about QA-train's subjects
                for s, e, label, _ in self.ner.entities(h.text):
                    pool[label].add(h.text[s:e])
        self.pool = {label: sorted(v) for label, v in pool.items()}

    def __call__(self, question: str, answer: str, hits: list[Hit], rng: random.Random) -> tuple[list[Hit], str]:
        names: dict[str, str] = {}
        for h in hits[: self.k]:
            for s, e, label, _ in self.ner.entities(h.text):
                text = h.text[s:e]
                if text in names or text.lower() in question.lower() or label not in self.pool:
                    continue
                cands = self.pool[label]
                if self.made:
                    names[text] = made_up(text, rng)
                else:
                    names[text] = novel_entity(text, cands, rng) if self.novel else cands[rng.randrange(len(cands))]
        if not names:
            return hits[: self.k], answer
        fill = replacer(names)
        return [Hit(h.id, fill(h.title), fill(h.text), h.score) for h in hits[: self.k]], fill(answer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", default="runs/demo", help="a `cbqa demo` run (tokenizer, models, world, retrieval)")
    ap.add_argument("--model", default=None, help="the T5 whose encoder reads (default: the run's SSM model)")
    ap.add_argument(
        "--retrieval", default=None, help="directory of train/test `cbqa retrieve` outputs (default: the run's)"
    )
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--swap", type=float, default=0.0)
    ap.add_argument("--novel", action="store_true")
    ap.add_argument("--rename-all", type=float, default=0.0)
    ap.add_argument("--all-novel", action="store_true")
    ap.add_argument(
        "--made-up", action="store_true", help="rename to made-up names (random syllables), not corpus-shaped ones"
    )
    ap.add_argument("--match", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="the model's architecture with freshly initialised weights")
    ap.add_argument(
        "--eval-renamed",
        action="store_true",
        help="also evaluate with every entity of the test passages renamed (the answer with them)",
    )
    ap.add_argument(
        "--typed",
        action="store_true",
        help="also answer with the best-scoring typed entity of the passages (the floor's candidates)",
    )
    ap.add_argument(
        "--clozes", default=None, help="also train on a `cbqa reader reading-examples` file's clozes (with --anonymise)"
    )
    ap.add_argument("--cloze-share", type=float, default=0.5, help="share of the training draws that are clozes")
    ap.add_argument(
        "--anonymise",
        action="store_true",
        help="train and test on passages whose entities are placeholders (GPE7), answers mapped back",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", type=Path, default=None)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    run, rd = Path(args.demo), Path(args.retrieval or Path(args.demo) / "retrieval")
    tok = load_tokenizer(run / "tokenizer")
    t5, _ = load_pretrained(args.model or str(run / "models" / "ssm"))
    if args.fresh:  # what the start model's weights bring, apart from its shape
        t5 = type(t5)(t5.config)
    model = SpanReader(t5, args.match)
    train_rows = [r for _, r in read_jsonl(rd / "train.jsonl")]
    task = ReaderTask(
        TaskConfig(
            name="qa",
            kind="reader",
            file=str(rd / "train.jsonl"),
            policy_options={"swap": args.swap, "novel": args.novel},
        ),
        args.k,
    )
    rename = Renamer(task, train_rows, args.k, args.all_novel, args.made_up) if args.rename_all else None

    anon = None
    if args.anonymise:
        anon = Anonymiser(rename.ner if rename is not None else PassageNER(), args.k)
        anon.ner.annotate([h.text for _, _, hits in task.items for h in hits[: args.k]])

    clozes = None
    if args.clozes:
        if anon is None:
            raise SystemExit("--clozes needs --anonymise")
        from cbqa.reader.tasks import SENTINEL, ReadingTask

        clozes = ReadingTask(TaskConfig(name="reading", kind="reading", file=args.clozes), args.k)
        anon.ner.annotate([h.text for _, _, _, hits in clozes.items for h in hits[: args.k]])

    def draw_cloze() -> tuple[list[str], str] | None:
        """A cloze over a sentence of a QA-train subject's document, read over passages that state the span in other
        words where one does (`ReadingTask.context`), everything anonymised."""
        title, sentence, spans, hits = clozes.items[rng.randrange(len(clozes))]
        s0, e0, _ = spans[rng.randrange(len(spans))]
        span = sentence[s0:e0]
        question = f"{title}: {sentence[:s0]}{SENTINEL}{sentence[e0:]}"
        q2, shown, back = anon(question, clozes.context(sentence, span, hits), rng)
        target = next((ph for ph, name in back.items() if name == span), None)
        return (fid_inputs(q2, shown, args.k), target) if target else None

    def draw() -> Encoded:
        while True:  # (an answer cut off by truncation gives no target: draw again)
            i = rng.randrange(len(task))
            if clozes is not None and rng.random() < args.cloze_share:
                got = draw_cloze()
                if got is None:
                    continue
                texts, target = got
            elif anon is not None:
                question, answers, hits = task.items[i]
                q2, shown, back = anon(question, hits, rng)
                target = next((ph for ph, name in back.items() if name in answers), None)
                if target is None:  # the answer is no entity spaCy found: no placeholder to point at
                    continue
                texts = fid_inputs(q2, shown, args.k)
            elif rename is not None and rng.random() < args.rename_all:
                question, answers, hits = task.items[i]
                shown, target = rename(question, answers[0], hits, rng)
                texts = fid_inputs(question, shown, args.k)
            else:
                ex = task.example(i, rng)
                texts, target = list(ex.passages), ex.target_text
            item = encode(tok, texts, args.max_len, [target])
            if item.starts:
                return item

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / args.steps)
    t0 = time.time()
    model.train()
    for step in range(args.steps):
        t = collate([draw() for _ in range(args.batch)], tok.pad_token_id, args.k)
        loss = span_loss(*model(t["ids"], t["mask"], t["flags"]), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f} s", flush=True)
    train_s = time.time() - t0
    model.eval()
    labels = {str(r["id"]): r["labels"] for _, r in read_jsonl(run / "world" / "overlap_gold.jsonl")}
    em: dict[str, list[float]] = defaultdict(list)
    renamed_em: dict[str, list[float]] = defaultdict(list)
    test_rows = [r for _, r in read_jsonl(rd / "test.jsonl")]
    if args.eval_renamed:
        renamer = rename or Renamer(task, train_rows, args.k, args.all_novel, args.made_up)
        renamer.ner.annotate([h.text for r in test_rows for h in hits_of(r)[: args.k]])
    typed_em: dict[str, list[float]] = defaultdict(list)
    if args.typed:
        ner = rename.ner if rename is not None else anon.ner if anon is not None else PassageNER()  # one spaCy pipeline
        ner.annotate([h.text for r in test_rows for h in hits_of(r)[: args.k]])
    dump = []
    if anon is not None:
        anon.ner.annotate([h.text for r in test_rows for h in hits_of(r)[: args.k]])
    for r in test_rows:
        if anon is not None:
            q2, shown, back = anon(r["question"], hits_of(r), rng)
            item = encode(tok, fid_inputs(q2, shown, args.k), args.max_len)
            pred = best_span(model, item, tok.pad_token_id, args.k)
            pred = back.get(pred.strip(), pred)
        else:
            item = encode(tok, fid_inputs(r["question"], hits_of(r), args.k), args.max_len)
            pred = best_span(model, item, tok.pad_token_id, args.k)
        for label in labels.get(str(r["id"]), ["total"]):
            em[label].append(max_em(pred, r["answers"]))
        dump.append({"id": r["id"], "question": r["question"], "answers": r["answers"], "prediction": pred})
        if args.typed:
            picked = best_candidate(model, item, hits_of(r), r["question"], ner, tok.pad_token_id, args.k)
            for label in labels.get(str(r["id"]), ["total"]):
                typed_em[label].append(max_em(picked, r["answers"]))
            dump[-1]["typed_prediction"] = picked
        if args.eval_renamed:
            shown, target = renamer(r["question"], r["answers"][0], hits_of(r), rng)
            if target != r["answers"][0]:  # only questions whose answer was renamed
                p2 = best_span(
                    model, encode(tok, fid_inputs(r["question"], shown, args.k), args.max_len), tok.pad_token_id, args.k
                )
                for label in labels.get(str(r["id"]), ["total"]):
                    renamed_em[label].append(max_em(p2, [target]))
                dump[-1].update(renamed_answer=target, renamed_prediction=p2)
    if args.dump:
        args.dump.write_text("".join(json.dumps(d) + "\n" for d in dump))
    print(
        json.dumps(
            {
                "args": vars(args) | {"dump": str(args.dump)},
                "train_s": round(train_s),
                "em": {k: round(100 * sum(v) / len(v), 1) for k, v in em.items()},
                "typed_em": {k: round(100 * sum(v) / len(v), 1) for k, v in typed_em.items()},
                "renamed_em": {k: f"{100 * sum(v) / len(v):.1f} (n={len(v)})" for k, v in renamed_em.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
