"""Masking policy registry: build a policy by name with options (from YAML or the CLI).

    policy = make_policy("ssm", exclude_labels=["PERSON"])
    example = policy(span_doc, random.Random(seed))        # MaskedExample or None

Policies: ssm, typed_ssm, ssm_all, ssm_t5cbqa, span_corruption, mixture. All are pure functions of the document
and the rng, so the collator re-masks each epoch by calling them afresh. `ssm_t5cbqa` is Roberts et al.'s own format
(`nem: ` + the sentence with `_X_` for the span; the span as the target), one training item per salient span.

Presets name a policy with options, defined once here: `ssm_title_sentence` is the SSM recipe of the demo
(`cbqa demo`, configs/pretrain_ssm.yaml, `cbqa fill-in`'s default), so `policy: ssm_title_sentence` in a config
and `make_policy("ssm_title_sentence")` mean exactly that; `span_corruption_t5cbqa` is T5 span corruption of one
sentence at a time, the baseline t5_closed_book_qa runs over the sentences SSM reads. Options given with a preset
override its own.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from cbqa.core.errors import CbqaError
from ner_masking.masked import MaskedExample, Policy, sentinel
from ner_masking.span_corruption import SpanCorruption
from ner_masking.ssm import SSM, SSMT5CBQA, SSMAll, TypedSSM
from ner_masking.store import SpanDoc

__all__ = [
    "POLICY_NAMES",
    "PRESETS",
    "MaskedExample",
    "Mixture",
    "Policy",
    "PolicyConfig",
    "make_policy",
    "parse_option",
    "sentinel",
    "with_token_budget",
]


def _parse_weights(value: Any) -> list[dict[str, Any]]:
    """`{"ssm": 0.8, "span_corruption": 0.2}` or the CLI form "ssm:0.8,span_corruption:0.2"."""
    if isinstance(value, str):
        pairs = [part.split(":", 1) for part in value.split(",") if part.strip()]
        if any(len(p) != 2 for p in pairs):
            raise CbqaError(f"weights must look like ssm:0.8,span_corruption:0.2, got {value!r}")
        value = {name.strip(): w for name, w in pairs}
    if not isinstance(value, Mapping):
        raise CbqaError(f"weights must map policy names to weights, got {value!r}")
    return [{"policy": name, "weight": w} for name, w in value.items()]


@dataclass(frozen=True)
class Mixture:
    """Sample one component policy per example, by weight. If the sampled policy has nothing to mask
    in a document (e.g. SSM on a document without spans), the other components are tried in listed
    order, so a mixture with span_corruption never drops a document with text.

    components: [{"policy": "ssm", "weight": 0.8, "options": {...}}, ...], or the shorthand
    weights: {"ssm": 0.8, "span_corruption": 0.2}. Default: 50/50 ssm and span_corruption.
    """

    components: tuple[Mapping[str, Any], ...] = ()
    weights: Any = None
    _built: tuple[tuple[float, Policy], ...] = field(init=False, repr=False, compare=False)

    name = "mixture"

    def __post_init__(self) -> None:
        specs = list(self.components) + (_parse_weights(self.weights) if self.weights is not None else [])
        if not specs:
            specs = [{"policy": "ssm", "weight": 1.0}, {"policy": "span_corruption", "weight": 1.0}]
        built = []
        for spec in specs:
            if not isinstance(spec, Mapping) or "policy" not in spec:
                raise CbqaError(f"mixture component must be a mapping with 'policy', got {spec!r}")
            if spec["policy"] == "mixture":
                raise CbqaError("a mixture cannot contain a mixture")
            weight = float(spec.get("weight", 1.0))
            if weight <= 0:
                raise CbqaError(f"mixture weight must be > 0, got {weight} for {spec['policy']}")
            built.append((weight, make_policy(spec["policy"], **dict(spec.get("options") or {}))))
        object.__setattr__(self, "_built", tuple(built))

    @property
    def policies(self) -> tuple[Policy, ...]:
        """The component policies, in listed order."""
        return tuple(p for _, p in self._built)

    def __call__(self, doc: SpanDoc, rng: random.Random) -> MaskedExample | None:
        weights = [w for w, _ in self._built]
        first = rng.choices(range(len(self._built)), weights=weights)[0]
        order = [first, *(i for i in range(len(self._built)) if i != first)]
        for i in order:
            example = self._built[i][1](doc, rng)
            if example is not None:
                return example
        return None


_REGISTRY: dict[str, type] = {
    "ssm": SSM,
    "typed_ssm": TypedSSM,
    "ssm_all": SSMAll,
    "ssm_t5cbqa": SSMT5CBQA,
    "span_corruption": SpanCorruption,
    "mixture": Mixture,
}

# name -> (policy, options). `ssm_title_sentence`: one salient span masked in its sentence, shown after the
# paragraph's title (over half the toy world's sentences name their subject only as "She" or by surname, and the
# title says whose fact is masked); person names are not candidates (questions name the person and ask for an
# attribute). Why this recipe: docs/notes/2026-11-26-ssm-recipe.md.
PRESETS: Mapping[str, tuple[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "ssm_title_sentence": (
            "ssm",
            MappingProxyType({"exclude_labels": ("PERSON",), "context": "sentence", "title": True}),
        ),
        "span_corruption_t5cbqa": ("span_corruption", MappingProxyType({"context": "sentence"})),
    }
)
POLICY_NAMES: tuple[str, ...] = (*_REGISTRY, *PRESETS)


def preset_options(name: str) -> dict[str, Any]:
    """A preset's options as a fresh dict (lists, as YAML would give them)."""
    return {k: list(v) if isinstance(v, tuple) else copy.deepcopy(v) for k, v in PRESETS[name][1].items()}


# Set by training from the model's tokenizer (`with_token_budget`), not options a config or the CLI gives.
RUNTIME_FIELDS = frozenset({"max_tokens", "max_target_tokens", "tokens_of"})


def policy_options(name: str) -> list[str]:
    """The option names a policy (or the policy of a preset) accepts."""
    base = PRESETS[name][0] if name in PRESETS else name
    return [f.name for f in fields(_REGISTRY[base]) if f.init and f.name not in RUNTIME_FIELDS]


def with_token_budget(policy: Policy, tokens_of: Any, max_tokens: int, max_target_tokens: int | None = None) -> Policy:
    """A copy of `policy` whose inputs never take more than `max_tokens` tokens of `tokens_of`'s tokenizer (see SSM
    and SpanCorruption), nor span corruption's targets more than `max_target_tokens`; a mixture gets the budget in
    each component."""
    if isinstance(policy, Mixture):
        built = tuple((w, with_token_budget(p, tokens_of, max_tokens, max_target_tokens)) for w, p in policy._built)
        copy_ = dataclasses.replace(policy)
        object.__setattr__(copy_, "_built", built)
        return copy_
    names = {f.name for f in fields(policy)}
    if "max_tokens" not in names:
        return policy
    extra = {"max_target_tokens": max_target_tokens} if "max_target_tokens" in names else {}
    return dataclasses.replace(policy, max_tokens=max_tokens, tokens_of=tokens_of, **extra)


def make_policy(name: str, **options: Any) -> Policy:
    """Build a policy by name; unknown names or options raise a CbqaError that lists the valid ones."""
    if name in PRESETS:
        return make_policy(PRESETS[name][0], **{**preset_options(name), **options})
    if name not in _REGISTRY:
        raise CbqaError(f"unknown masking policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
    valid = policy_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise CbqaError(f"policy {name!r} has no option(s) {', '.join(unknown)}; it takes {', '.join(valid)}")
    return _REGISTRY[name](**options)


@dataclass
class PolicyConfig:
    """How a data module names its policy in YAML: `policy: ssm` + `policy_options: {labels: [DATE]}`."""

    policy: str = "ssm"
    policy_options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Policy:
        return make_policy(self.policy, **self.policy_options)


def parse_option(item: str) -> tuple[str, Any]:
    """CLI `key=value`: the value is read as JSON when it parses (numbers, true, [..], {..}), else kept
    as a string (policies read "DATE,GPE" as a label list and "ssm:0.8,span_corruption:0.2" as weights)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise CbqaError(f"--option expects key=value, got {item!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value
