"""The core every other layer stands on; it imports nothing of the project outside itself.

errors.py      CbqaError / DataError: what the CLI prints as one line (exit 2)
io.py          atomic files and directories (temp + fsync + rename, versioned swaps), fingerprints
progress.py    the one progress bar of every long-running command
metrics.py     answer normalisation and EM / F1
formats/       the JSON Lines contracts: corpus, QA, predictions (and line-checked JSONL reading)
shards.py      memory-mapped Arrow IPC shards: the row store under spans stores and passage stores
ray_engine.py  the Ray Data engine that `cbqa ner` and `cbqa index` share on a cluster
"""
