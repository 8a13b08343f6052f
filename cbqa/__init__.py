"""cbqa: closed-book question answering with T5, salient span masking, retrieval and overlap analysis."""

__version__ = "0.1.0"
