"""Train a sentencepiece unigram model on a corpus and save it as a T5 tokenizer directory.

transformers 5 pitfall: `T5Tokenizer(vocab_file=..., extra_ids=100)` silently builds a broken tokenizer; going
through `convert_to_native_format` gives the real one. Sentinels are looked up by token string, never by arithmetic.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cbqa.core.errors import CbqaError
from cbqa.core.io import replace_dir, staging_dir
from ner_masking.masked import sentinel

EXTRA_IDS = 100


def train_tokenizer(
    texts: Iterable[str], out_dir: str | Path, vocab_size: int = 1000, extra_ids: int = EXTRA_IDS, seed: int = 0
) -> Path:
    """Train a unigram sentencepiece model (pad=0, eos=1, unk=2, like T5) and save a T5 tokenizer to `out_dir`."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "spiece"
        model = io.BytesIO()  # not model_prefix: the model would record that (random) temp path, and differ per run
        feed = _Feed(texts)
        try:
            _train(spm, feed, model, vocab_size)
        except RuntimeError:
            if feed.error is not None:  # sentencepiece wraps what the corpus reader raised: give the reader's line
                raise feed.error from None
            raise
        (prefix.parent / "spiece.model").write_bytes(model.getvalue())
        tok = T5Tokenizer(
            **T5Tokenizer.convert_to_native_format(vocab_file=str(prefix) + ".model", extra_ids=extra_ids)
        )
        staging = staging_dir(out_dir)
        try:
            tok.save_pretrained(staging)
            shutil.copy(str(prefix) + ".model", staging / "spiece.model")
            replace_dir(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return out_dir


def _train(spm, feed: _Feed, model: io.BytesIO, vocab_size: int) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(feed),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        # No byte_fallback: transformers' T5 converter drops it, so byte pieces would only waste vocabulary.
        # A small corpus may not support the requested size; take what it supports instead of failing.
        hard_vocab_limit=False,
        num_threads=1,  # deterministic output for a given corpus
        minloglevel=2,
    )


class _Feed:
    """The non-empty texts, stripped; an error the texts' reader raised is kept (`error`), since sentencepiece
    wraps it into a RuntimeError that has lost its type."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts, self.error = texts, None

    def __iter__(self) -> Iterator[str]:
        try:
            yield from _non_empty(self.texts)
        except Exception as e:
            self.error = e
            raise


def _non_empty(texts: Iterable[str]) -> Iterator[str]:
    n = 0
    for t in texts:
        t = t.strip()
        if t:
            n += 1
            yield t
    if n == 0:
        raise CbqaError("no text to train the tokenizer on (empty corpus)")


def load_tokenizer(path: str | Path):  # -> transformers.PreTrainedTokenizerBase
    """Load a tokenizer from a hub name or local directory, and check it has T5 sentinels."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise CbqaError(f"cannot load tokenizer {path!s}: {str(e).splitlines()[0]}") from None
    return tok


def sentinel_ids(tok, n: int = 2) -> list[int]:
    ids = tok.convert_tokens_to_ids([sentinel(i) for i in range(n)])
    if any(i is None or i == tok.unk_token_id for i in ids):
        raise CbqaError("tokenizer has no <extra_id_N> sentinel tokens; train one with `cbqa tokenizer`")
    return ids
