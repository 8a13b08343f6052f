"""Data contracts: corpus, QA and prediction files (JSON Lines, UTF-8)."""

from cbqa.core.formats.corpus import Document, read_corpus, write_corpus
from cbqa.core.formats.predictions import Prediction, read_predictions, write_predictions
from cbqa.core.formats.qa import QAExample, read_qa, write_qa

__all__ = [
    "Document",
    "Prediction",
    "QAExample",
    "read_corpus",
    "read_predictions",
    "read_qa",
    "write_corpus",
    "write_predictions",
    "write_qa",
]
