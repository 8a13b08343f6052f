"""Where a T5 comes from and how it answers: the model layer, above the core and the two packages.

tokenizer.py   a sentencepiece T5 tokenizer trained on a corpus (sentinels looked up by token)
loading.py     a hub name, a local HF directory, a cbqa run directory, or a small config + tokenizer
inference.py   batched answers (greedy or beam) and teacher-forced answer scores
"""
