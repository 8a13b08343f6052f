"""An index is a directory, published atomically (built in a work dir next to it, then swapped in by
`cbqa.core.io.replace_dir`):

    manifest.json       encoder, dimension, metric, index type + params, corpus and passages fingerprints, count,
                        the passage and embedding shards with their sizes, versions
    index.faiss         the FAISS index (always saved from CPU, so a GPU-built index loads anywhere)
    passages/           shard-NNNNN.arrow: id, title, text in FAISS row order (Arrow IPC, memory-mapped, by row id)
    embeddings/         shard-NNNNN.npy: the embeddings, same shards (float16 or float32)      [--save-embeddings]
    bm25/               bm25s index (numpy arrays + JSON, memory-mapped on load)               [--bm25]

Loading reads the manifest and the FAISS index (memory-mapped with `mmap=True`) and checks that the shard files are
there; it does not read or hash the passages. `verify_index` (`cbqa index --verify DIR`) reads everything back.
Building: `retrieval_baseline.index_build`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError
from cbqa.core.formats import Document
from cbqa.core.shards import SHARD_FILE
from retrieval_baseline.bm25 import BM25Index
from retrieval_baseline.embeddings import EMBEDDINGS_DIR, EmbeddingShards
from retrieval_baseline.encoders import Encoder, EncoderConfig, canonical_name
from retrieval_baseline.faiss_index import IndexSpec, read_faiss_index
from retrieval_baseline.passage_store import PASSAGES_DIR, PassageStore
from retrieval_baseline.passages import SplitConfig, passages_fingerprint, split_corpus
from retrieval_baseline.retriever import RetrievalIndex

FORMAT = "cbqa-retrieval-index"
VERSION = 3
MANIFEST, FAISS_FILE, BM25_DIR = "manifest.json", "index.faiss", "bm25"


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
        raise CbqaError(
            f"{path}: not a {FORMAT} v{VERSION} manifest (format={manifest.get('format')!r}, version={manifest.get('version')!r})"
        )
    for key, kind in _MANIFEST_FIELDS:
        value = _field(manifest, key)
        if not _is(value, kind):
            raise CbqaError(f"{path}: field {key!r} must be {_kind_name(kind)}, got {_shown(value)}")
    _check_keys(path, "corpus.split", manifest["corpus"]["split"], {"words": int, "stride": (int, type(None))})
    params = {f.name: (int, type(None)) for f in dataclasses.fields(IndexSpec) if f.name not in ("type", "metric")}
    _check_keys(path, "index.params", manifest["index"]["params"], params)
    for i, shard in enumerate(manifest["passages"]["shards"]):
        if not (
            isinstance(shard, dict)
            and isinstance(shard.get("file"), str)
            and SHARD_FILE.fullmatch(shard["file"])
            and type(shard.get("rows")) is int
            and shard["rows"] >= 0
        ):
            raise CbqaError(f"{path}: passages.shards[{i}] must be {{file: shard-NNNNN.arrow, rows: int >= 0}}")
    if manifest["dimension"] != manifest["encoder"]["dim"] or manifest["count"] < 0:
        raise CbqaError(
            f"{path}: dimension {manifest['dimension']} / encoder.dim {manifest['encoder']['dim']} / "
            f"count {manifest['count']} are inconsistent"
        )
    return manifest


_MISSING = object()
# (dotted key, allowed type(s)) of every manifest field that loading reads.
_MANIFEST_FIELDS: tuple[tuple[str, Any], ...] = (
    ("encoder", dict),
    ("encoder.name", str),
    ("encoder.dim", int),
    ("encoder.normalize", (bool, type(None))),
    ("dimension", int),
    ("metric", str),
    ("index", dict),
    ("index.type", str),
    ("index.params", dict),
    ("corpus", dict),
    ("corpus.split", dict),
    ("passages", dict),
    ("passages.fingerprint", str),
    ("passages.shards", list),
    ("count", int),
    ("bm25", (dict, type(None))),
    ("embeddings", (dict, type(None))),
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
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "an integer",
        bool: "true/false",
        type(None): "null",
    }
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def _shown(value: Any) -> str:
    return "nothing (missing)" if value is _MISSING else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _check_keys(path: Path, where: str, obj: dict[str, Any], allowed: dict[str, Any]) -> None:
    for key, value in obj.items():
        if key not in allowed:
            raise CbqaError(f"{path}: unknown key {key!r} in {where!r} (known: {', '.join(allowed)})")
        if not _is(value, allowed[key]):
            raise CbqaError(f"{path}: field '{where}.{key}' must be {_kind_name(allowed[key])}, got {_shown(value)}")


def _encoder_for(
    directory: Path, manifest: dict[str, Any], encoder: EncoderConfig | Encoder | str | None
) -> tuple[Encoder | None, EncoderConfig | None]:
    m_enc = manifest["encoder"]
    if encoder is None:
        return None, EncoderConfig(name=m_enc["name"], normalize=m_enc["normalize"])
    name = encoder if isinstance(encoder, str) else encoder.name
    if canonical_name(name) != m_enc["name"]:
        raise CbqaError(
            f"{directory} was built with encoder {m_enc['name']!r}, not {canonical_name(name)!r}; "
            "query it with the same encoder or rebuild the index"
        )
    if isinstance(encoder, str):
        return None, EncoderConfig(name=encoder, normalize=m_enc["normalize"])
    if isinstance(encoder, EncoderConfig):
        return None, encoder
    if encoder.dim != manifest["dimension"]:
        raise CbqaError(f"{directory} holds {manifest['dimension']}-d vectors; encoder {name!r} gives {encoder.dim}-d")
    return encoder, None


def passage_store(directory: str | Path, manifest: dict[str, Any]) -> PassageStore:
    """The passages of an index directory, checked to be all there (not read)."""
    directory = Path(directory)
    shards = manifest["passages"]["shards"]
    store = PassageStore(directory / PASSAGES_DIR, [(s["file"], s["rows"]) for s in shards])
    if len(store) != manifest["count"]:
        raise CbqaError(
            f"{directory}/{MANIFEST}: the passage shards hold {len(store)} rows, count says {manifest['count']}"
        )
    missing = store.missing_files()
    if missing:
        raise CbqaError(
            f"{directory}: passage shards missing: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        )
    return store


def load_index(
    directory: str | Path,
    encoder: EncoderConfig | Encoder | str | None = None,
    corpus: str | Path | Sequence[Document] | None = None,
    use_gpu: bool | None = None,
    verify: bool = False,
    mmap: bool | None = None,
) -> RetrievalIndex:
    """Load an index directory; refuse it if `encoder` or `corpus` (when given) differ from what built it.

    Loading reads the manifest and the FAISS index only (`mmap=True` maps the index instead of reading it; the default,
    None, maps indexes of 1 GiB or more that are searched on the CPU: `faiss_index.auto_mmap`); passages
    are read by row when a search returns them. `verify` first reads everything back (`verify_index`); `corpus`
    re-splits the corpus and compares its passages with the manifest's fingerprint (a pass over the corpus).
    """
    directory = Path(directory).resolve()  # pins one published version (replace_dir swaps a symlink)
    if verify:
        verify_index(directory)
    manifest = read_manifest(directory)
    enc_obj, enc_cfg = _encoder_for(directory, manifest, encoder)
    if corpus is not None:
        check_corpus(directory, manifest, corpus)
    store = passage_store(directory, manifest)
    spec = IndexSpec(type=manifest["index"]["type"], metric=manifest["metric"], **manifest["index"]["params"])
    if not (directory / FAISS_FILE).is_file():
        raise CbqaError(f"{directory}: {FAISS_FILE} is missing")
    dense = read_faiss_index(directory / FAISS_FILE, spec, use_gpu=use_gpu, mmap=mmap)
    if dense.ntotal != manifest["count"] or dense.dim != manifest["dimension"]:
        raise CbqaError(
            f"{directory}/{FAISS_FILE}: holds {dense.ntotal} x {dense.dim}, manifest says "
            f"{manifest['count']} x {manifest['dimension']}"
        )
    bm25 = BM25Index.load(directory / BM25_DIR, mmap=True) if manifest.get("bm25") else None
    if bm25 is not None and bm25.count != manifest["count"]:
        raise CbqaError(f"{directory}/{BM25_DIR}: holds {bm25.count} passages, manifest says {manifest['count']}")
    return RetrievalIndex(store, dense, manifest, bm25, encoder=enc_obj, encoder_config=enc_cfg)


def check_corpus(directory: Path, manifest: dict[str, Any], corpus: str | Path | Sequence[Document]) -> None:
    """Refuse the index unless `corpus`, split as the manifest says, gives exactly its passages (streams the corpus)."""
    from cbqa.core.formats.corpus import iter_corpus

    split = SplitConfig(**manifest["corpus"]["split"])
    docs = iter_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
    got, want = passages_fingerprint(split_corpus(docs, split)), manifest["passages"]["fingerprint"]
    if got != want:
        raise CbqaError(
            f"{directory} was built from a different corpus (passages {want[:19]}..., "
            f"this corpus gives {got[:19]}...); rebuild the index"
        )


def embedding_shards(directory: str | Path, manifest: dict[str, Any] | None = None) -> EmbeddingShards:
    """The stored embeddings, memory-mapped (needs `--save-embeddings` at build time)."""
    directory = Path(directory)
    manifest = manifest or read_manifest(directory)
    if not manifest.get("embeddings"):
        raise CbqaError(f"{directory}: no stored embeddings (build it with --save-embeddings float16|float32)")
    files = manifest["embeddings"].get("shards")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise CbqaError(f"{directory}/{MANIFEST}: field 'embeddings.shards' must be a list of file names")
    paths = [directory / EMBEDDINGS_DIR / f for f in files]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CbqaError(f"{directory}: embedding shards missing: {', '.join(missing[:3])}")
    return EmbeddingShards(paths, [s["rows"] for s in manifest["passages"]["shards"]])


def load_embeddings(directory: str | Path):
    """The embeddings an index was built with, in memory as float32 (small indexes; see `embedding_shards`)."""
    return embedding_shards(directory).to_array()


def verify_index(directory: str | Path, corpus: str | Path | Sequence[Document] | None = None) -> dict[str, Any]:
    """Read an index directory back in full: every passage shard (row counts, the passages fingerprint), the embedding
    shards (shapes), the FAISS index (size, dimension), BM25 (count), and with `corpus` its passages. Returns what was
    checked; raises `CbqaError` at the first disagreement."""
    from retrieval_baseline.passage_store import passage_shard_rows

    directory = Path(directory).resolve()
    manifest = read_manifest(directory)
    store = passage_store(directory, manifest)
    for name, size in zip(store.files, store.sizes):
        rows = passage_shard_rows(directory / PASSAGES_DIR / name)
        if rows != size:
            raise CbqaError(f"{directory}/{PASSAGES_DIR}/{name}: holds {rows} passages, the manifest says {size}")
    got = store.fingerprint()
    if got != manifest["passages"]["fingerprint"]:
        raise CbqaError(
            f"{directory}: the passages do not match the manifest's passages fingerprint (edited or corrupt)"
        )
    report: dict[str, Any] = {"passages": len(store), "passage_shards": len(store.files), "fingerprint": got}
    if manifest.get("embeddings"):
        emb = embedding_shards(directory, manifest)
        if emb.dim != manifest["dimension"]:
            raise CbqaError(
                f"{directory}/{EMBEDDINGS_DIR}: {emb.dim}-d embeddings, the manifest says {manifest['dimension']}"
            )
        report["embeddings"] = {"rows": emb.n, "dtype": emb.dtype}
    spec = IndexSpec(type=manifest["index"]["type"], metric=manifest["metric"], **manifest["index"]["params"])
    dense = read_faiss_index(directory / FAISS_FILE, spec, use_gpu=False, mmap=True)
    if dense.ntotal != manifest["count"] or dense.dim != manifest["dimension"]:
        raise CbqaError(
            f"{directory}/{FAISS_FILE}: holds {dense.ntotal} x {dense.dim}, manifest says "
            f"{manifest['count']} x {manifest['dimension']}"
        )
    report["faiss"] = {"ntotal": dense.ntotal, "dim": dense.dim}
    if manifest.get("bm25"):
        bm25 = BM25Index.load(directory / BM25_DIR, mmap=True)
        if bm25.count != manifest["count"]:
            raise CbqaError(f"{directory}/{BM25_DIR}: holds {bm25.count} passages, manifest says {manifest['count']}")
        report["bm25"] = bm25.count
    if corpus is not None:
        check_corpus(directory, manifest, corpus)
        report["corpus"] = "same passages"
    return report
