"""Exposure of canaries (Carlini et al. 2019, section 4): how far up a model ranks a canary's true secret among all
candidates of its space R,

    exposure = log2 |R| - log2 rank(secret)        (0 for the least likely candidate ... log2 |R| for the first)

Candidates are ranked by the model's log-likelihood of `<extra_id_0> SECRET <extra_id_1>` (the target a masking
policy writes for one masked span) given the canary sentence with the secret replaced by `<extra_id_0>`.

- exact (|R| <= `exact_limit`): every candidate is scored; rank = 1 + the number scoring strictly higher.
- estimated (larger spaces), from `samples` candidates drawn uniformly from R:
  - `skewnorm` (the paper's extrapolation, section 4.3, and the reported exposure): a skew-normal distribution is
    fitted to the sampled candidates' negative log-likelihoods and exposure = -log2 CDF(secret's), floored at
    rank 1 (at most log2 |R|). It reaches beyond log2(samples), which is the point: a 10^5 space from 2,000 samples;
  - `sampled` (reported alongside): -log2((k + 1) / (samples + 1)) with k the sampled candidates at least as likely
    as the secret, the plain estimate of the rank's fraction; it cannot exceed log2(samples + 1).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.memorisation.canaries import Canary, CanaryFormat
from ner_masking.masked import sentinel

Scorer = Callable[[str, Sequence[str]], np.ndarray]  # (source, targets) -> log-likelihood of each target

DEFAULT_EXACT_LIMIT = 20_000
DEFAULT_SAMPLES = 2_000


def target_of(secret: str) -> str:
    return f"{sentinel(0)} {secret} {sentinel(1)}"


@dataclass(frozen=True)
class Exposure:
    exposure: float  # the reported value: exact, or the skew-normal estimate
    method: str  # exact | skewnorm
    log_likelihood: float  # of the true secret's target
    rank: int | None = None  # exact only
    sampled: float | None = None  # estimated only: the plain sample-fraction estimate
    samples: int | None = None


def exact_exposure(secret_score: float, scores: np.ndarray) -> tuple[float, int]:
    """(exposure, rank) from the scores of the whole space (the secret's own among them)."""
    rank = 1 + int(np.sum(scores > secret_score))
    return math.log2(len(scores)) - math.log2(rank), rank


def sampled_exposure(secret_score: float, sample_scores: np.ndarray) -> float:
    k = int(np.sum(sample_scores >= secret_score))
    return -math.log2((k + 1) / (len(sample_scores) + 1))


def skewnorm_exposure(secret_score: float, sample_scores: np.ndarray, space_size: int) -> float:
    """-log2 of the fitted probability that a random candidate is at least as likely as the secret, floored at 1/|R|."""
    from scipy.stats import skewnorm

    nll = -np.asarray(sample_scores, dtype=np.float64)
    if np.ptp(nll) == 0:  # a model that scores every candidate the same ranks nothing
        p = 1.0 if -secret_score >= nll[0] else 1.0 / space_size
    else:
        a, loc, scale = skewnorm.fit(nll)
        p = float(skewnorm.cdf(-secret_score, a, loc=loc, scale=scale))
    return -math.log2(min(1.0, max(p, 1.0 / space_size)))


def sample_candidates(fmt: CanaryFormat, secret: str, n: int, rng: random.Random) -> list[str]:
    """`n` distinct candidates other than `secret`, uniform over the space."""
    n = min(n, fmt.space_size - 1)
    skip = fmt.index(secret)
    picked: set[int] = set()
    while len(picked) < n:
        i = rng.randrange(fmt.space_size)
        if i != skip:
            picked.add(i)
    return [fmt.secret(i) for i in sorted(picked)]


def canary_exposure(
    score: Scorer,
    fmt: CanaryFormat,
    canary: Canary,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> Exposure:
    source = fmt.masked(canary.subject)
    if fmt.space_size <= exact_limit:
        secrets = list(fmt.all_secrets())
        scores = score(source, [target_of(s) for s in secrets])
        own = float(scores[fmt.index(canary.secret)])
        value, rank = exact_exposure(own, scores)
        return Exposure(value, "exact", own, rank=rank)
    if samples < 10:
        raise CbqaError(f"--samples must be >= 10 to estimate exposure, got {samples}")
    candidates = sample_candidates(fmt, canary.secret, samples, random.Random(f"{seed}:{canary.id}"))
    scores = score(source, [target_of(canary.secret), *(target_of(c) for c in candidates)])
    own, rest = float(scores[0]), scores[1:]
    return Exposure(
        skewnorm_exposure(own, rest, fmt.space_size),
        "skewnorm",
        own,
        sampled=sampled_exposure(own, rest),
        samples=len(rest),
    )


# -- salience: does the NER pass mark the secret? ------------------------------------------------------------------


def secret_salience(canary: Canary, store: Any | None) -> tuple[str, list[str]]:
    """("salient" | "not salient" | "unknown", labels) — salient when a salient span of the spans store of the
    canaried corpus overlaps the secret in at least one inserted copy. Never-inserted canaries and runs without a
    store are "unknown"."""
    if store is None or not canary.insertions:
        return "unknown", []
    labels: set[str] = set()
    for ins in canary.insertions:
        if ins.row >= len(store):
            raise CbqaError(
                f"spans store has {len(store)} documents, canary {canary.id} was inserted in row {ins.row}: "
                "is it the store of the canaried corpus?"
            )
        doc = store.doc(ins.row)
        if doc.id != ins.doc_id:
            raise CbqaError(
                f"spans store row {ins.row} is document {doc.id!r}, canary {canary.id} was inserted in "
                f"{ins.doc_id!r}: the store is not of the canaried corpus"
            )
        labels |= {lab for s, e, lab in doc.spans if s < ins.secret_end and ins.secret_start < e}
    return ("salient" if labels else "not salient"), sorted(labels)


# -- summaries -----------------------------------------------------------------------------------------------------


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean exposure per (model, repeats, salience), and per (model, repeats) over all canaries ("all")."""
    groups: dict[tuple[str, int, str], list[float]] = {}
    for r in rows:
        for sal in (r["salience"], "all"):
            groups.setdefault((r["model"], r["repeats"], sal), []).append(r["exposure"])
    return [
        {
            "model": m,
            "repeats": rep,
            "salience": sal,
            "n": len(v),
            "mean_exposure": round(float(np.mean(v)), 3),
            "min": round(float(np.min(v)), 3),
            "max": round(float(np.max(v)), 3),
        }
        for (m, rep, sal), v in sorted(groups.items())
    ]


def exposure_row(model: str, canary: Canary, salience: str, labels: list[str], e: Exposure) -> dict[str, Any]:
    return {
        "model": model,
        "canary": canary.id,
        "subject": canary.subject,
        "repeats": canary.repeats,
        "salience": salience,
        "labels": labels,
        **{k: v for k, v in asdict(e).items() if v is not None},
    }


def plot_exposure(summary: Sequence[dict[str, Any]], space_size: int, path: Any) -> None:
    """Mean exposure against repeat count: one colour per model, one line style per salience group of the inserted
    canaries, each line starting from the model's never-inserted canaries (repeats 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cbqa.core.io import atomic_path

    styles = {"salient": "-", "not salient": "--", "unknown": ":"}
    repeats = sorted({s["repeats"] for s in summary})
    x = {r: i for i, r in enumerate(repeats)}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for mi, model in enumerate(sorted({s["model"] for s in summary})):
        mine = [s for s in summary if s["model"] == model]
        base = [(0, s["mean_exposure"]) for s in mine if s["repeats"] == 0 and s["salience"] == "all"]
        for sal in sorted({s["salience"] for s in mine if s["repeats"] > 0} - {"all"}):
            pts = base + sorted(
                (s["repeats"], s["mean_exposure"]) for s in mine if s["repeats"] > 0 and s["salience"] == sal
            )
            ax.plot(
                [x[r] for r, _ in pts],
                [v for _, v in pts],
                styles.get(sal, "-"),
                marker="o",
                color=colours[mi % len(colours)],
                label=f"{model} ({sal})",
            )
    ax.axhline(math.log2(space_size), color="grey", linewidth=0.8)
    ax.set_xticks(range(len(repeats)), [str(r) for r in repeats])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("times the canary is in the corpus (0: never inserted)")
    ax.set_ylabel("mean exposure (bits)")
    ax.set_title(f"canary exposure (|R| = {space_size:,}; grey: the maximum, log2 |R|)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
