"""The study's settings and its pretraining variants.

A study runs on the user's corpus and questions (`cbqa study`) or on the generated toy world (`cbqa demo`, where
`corpus` is None): the same stages, outputs and report either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cbqa.core.errors import CbqaError

READERS = ("fid", "concat")
# Sizes of a T5 built from a config (no checkpoint): the demo's ~1M-parameter model, and one of t5-small's size.
ARCHS: dict[str, dict[str, Any]] = {
    "tiny": {},  # cbqa.model.loading.T5Arch's defaults: d_model 128, 2+2 layers, 4 heads (~1M parameters)
    "small": {"d_model": 512, "d_ff": 2048, "num_layers": 6, "num_decoder_layers": 6, "num_heads": 8, "d_kv": 64},
}

# Each variant's objective. The masked variants pretrain on it alone, then fine-tune on closed-book QA mixed with the
# same objective in every batch (T5 multi-task fine-tuning, examples-proportional), so the facts stored during
# pretraining are not forgotten while the model learns the QA format. "none" trains on QA alone for the same total
# number of steps. Why this recipe (and not pure mixing, or pretrain-then-QA): docs/notes/2026-11-26-ssm-recipe.md.
VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,  # closed-book QA only
    # T5's objective (noise density 0.15, mean span 3) over a random 16-word window of the paragraph: T5 corrupts
    # fixed-length chunks, and 16 words keeps this variant's inputs as long as SSM's title + sentence (~21 tokens
    # with the demo's tokenizer; 32 words made them 2.5 times as long, and its pretraining twice as slow).
    "span_corruption": {"policy": "span_corruption", "policy_options": {"max_units": 16}},
    # The SSM recipe, defined once as a preset in ner_masking.policies.PRESETS.
    "ssm": {"policy": "ssm_title_sentence"},
}


@dataclass
class StudyConfig:
    out: str = "runs/demo"
    seed: int = 0  # the toy world's seed, and the training seed unless `train_seed` is given
    train_seed: int | None = None  # training (data order, masks, initialisation, dropout) of every stage
    people: int = 100
    # The user's data (`cbqa study`); None: generate the toy world. QA files: one with a `split` field (train / dev /
    # test), or three files, or one split here by `split_seed` (`cbqa.demo.inputs`).
    corpus: str | None = None
    qa: tuple[str, ...] = ()
    split_seed: int | None = None
    gold_overlap: str | None = None  # overlap labels known to be true (the toy world's), by test question id
    # Start every variant from this T5 (hub name or local directory: its tokenizer too); None: build one sized by
    # `arch` with a tokenizer trained on the corpus.
    model: str | None = None
    vocab_size: int = 800
    # Stages that can run side by side do, in this many lanes; every training and prediction runs on `threads` torch
    # threads whatever the lanes, so the results do not depend on them (docs/study.md).
    lanes: int = 2
    threads: int = 1
    variants: tuple[str, ...] = ("none", "span_corruption", "ssm")
    # Every variant trains pretrain_steps + steps optimizer steps.
    pretrain_steps: int = 800  # masked objective alone, lr `lr`
    steps: int = 400  # fine-tuning: QA + the objective, lr `finetune_lr`
    batch_size: int = 64
    lr: float = 2e-3
    finetune_lr: float = 1e-3
    val_every: int = 50
    arch: dict[str, int] = field(default_factory=dict)  # T5Arch overrides; default: the ~1M-parameter model
    retrieval: bool = True
    # The open-book reader: fid (Fusion-in-Decoder over the top reader_passages passages, trained on QA-train's
    # questions over their retrieved passages, optionally mixed with reading examples made from the spans store) or
    # concat (the one-passage reader: the question and its top passage in one input string, trained on QA-train alone).
    reader: str = "fid"
    # Two passages: hybrid top 1 holds the answer for 98.9% of test questions, and the second is most often another
    # paraphrase of the same document; a third costs 1.5x per step for no gain in the 180 s budget
    # (docs/notes/2026-12-02-demo-reader.md).
    reader_passages: int = 2
    reader_max_input_len: int = 128  # tokens of each passage input (fid) or of the whole input (concat)
    # 300 steps: over five runs (three training seeds, two other worlds) the reader scored as well as at 500 on
    # average, and the study's longest chain (SSM, then the reader) ends with the other lane
    # (docs/notes/2026-12-07-demo-reader-steps.md).
    reader_steps: int = 300
    reader_batch_size: int = 32
    # The reader's hf/ holds its final weights, not the best by dev EM: on the demo's 72 dev questions (1.4 points
    # each) that choice fell on an undertrained step 200 of 500, 10 test points under the final model's
    # (docs/notes/2026-12-07-reader-export.md).
    reader_export: str = "last"
    reader_lr: float = 2e-3
    # fid: entities of the passages shown as per-example placeholders (<extra_id_7>) in training, validation and
    # prediction, the answer mapped back (`cbqa.reader.anonymise`, Hermann et al. 2015): the reader learns where answers sit,
    # not which strings are answers, and reads held-out entities' names no worse than trained ones. The demo's earlier
    # real-name reader (300 steps, top 3, clozes mixed in) scored 0.0 EM on `no_overlap`.
    reader_anonymise: bool = True
    # fid + anonymise: placeholders numbered in order of first mention within each kind (`cbqa.reader.anonymise`): 63.6 total
    # EM at 500 steps against 55.0 with numbers drawn afresh per example ("random"; plain pointer,
    # docs/notes/2026-12-02-demo-reader.md).
    reader_numbering: str = "order"
    # fid: a pointer-generator copy head (`cbqa.reader.copy_head`) over the tokens of all the passages.
    reader_pointer: bool = True
    # its keys read the encoder states of the 4 tokens before and 1 after each position (`cbqa.reader.copy_head`): the demo's
    # small encoder leaves "studied at" out of the state of the placeholder that follows it
    # (docs/notes/2026-12-02-demo-reader.md).
    reader_copy_window: tuple[int, int] = (4, 1)
    # fid: mix reading examples (clozes over spans-store sentences of the documents about QA-train's subjects, read
    # over the passages retrieved for each sentence) into the reader's training. Off: with anonymisation, QA-train
    # alone teaches reading faster (docs/notes/2026-12-02-demo-reader.md: 45.7 vs 20.7 no_overlap EM at 300 steps).
    reader_clozes: bool = False
    reading_k: int = 5  # passages retrieved per reading-example sentence
    # Probability that a reading example's span is swapped, in the passages and the target, for another span of its
    # label (counterfactual augmentation: the SSM-started reader could answer an unswapped cloze from memory).
    reading_swap: float = 1.0
    # Keep the sentence's own passage among those read (the cloze then matches a sentence of a passage, with the span
    # swapped: the copying skill is learnt first; the QA questions teach reading a fact in another wording).
    reading_keep_source: bool = True
    encoder: str = "default"

    @property
    def training_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise CbqaError(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
        if self.reader not in READERS:
            raise CbqaError(f"unknown reader {self.reader!r}; choose from {', '.join(READERS)}")
        if self.corpus is None and (self.qa or self.gold_overlap):
            raise CbqaError("QA files and gold overlap labels come with a corpus (--corpus)")
        if self.corpus is not None and not self.qa:
            raise CbqaError("a study of your corpus needs its questions: --qa FILE (with a split field) or three files")
        if self.lanes < 1 or self.threads < 1:
            raise CbqaError(f"lanes and threads must be >= 1, got {self.lanes} and {self.threads}")
