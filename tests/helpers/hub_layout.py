"""Small T5 checkpoints laid out exactly like the hub's `google/t5-v1_1-base` and `t5-base`, built offline.

What is the hub's, kept exactly: the config keys (T5.1.1: gated-GELU, untied head; original T5: ReLU, tied head,
`n_positions`), vocabulary size 32,128 (32,000 sentencepiece pieces + 100 sentinels + 28 unused rows), pad 0, eos 1,
unk 2, `<extra_id_0>` = 32099 down to `<extra_id_99>` = 32000, dropout 0.1, and the tokenizer files
(T5.1.1: `spiece.model` + `tokenizer_config.json` + `special_tokens_map.json`; t5-base: `spiece.model` +
`tokenizer.json`, no tokenizer config). What is not: the widths (tiny) and the pieces (a small unigram model trained
on the test text, padded to 32,000 pieces through its ModelProto, since a 32k model cannot be trained on test text).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

PIECES = 32_000
EXTRA_IDS = 100
VOCAB = 32_128
SENTINELS = [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]

TINY = {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}

# The hub's config.json of each flavour, less the widths (TINY replaces them).
CONFIGS = {
    "t5-v1_1": {
        "architectures": ["T5ForConditionalGeneration"],
        "decoder_start_token_id": 0,
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": "gated-gelu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "layer_norm_epsilon": 1e-06,
        "model_type": "t5",
        "output_past": True,
        "pad_token_id": 0,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": False,
        "vocab_size": VOCAB,
    },
    "t5": {
        "architectures": ["T5ForConditionalGeneration"],
        "decoder_start_token_id": 0,
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "layer_norm_epsilon": 1e-06,
        "model_type": "t5",
        "n_positions": 512,
        "output_past": True,
        "pad_token_id": 0,
        "relative_attention_num_buckets": 32,
        "vocab_size": VOCAB,
    },
}


def sentencepiece_32k(texts: Iterable[str], out_file: Path, work: Path) -> None:
    """A unigram sentencepiece model with T5's special ids and exactly 32,000 pieces (`work`: an empty directory for
    the small model).

    A small model is trained on `texts` (its pieces tokenise them), then filler pieces with scores below every real
    piece are appended through the ModelProto, so they never win a segmentation but give the hub's ids."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    work.mkdir(parents=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_prefix=str(work / "sp"),
        vocab_size=300,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    proto = pb.ModelProto()
    proto.ParseFromString((work / "sp.model").read_bytes())
    assert [p.piece for p in proto.pieces[:3]] == ["<pad>", "</s>", "<unk>"]
    lowest = min(p.score for p in proto.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL)
    for i in range(PIECES - len(proto.pieces)):
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = (
            f"▁unused{i}",
            lowest - 1.0 - i * 1e-4,
            pb.ModelProto.SentencePiece.NORMAL,
        )
    proto.trainer_spec.vocab_size = PIECES
    out_file.write_bytes(proto.SerializeToString())


def write_hub_t5(out_dir: Path, flavour: str, texts: Iterable[str], work: Path, seed: int = 0) -> Path:
    """A randomly initialised tiny T5 in the hub layout of `flavour` ("t5-v1_1" or "t5"); `work`: a directory that
    does not exist yet, for the files made on the way."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    sentencepiece_32k(texts, out_dir / "spiece.model", work / "sentencepiece")
    specials = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    if flavour == "t5-v1_1":
        (out_dir / "special_tokens_map.json").write_text(
            json.dumps({**specials, "additional_special_tokens": SENTINELS})
        )
        (out_dir / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    **specials,
                    "extra_ids": EXTRA_IDS,
                    "additional_special_tokens": SENTINELS,
                    "model_max_length": 512,
                    "name_or_path": "google/t5-v1_1-base",
                    "sp_model_kwargs": {},
                    "tokenizer_class": "T5Tokenizer",
                }
            )
        )
    elif flavour == "t5":
        # t5-base ships a tokenizer.json (the fast tokenizer's serialisation) next to spiece.model.
        shutil.copy(out_dir / "spiece.model", work / "spiece.model")
        T5Tokenizer.from_pretrained(str(work), extra_ids=EXTRA_IDS).save_pretrained(str(work / "saved"))
        shutil.copy(work / "saved" / "tokenizer.json", out_dir / "tokenizer.json")
    else:
        raise ValueError(flavour)
    from cbqa.model.loading import untie_lm_head

    config = {**CONFIGS[flavour], **TINY}
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(T5Config(**config))
    if not config.get("tie_word_embeddings", True):
        untie_lm_head(model)  # transformers 5 builds every T5 tied; the hub's T5.1.1 head is a matrix of its own
    model.save_pretrained(out_dir)
    if flavour == "t5-v1_1":  # the T5.1.1 repos hold pytorch_model.bin (a plain state dict) and no generation config
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        (out_dir / "model.safetensors").unlink()
        (out_dir / "generation_config.json").unlink(missing_ok=True)
        torch.save(state, out_dir / "pytorch_model.bin")
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))  # the hub's keys, not a re-serialised config
    return out_dir
