"""One colour per system or run, the same on every page and chart (a paper's figures need that).

A name is matched to the variant it belongs to, so `closed_book_ssm`, `models/ssm` and `pretrain/ssm` share SSM's
colour; any other name gets a colour from its hash, so it too is the same wherever it appears."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import altair as alt

# Tableau 10, by variant; the most specific key first (span_corruption before ssm, nearest_neighbour before none).
VARIANTS: tuple[tuple[str, str], ...] = (
    ("span_corruption", "#f58518"),
    ("nearest_neighbour_dense", "#b279a2"),
    ("nearest_neighbour_tfidf", "#ff9da6"),
    ("extractive", "#9d755d"),
    ("reader", "#54a24b"),
    ("retrieval", "#54a24b"),
    ("ssm", "#e45756"),
    ("none", "#4c78a8"),
)
OTHERS = ("#72b7b2", "#eeca3b", "#bab0ac", "#79706e", "#d67195", "#8cd17d", "#b6992d", "#499894", "#86bcb6", "#a0cbe8")


def color_for(name: str) -> str:
    key = name.lower()
    for variant, color in VARIANTS:
        if variant in key:
            return color
    return OTHERS[zlib.crc32(name.encode()) % len(OTHERS)]


def color_scale(names: Iterable[str]) -> alt.Scale:
    """An Altair scale that gives each of `names` its fixed colour."""
    domain = sorted(set(names))
    return alt.Scale(domain=domain, range=[color_for(n) for n in domain])
