"""Data contracts: corpus, QA and prediction files (JSON Lines, UTF-8)."""

from cbqa.data.corpus import Document, read_corpus, write_corpus
from cbqa.data.predictions import Prediction, read_predictions, write_predictions
from cbqa.data.qa import QAExample, read_qa, write_qa

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
