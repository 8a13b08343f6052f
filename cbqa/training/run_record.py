"""What a training run directory was made with, so that a rerun can never mix two runs.

`RUN_DIR/run.json` records the resolved config (flattened to dotted keys, minus the keys that cannot change the
result: progress bars, logging, worker counts, the run directory itself) and a fingerprint of every input file or
directory the config names (QA files, spans stores, the tokenizer, the starting model). A rerun that would resume
from a checkpoint compares its own record with the stored one; any difference is a refusal that names the keys,
unless `--force`. Starting over removes the previous run's artifacts first, so `hf/`, the curves and the summary
never describe two runs at once.

Paths in the config are made absolute (relative to the working directory they were given in), so the saved
`config.yaml` works from any working directory. Fingerprints are `cbqa.core.io.fingerprint` (sha256) cached by
(size, mtime) per file in the record, so a resume re-hashes only inputs that were touched since.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import StrictStr

from cbqa.core.contracts import Contract, read_contract, write_contract
from cbqa.core.errors import CbqaError
from cbqa.core.io import fingerprint, fingerprint_chunks, remove_tree

RECORD = "run.json"
RECORD_FORMAT = "cbqa-run/1"
# Config leaves named like this hold a path (when the value exists as one): made absolute, and fingerprinted.
PATH_NAMES = frozenset({"file", "files", "spans", "val_file", "tokenizer", "model", "corpus", "path", "run_dir"})
# Keys that change how a run is shown or where it lives, never what it computes.
IGNORED = frozenset(
    {
        "run_dir",
        "resume",
        "force",
        "config",
        "print_config",
        "trainer.enable_progress_bar",
        "trainer.enable_model_summary",
        "trainer.logger",
        "trainer.log_every_n_steps",
        "trainer.default_root_dir",
        "trainer.profiler",
        "trainer.enable_autolog_hparams",
        "trainer.model_registry",
        "data.num_workers",
        "data.eval_batch_size",
    }
)
# What a training run writes into its directory (removed when a run starts over there).
ARTIFACTS = ("checkpoints", "logs", "tb", "hf", "summary.json")


def absolute_paths(node: Any, name: str = "") -> Any:
    """A copy of a parsed config (dicts / lists / jsonargparse Namespaces) with path-valued leaves made absolute."""
    if hasattr(node, "items") and not isinstance(node, dict):  # a jsonargparse Namespace
        for key, value in list(vars(node).items()):
            setattr(node, key, absolute_paths(value, key))
        return node
    if isinstance(node, dict):
        return {k: absolute_paths(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [absolute_paths(v, name) for v in node]
    if isinstance(node, str) and name in PATH_NAMES and node and (name == "run_dir" or Path(node).exists()):
        return str(Path(node).expanduser().absolute())
    return node


def missing_inputs(config: dict[str, Any]) -> list[str]:
    """`--key: PATH does not exist` for every input file or directory the config names that is not there (the
    starting model aside: a hub name looks like a path)."""
    names = PATH_NAMES - {"model", "run_dir", "path", "corpus"}
    unused = {"model.tokenizer"} if (config.get("model") or {}).get("model") else set()  # a checkpoint brings its own
    return [
        f"--{key.replace('[', '.').replace(']', '')}: {value} does not exist"
        for key, value in flatten(config)
        if key.rsplit(".", 1)[-1].split("[")[0] in names
        and key not in unused
        and isinstance(value, str)
        and value
        and not Path(value).exists()
    ]


def flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) pairs of a config dict; list items as `key[i]`."""
    if isinstance(node, dict):
        if not node and prefix:
            yield prefix, {}
        for k, v in node.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        for i, v in enumerate(node):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


def compared_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flatten(config) if k.split("[")[0] not in IGNORED and k not in IGNORED}


def _input_path(key: str, value: Any) -> Path | None:
    leaf = key.rsplit(".", 1)[-1].split("[")[0]
    if leaf not in PATH_NAMES or leaf == "run_dir" or not isinstance(value, str) or not value:
        return None
    path = Path(value)
    if not path.exists():
        return None
    if leaf == "model":  # a cbqa run directory is read through its hf/ export, not its checkpoints and logs
        from cbqa.model.loading import resolve_model_path

        try:
            path = Path(resolve_model_path(value))
        except CbqaError:
            return path
    return path


def _stat(path: Path) -> list[list[Any]]:
    path = path.resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p.relative_to(path)) if path.is_dir() else "", p.stat().st_size, p.stat().st_mtime_ns] for p in files]


class InputFingerprint(Contract):
    path: StrictStr
    fingerprint: StrictStr
    stat: list[list[Any]]  # [file relative to path, size, mtime_ns] per file


class RunRecord(Contract):
    """`RUN_DIR/run.json`: the compared config, the fingerprints of its inputs, and a note per start (`history`)."""

    FORMAT = {"format": RECORD_FORMAT}
    WHAT = "cbqa run record"
    HINT = "pass --resume never to start over"
    format: StrictStr
    config: dict[str, Any]
    data: dict[str, InputFingerprint] = {}
    history: list[dict[str, Any]] = []


def data_fingerprints(
    config: dict[str, Any], cached: dict[str, InputFingerprint] | None = None
) -> dict[str, InputFingerprint]:
    """The fingerprint of every input the config names, by config key; `cached` entries whose files have the same
    sizes and modification times are reused instead of re-hashed."""
    out = {}
    for key, value in flatten(config):
        path = _input_path(key, value)
        if path is None:
            continue
        stat = _stat(path)
        old = (cached or {}).get(key)
        if old and old.path == str(path) and old.stat == stat:
            out[key] = old
        else:
            out[key] = InputFingerprint(path=str(path), fingerprint=content_fingerprint(path), stat=stat)
    return out


# Manifest fields of a spans store that describe its content (the rest: wall time, run counts, the corpus's path).
_SPANS_CONTENT = ("format", "complete", "pipeline", "labels", "options", "shards", "docs", "spans", "label_counts")


def content_fingerprint(path: Path) -> str:
    """`cbqa.core.io.fingerprint`, except for a spans store: what its manifest says made it (corpus fingerprint, pipeline,
    labels, options) and holds (per-shard counts), not the time it took or where its corpus was — two stores of the
    same annotations fingerprint the same, and a store of Wikipedia (tens of GB) is not re-read at every start."""
    from ner_masking.store import read_manifest

    try:
        m = read_manifest(path) if path.is_dir() else None
    except CbqaError:  # not a spans store's manifest: the directory's bytes
        m = None
    if m is not None:
        manifest = m.to_dict()
        identity = {k: manifest[k] for k in _SPANS_CONTENT} | {"corpus_fingerprint": m.corpus.fingerprint}
        return fingerprint_chunks([json.dumps(identity, sort_keys=True).encode()])
    return fingerprint(path)


def make_record(config: dict[str, Any], cached: RunRecord | None = None) -> RunRecord:
    data = data_fingerprints(config, cached.data if cached else None)
    return RunRecord(format=RECORD_FORMAT, config=compared_config(config), data=data)


def read_record(run_dir: Path) -> RunRecord | None:
    path = run_dir / RECORD
    return read_contract(RunRecord, path) if path.exists() else None


def differences(old: RunRecord, new: RunRecord) -> list[str]:
    """One short line per config key or input that differs between two records."""
    out = []
    a, b = old.config, new.config
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            out.append(f"{key}: {_short(a.get(key, '<unset>'))} -> {_short(b.get(key, '<unset>'))}")
    da, db = old.data, new.data
    for key in sorted(set(da) | set(db)):
        fa, fb = (da[key].fingerprint if key in da else None), (db[key].fingerprint if key in db else None)
        if fa != fb and key in da and key in db:
            out.append(f"{key} content: {str(fa)[:19]}... -> {str(fb)[:19]}...")
        elif fa != fb and key in da:
            out.append(f"{key} content: {str(fa)[:19]}... -> (missing)")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:197] + "..."


def write_record(
    run_dir: Path, record: RunRecord, note: dict[str, Any] | None = None, history: list | None = None
) -> None:
    entries = [*(history or []), *([note] if note else [])]
    write_contract(run_dir / RECORD, record.model_copy(update={"history": entries}))


def clear_artifacts(run_dir: Path) -> list[str]:
    """Remove what an earlier training run wrote into `run_dir` (checkpoints, curves, export, summary)."""
    removed = [name for name in ARTIFACTS if (run_dir / name).exists() or (run_dir / name).is_symlink()]
    for name in ARTIFACTS:
        remove_tree(run_dir / name)
    return removed


def is_launching_process() -> bool:
    """True in the process a user started; False in the extra ranks a DDP launcher (Lightning, torchrun, SLURM)
    starts, which must neither write nor remove anything in the run directory."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))
