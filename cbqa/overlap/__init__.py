"""Test-train overlap analysis (Lewis, Stenetorp & Riedel 2021): labels, detectors, per-category evaluation.

Light to import: the heavy libraries (scikit-learn, sentence-transformers, matplotlib) load only when used.
"""

from cbqa.overlap.categories import CATEGORIES, LABELS, category_for, labels_for
from cbqa.overlap.evaluation import evaluate_systems
from cbqa.overlap.gold_labels import compare_with_gold
from cbqa.overlap.labeller import OverlapConfig, label_overlap

__all__ = [
    "CATEGORIES",
    "LABELS",
    "OverlapConfig",
    "category_for",
    "compare_with_gold",
    "evaluate_systems",
    "label_overlap",
    "labels_for",
]
