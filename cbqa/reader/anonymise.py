"""Entity anonymisation for readers (Hermann et al. 2015, "Teaching Machines to Read and Comprehend").

Every spaCy entity of the passages a reader is shown becomes a placeholder numbered for each example
(`Berlin` -> `<extra_id_7>`, `Ada Lovelace` -> `<extra_id_41>`), the same in every passage, the titles and the
question. A name then carries nothing the reader could have stored, so it has to find *where* the asked fact sits
instead of recalling *which string* answers it; the answer it generates is a placeholder, mapped back to the name.

The placeholders are T5's sentinel tokens 1-99 (`<extra_id_0>` stays the cloze blank of the reading task), Hermann et
al.'s `@entity7` markers: one token each, so an answer is one token to point at and a passage is no longer for them
(`PERSON33` would be 9 word pieces with the demo's tokenizer). Each kind of entity has its own range of them
(`KINDS`: people 1-24, places 25-49, other names 50-74, dates and numbers 75-99). Decode a reader's output with `decode_keeping_sentinels`.

One entity, one placeholder: a trailing possessive is not part of a name (spaCy sometimes takes `Ada Berg's` as
the entity), and a one-word PERSON mention that is the surname of exactly one longer PERSON name of the example
stands for that person (`Berg` in `Berg studied at ...` after `Ada Berg`: the coreference Hermann et al. resolve
before numbering, in the one case that needs no coreference model).

Numbering (`NUMBERINGS`): `random` draws each kind's numbers afresh for every example, as Hermann et al. do; `order`
numbers each kind's entities in the order they are first mentioned (the first place of the passages is
`<extra_id_25>`, the second `<extra_id_26>`, ...), as semantic parsers number anonymised entities (Dong & Lapata
2016: `ci0`, `ci1`). A number then still says nothing about which name it stands for, but a placeholder's embedding
means the same thing ("the first place mentioned") in every example, instead of being noise the reader must learn to
ignore; on the demo's world a 500-step reader gets 63.6 total EM with it against 55.0
(docs/notes/2026-12-02-demo-reader.md).

Why the project needs it: a small reader trained on a few hundred questions learns the training answers' strings and
reads the real names of held-out entities badly (docs/notes/2026-12-02-demo-reader.md).

The same `Anonymiser` is used to train (`--data.reader.anonymise true`), to validate, and to predict (the reader run records
`anonymise` in `reader_input.json`), so training and test inputs look alike.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cbqa.reader.floor import PassageNER, strip_possessive
from cbqa.reader.inputs import check_numbering
from retrieval_baseline.hits import Hit

PLACEHOLDER = re.compile(r"<extra_id_\d+>")
# The sentinels of each kind of entity: a placeholder's number says what kind of thing it stands for (as Hermann et
# al.'s markers do not, and `GPE7` did in the span probe), so "Who ...?" can be answered among the people of the
# passages; within a kind, numbers are drawn without replacement for each example.
KINDS: dict[str, range] = {
    "person": range(1, 25),
    "place": range(25, 50),
    "thing": range(50, 75),
    "quantity": range(75, 100),
}
KIND_OF = {
    "PERSON": "person",
    "NORP": "person",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "DATE": "quantity",
    "TIME": "quantity",
    "PERCENT": "quantity",
    "MONEY": "quantity",
    "QUANTITY": "quantity",
    "ORDINAL": "quantity",
    "CARDINAL": "quantity",
}  # (any other label, ORG, PRODUCT, EVENT, WORK_OF_ART, ...: thing)


def decode_keeping_sentinels(tok: Any, sequences: Any) -> list[str]:
    """Generated ids as text with the sentinel tokens kept (`batch_decode(skip_special_tokens=True)` drops them, and
    with them an anonymised reader's answer); only padding and end-of-sequence are removed."""
    drop = {tok.pad_token_id, tok.eos_token_id}
    return [
        tok.decode([i for i in seq if i not in drop], skip_special_tokens=False).strip() for seq in sequences.tolist()
    ]


def replacer(names: dict[str, str]) -> Callable[[str], str]:
    """text -> text with every whole-word occurrence of a key of `names` replaced by its value (longest key first, so
    `New York City` wins over `New York`)."""
    if not names:
        return lambda text: text
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in sorted(names, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: names[m.group(0)], text)


@dataclass(frozen=True)
class Anonymised:
    """A question and its passages with entities replaced; `names` maps each placeholder back to its name."""

    question: str
    hits: list[Hit]
    names: dict[str, str] = field(default_factory=dict)

    def restore(self, text: str) -> str:
        """`text` (a reader's answer) with every placeholder of this example replaced by the name it stands for."""
        return PLACEHOLDER.sub(lambda m: self.names.get(m.group(0), m.group(0)), text) if self.names else text

    def in_question(self) -> list[str]:
        """The placeholders the question names (its own subject, as a rule): never the answer to it."""
        return list(dict.fromkeys(m for m in PLACEHOLDER.findall(self.question) if m in self.names))

    def forward(self) -> Callable[[str], str]:
        """name -> placeholder over a text (e.g. a gold answer or a candidate to score)."""
        return self._forward

    @cached_property
    def _forward(self) -> Callable[[str], str]:  # (one regex per example, not per call)
        return replacer({name: ph for ph, name in self.names.items()})

    def answers(self, answers: Sequence[str]) -> tuple[str, ...]:
        """The gold answers as this example's reader sees them: each answer that is a replaced name as its
        placeholder (first), then the answers as given (an answer spaCy did not find stays a string to copy)."""
        fill = self.forward()
        return tuple(dict.fromkeys([fill(a) for a in answers] + list(answers)))


class Anonymiser:
    """Replaces the entities of a question's top-k passages by per-example placeholders (see the module doc)."""

    def __init__(
        self, ner: PassageNER | None = None, spacy_model: str | None = None, numbering: str = "random"
    ) -> None:
        self.ner, self.numbering = ner or PassageNER(spacy_model), check_numbering(numbering)

    def annotate(self, hits: Sequence[Hit]) -> None:
        """Run spaCy once over many passages (each distinct text once) before examples are drawn."""
        self.ner.annotate([h.text for h in hits])

    def __call__(self, question: str, hits: Sequence[Hit], rng: random.Random) -> Anonymised:
        mentions = [
            (strip_possessive(h.text[s:e]), label) for h in hits for s, e, label, _ in self.ner.entities(h.text)
        ]
        alias = surname_aliases(mentions)
        placeholder: dict[str, str] = {}  # name (or alias) -> placeholder
        names: dict[str, str] = {}  # placeholder -> name
        # numbers are taken from the end of each list: drawn at random, or in order of first mention
        free = {
            kind: rng.sample(numbers, len(numbers)) if self.numbering == "random" else list(reversed(numbers))
            for kind, numbers in KINDS.items()
        }
        for mention, label in mentions:
            name = alias.get(mention, mention)
            numbers = free[KIND_OF.get(label, "thing")]
            if name not in placeholder and name and not PLACEHOLDER.search(name) and numbers:
                placeholder[name] = f"<extra_id_{numbers.pop()}>"
                names[placeholder[name]] = name
        placeholder |= {short: placeholder[name] for short, name in alias.items() if name in placeholder}
        fill = replacer(placeholder)
        shown = [Hit(h.id, fill(h.title), fill(h.text), h.score) for h in hits]
        return Anonymised(fill(question), shown, names)


def surname_aliases(mentions: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One-word PERSON mentions that are the last word of exactly one longer PERSON name of the example, mapped to it
    (`Berg` -> `Ada Berg`): the within-document coreference Hermann et al. resolve before numbering entities, reduced
    to the case that is unambiguous without a coreference model. A passage's `Berg's alma mater is ...` then names
    the same placeholder as the question's `Ada Berg`."""
    full = {name for name, label in mentions if label == "PERSON" and len(name.split()) > 1}
    by_last: dict[str, set[str]] = {}
    for name in full:
        by_last.setdefault(name.split()[-1], set()).add(name)
    return {
        name: next(iter(by_last[name]))
        for name, label in mentions
        if label == "PERSON" and len(name.split()) == 1 and len(by_last.get(name, ())) == 1
    }


def example_rng(question: str, seed: int = 0) -> random.Random:
    """The placeholder numbering of a question at test time: fixed by the question text (a str seed is hashed with
    SHA-512, the same in every process), so predictions are reproducible."""
    return random.Random(f"{seed}:{question}")
