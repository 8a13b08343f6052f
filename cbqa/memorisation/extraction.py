"""Training-data extraction (Carlini et al. 2021, adapted to T5's masked objective): sample from a model, rank the
samples by how memorised they look, and check the top of each ranking against the corpus.

- Prompts: T5 only writes text for sentinels, so a prompt is either a lone sentinel `<extra_id_0>` (the model writes
  whatever it likes) or the first `prefix_words` words of a random corpus document followed by ` <extra_id_0>` (it
  continues that document). The sample is the generated text only, sentinels dropped: a prompt's own words never
  count as extracted.
- Rankings, lowest first: `perplexity` (log-perplexity of the sample's tokens given its prompt) and `zlib` (the
  paper's ratio: log-perplexity / zlib entropy, the bits of the zlib-compressed sample), which demotes repetitive
  and templated text that is merely likely.
- Memorised: at least 8 consecutive words of the sample (`\\w+` words, any case) occur in exactly one training
  document (`shingles.ShingleIndex`), and that stretch of the document contains a whole salient span of the spans
  store; templated text makes shorter or widespread matches meaningless. Samples of fewer than 8 words cannot count
  and are not ranked.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cbqa.memorisation.shingles import SHINGLE, ShingleIndex, find_words, words_with_offsets
from ner_masking.masked import sentinel, unmask

RANKINGS = ("perplexity", "zlib")


@dataclass
class Sample:
    prompt: str
    target: str  # what the model generated, sentinels included (what is scored)
    text: str  # the generated text, sentinels dropped
    log_ppl: float = math.nan
    zlib_bits: int = 0
    memorised: bool = False
    matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def zlib_ratio(self) -> float:
        return self.log_ppl / self.zlib_bits if self.zlib_bits else math.inf


def zlib_bits(text: str) -> int:
    return 8 * len(zlib.compress(text.encode("utf-8")))


def prefix_prompt(text: str, n_words: int) -> str | None:
    words = text.split()
    if len(words) <= n_words:
        return None
    return " ".join(words[:n_words]) + f" {sentinel(0)}"


def reservoir(items: Any, k: int, rng: random.Random) -> list[Any]:
    """k items drawn uniformly from a stream, in one pass (Algorithm R)."""
    out: list[Any] = []
    for i, item in enumerate(items):
        if i < k:
            out.append(item)
        else:
            j = rng.randrange(i + 1)
            if j < k:
                out[j] = item
    return out


def memorised_matches(sample_text: str, index: ShingleIndex, doc_of: Any, n: int = SHINGLE) -> list[dict[str, Any]]:
    """The stretches of `sample_text` (>= n words) that occur in exactly one document and contain a whole salient span
    of it: {doc_id, row, text, labels}. `doc_of(row)` gives the document's SpanDoc."""
    words = [w for w, _, _ in words_with_offsets(sample_text)]
    out = []
    for row, lo, hi in index.unique_runs(words):
        doc = doc_of(row)
        doc_words = words_with_offsets(doc.text)
        # the run's shingles are all unique to this document; find the run (or the first of its windows) there ...
        found = next(
            (
                (a, b)
                for a, b in ((lo, hi), *((lo + k, lo + k + n) for k in range(hi - lo - n + 1)))
                if find_words(doc_words, words[a:b]) is not None
            ),
            None,
        )
        if found is None:
            continue
        a, b = found
        # ... and grow it while the longer stretch still occurs there (it holds a unique shingle: nowhere else)
        while a > 0 and find_words(doc_words, words[a - 1 : b]) is not None:
            a -= 1
        while b < len(words) and find_words(doc_words, words[a : b + 1]) is not None:
            b += 1
        s, e = find_words(doc_words, words[a:b])
        labels = sorted({lab for ss, se, lab in doc.spans if s <= ss and se <= e})
        if labels:
            out.append({"doc_id": doc.id, "row": row, "text": doc.text[s:e], "labels": labels})
    return out


def precision_at(samples: Sequence[Sample], key: str, ks: Sequence[int]) -> dict[str, Any]:
    ranked = sorted(samples, key=(lambda s: s.log_ppl) if key == "perplexity" else (lambda s: s.zlib_ratio))
    out = {}
    for k in ks:
        top = ranked[:k]
        out[str(k)] = {
            "k": len(top),
            "memorised": sum(s.memorised for s in top),
            "precision": round(sum(s.memorised for s in top) / len(top), 4) if top else None,
        }
    return {"precision_at_k": out, "top": [sample_json(s) for s in ranked[: max(ks, default=0)]]}


def sample_json(s: Sample) -> dict[str, Any]:
    d = asdict(s)
    d["log_ppl"] = round(s.log_ppl, 4)
    d["zlib_ratio"] = round(s.zlib_ratio, 6)
    return d


def clean_target(raw: str, pad: str, eos: str) -> str:
    return raw.replace(pad, " ").replace(eos, " ").strip()


def as_sample(prompt: str, target: str) -> Sample:
    text = " ".join(unmask(target).split())
    return Sample(prompt, target, text, zlib_bits=zlib_bits(text))
