"""An index is a directory, published atomically (built in a staging dir, then swapped in by `cbqa.io.replace_dir`):

    manifest.json     encoder, dimension, metric, index type + params, corpus and passages fingerprints, count,
                      versions
    index.faiss       the FAISS index (always saved from CPU, so a GPU-built index loads anywhere)
    ids.json          passage ids in FAISS row order (JSON, never pickle)
    passages.jsonl    the passages, same order, so retrieval can return text
    bm25/             optional bm25s index (numpy arrays + JSON)
    embeddings.npy    optional raw embeddings (float32 or float16), to rebuild other index types without re-encoding
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cbqa.data import Document, read_corpus
from cbqa.errors import CbqaError
from cbqa.io import fingerprint, replace_dir, staging_dir
from retrieval_baseline.bm25 import BM25Config, BM25Index
from retrieval_baseline.encoders import Encoder, EncoderConfig, canonical_name, load_encoder
from retrieval_baseline.faiss_index import IndexSpec, build_faiss_index, factory_string, read_faiss_index
from retrieval_baseline.passages import Passage, SplitConfig, passages_fingerprint, read_passages, split_corpus, write_passages
from retrieval_baseline.retriever import RetrievalIndex

FORMAT = "cbqa-retrieval-index"
VERSION = 2
MANIFEST, FAISS_FILE, IDS, PASSAGES, BM25_DIR, EMBEDDINGS = (
    "manifest.json", "index.faiss", "ids.json", "passages.jsonl", "bm25", "embeddings.npy",
)


def prepare_passages(corpus: str | Path | Sequence[Document], split: SplitConfig = SplitConfig()) -> list[Passage]:
    docs = read_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
    passages = list(split_corpus(docs, split))
    seen: set[str] = set()
    for p in passages:
        if p.id in seen:
            raise CbqaError(f"passage id {p.id!r} occurs twice: document ids must be unique")
        seen.add(p.id)
    if not passages:
        raise CbqaError(f"{corpus if isinstance(corpus, (str, Path)) else 'corpus'}: no non-empty documents to index")
    return passages


def build_index(
    corpus: str | Path | Sequence[Document],
    out: str | Path,
    encoder: EncoderConfig | Encoder | str = "default",
    spec: IndexSpec = IndexSpec(),
    split: SplitConfig = SplitConfig(),
    bm25: BM25Config | bool = False,
    embeddings: np.ndarray | None = None,
    embeddings_from: str | Path | None = None,
    save_embeddings: str | None = None,
    overwrite: bool = False,
    use_gpu: bool | None = None,
    show_progress: bool = True,
) -> RetrievalIndex:
    """Split, encode, index and write `out/`; returns the index, ready to search with the same encoder.

    `embeddings` (rows aligned with the passages) skips encoding, as does `embeddings_from` (an index dir built
    with saved embeddings by the same encoder over the same passages); `save_embeddings` ("float32"/"float16")
    stores them in the new directory.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise CbqaError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    if save_embeddings not in (None, "float32", "float16"):
        raise CbqaError(f"save_embeddings must be float32 or float16, got {save_embeddings!r}")
    passages = prepare_passages(corpus, split)
    if isinstance(encoder, str):
        encoder = EncoderConfig(name=encoder, show_progress=show_progress)
    enc = load_encoder(encoder) if isinstance(encoder, EncoderConfig) else encoder
    if embeddings is None and embeddings_from is not None:
        embeddings = _reusable_embeddings(embeddings_from, enc, passages)
    if embeddings is None:
        embeddings = enc.encode_passages(passages)
    if embeddings.shape != (len(passages), enc.dim):
        raise CbqaError(f"embeddings have shape {embeddings.shape}, expected ({len(passages)}, {enc.dim})")
    t0 = time.perf_counter()
    dense = build_faiss_index(embeddings, spec, use_gpu=use_gpu, show_progress=show_progress)
    build_s = time.perf_counter() - t0
    bm25_index = None
    if bm25:
        bm25_index = BM25Index.build(passages, bm25 if isinstance(bm25, BM25Config) else BM25Config(), show_progress)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "encoder": {"name": enc.name, "dim": enc.dim, "normalize": enc.normalize},
        "dimension": enc.dim,
        "metric": spec.metric,
        "index": {"type": spec.type, "params": dense.spec.params(), "factory": factory_string(dense.spec, len(passages), enc.dim),
                  "built_on": "gpu" if dense.on_gpu else "cpu", "build_seconds": round(build_s, 3)},
        # The corpus fingerprint is the one a spans store of the same corpus records (cbqa.io.fingerprint); the
        # passages fingerprint is that of passages.jsonl, which loading and embedding reuse check.
        "corpus": {"source": str(corpus) if isinstance(corpus, (str, Path)) else None,
                   "fingerprint": fingerprint(corpus) if isinstance(corpus, (str, Path)) else None,
                   "split": split.to_json()},
        "passages": {"file": PASSAGES, "fingerprint": passages_fingerprint(passages)},
        "count": len(passages),
        "bm25": asdict(bm25_index.config) if bm25_index else None,
        "embeddings": {"file": EMBEDDINGS, "dtype": save_embeddings} if save_embeddings else None,
        "versions": _versions(),
    }
    if out.exists() and not (out / MANIFEST).exists() and (not out.is_dir() or any(out.iterdir())):
        raise CbqaError(f"{out} exists and is not an index directory; refusing to replace it")
    tmp = staging_dir(out)
    try:
        dense.save(tmp / FAISS_FILE)
        (tmp / IDS).write_text(json.dumps([p.id for p in passages], ensure_ascii=False) + "\n", encoding="utf-8")
        write_passages(tmp / PASSAGES, passages)
        if bm25_index:
            bm25_index.save(tmp / BM25_DIR)
        if save_embeddings:
            np.save(tmp / EMBEDDINGS, embeddings.astype(save_embeddings), allow_pickle=False)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RetrievalIndex(passages, dense, manifest, bm25_index, encoder=enc)


def _reusable_embeddings(source: str | Path, enc: Encoder, passages: Sequence[Passage]) -> np.ndarray:
    manifest = read_manifest(source)
    if manifest["encoder"]["name"] != enc.name:
        raise CbqaError(f"{source}: embeddings come from encoder {manifest['encoder']['name']!r}, not {enc.name!r}")
    if manifest["passages"]["fingerprint"] != passages_fingerprint(passages):
        raise CbqaError(f"{source}: embeddings are of a different corpus or passage split; cannot reuse them")
    return load_embeddings(source)


def _versions() -> dict[str, str]:
    import faiss

    from cbqa import __version__

    return {"faiss": faiss.__version__, "cbqa": __version__}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of an index directory, checked field by field: anything malformed is one `CbqaError` line."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise CbqaError(f"{directory}: not an index directory (no {MANIFEST}); build one with `cbqa index`")
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
    except OSError as e:
        raise CbqaError(f"{path}: cannot read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        raise CbqaError(f"{path}: invalid JSON ({reason})") from None
    if not isinstance(manifest, dict):
        raise CbqaError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CbqaError(f"{path}: not a {FORMAT} v{VERSION} manifest (format={manifest.get('format')!r}, version={manifest.get('version')!r})")
    for key, kind in _MANIFEST_FIELDS:
        value = _field(manifest, key)
        if not _is(value, kind):
            raise CbqaError(f"{path}: field {key!r} must be {_kind_name(kind)}, got {_shown(value)}")
    _check_keys(path, "corpus.split", manifest["corpus"]["split"], {"words": int, "stride": (int, type(None))})
    params = {f.name: (int, type(None)) for f in dataclasses.fields(IndexSpec) if f.name not in ("type", "metric")}
    _check_keys(path, "index.params", manifest["index"]["params"], params)
    if manifest["dimension"] != manifest["encoder"]["dim"] or manifest["count"] < 0:
        raise CbqaError(f"{path}: dimension {manifest['dimension']} / encoder.dim {manifest['encoder']['dim']} / "
                        f"count {manifest['count']} are inconsistent")
    return manifest


_MISSING = object()
# (dotted key, allowed type(s)) of every manifest field that loading reads.
_MANIFEST_FIELDS: tuple[tuple[str, Any], ...] = (
    ("encoder", dict), ("encoder.name", str), ("encoder.dim", int), ("encoder.normalize", (bool, type(None))),
    ("dimension", int), ("metric", str), ("index", dict), ("index.type", str), ("index.params", dict),
    ("corpus", dict), ("corpus.split", dict), ("passages", dict), ("passages.fingerprint", str), ("count", int),
    ("bm25", (dict, type(None))), ("embeddings", (dict, type(None))),
)


def _field(obj: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _is(value: Any, kind: Any) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true is not an integer here
    return value is not _MISSING and isinstance(value, kinds)


def _kind_name(kind: Any) -> str:
    names = {dict: "an object", str: "a string", int: "an integer", bool: "true/false", type(None): "null"}
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def _shown(value: Any) -> str:
    return "nothing (missing)" if value is _MISSING else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _check_keys(path: Path, where: str, obj: dict[str, Any], allowed: dict[str, Any]) -> None:
    for key, value in obj.items():
        if key not in allowed:
            raise CbqaError(f"{path}: unknown key {key!r} in {where!r} (known: {', '.join(allowed)})")
        if not _is(value, allowed[key]):
            raise CbqaError(f"{path}: field '{where}.{key}' must be {_kind_name(allowed[key])}, got {_shown(value)}")


def load_index(
    directory: str | Path,
    encoder: EncoderConfig | Encoder | str | None = None,
    corpus: str | Path | Sequence[Document] | None = None,
    use_gpu: bool | None = None,
    verify: bool = True,
) -> RetrievalIndex:
    """Load an index directory; refuse it if `encoder` or `corpus` (when given) differ from what built it.

    `verify` re-hashes the stored passages file against the manifest (catches a hand-edited or truncated dir).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    m_enc = manifest["encoder"]
    enc_obj: Encoder | None = None
    enc_cfg: EncoderConfig | None = None
    if encoder is not None:
        name = encoder if isinstance(encoder, str) else encoder.name
        if canonical_name(name) != m_enc["name"]:
            raise CbqaError(f"{directory} was built with encoder {m_enc['name']!r}, not {canonical_name(name)!r}; "
                            "query it with the same encoder or rebuild the index")
        if isinstance(encoder, str):
            enc_cfg = EncoderConfig(name=encoder, normalize=m_enc["normalize"])
        elif isinstance(encoder, EncoderConfig):
            enc_cfg = encoder
        else:
            enc_obj = encoder
            if enc_obj.dim != manifest["dimension"]:
                raise CbqaError(f"{directory} holds {manifest['dimension']}-d vectors; encoder {name!r} gives {enc_obj.dim}-d")
    else:
        enc_cfg = EncoderConfig(name=m_enc["name"], normalize=m_enc["normalize"])
    passages = read_passages(directory / PASSAGES)
    ids = json.loads((directory / IDS).read_text(encoding="utf-8"))
    if len(passages) != manifest["count"] or ids != [p.id for p in passages]:
        raise CbqaError(f"{directory}: {IDS} / {PASSAGES} disagree with each other or with the manifest count {manifest['count']}")
    if verify and fingerprint(directory / PASSAGES) != manifest["passages"]["fingerprint"]:
        raise CbqaError(f"{directory}: {PASSAGES} does not match the manifest's passages fingerprint (edited or corrupt)")
    if corpus is not None:
        split = SplitConfig(**manifest["corpus"]["split"])
        got = passages_fingerprint(prepare_passages(corpus, split))
        want = manifest["passages"]["fingerprint"]
        if got != want:
            raise CbqaError(f"{directory} was built from a different corpus (passages {want[:19]}..., "
                            f"this corpus gives {got[:19]}...); rebuild the index")
    spec = IndexSpec(type=manifest["index"]["type"], metric=manifest["metric"], **manifest["index"]["params"])
    dense = read_faiss_index(directory / FAISS_FILE, spec, use_gpu=use_gpu)
    if dense.ntotal != manifest["count"] or dense.dim != manifest["dimension"]:
        raise CbqaError(f"{directory}/{FAISS_FILE}: holds {dense.ntotal} x {dense.dim}, manifest says "
                        f"{manifest['count']} x {manifest['dimension']}")
    bm25 = BM25Index.load(directory / BM25_DIR) if manifest.get("bm25") else None
    return RetrievalIndex(passages, dense, manifest, bm25, encoder=enc_obj, encoder_config=enc_cfg)


def load_embeddings(directory: str | Path) -> np.ndarray:
    """The embeddings an index was built with (needs `--save-embeddings` at build time)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if not manifest.get("embeddings"):
        raise CbqaError(f"{directory}: no stored embeddings (build it with --save-embeddings float16|float32)")
    return np.load(directory / EMBEDDINGS, allow_pickle=False).astype(np.float32)
