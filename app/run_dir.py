"""Find run directories and read their record, turning every problem into a message, never an exception.

Two kinds of run directory, found under the runs directory without anything written by hand:
- a study, demo or benchmark (`cbqa study|demo|benchmark --out RUN`): `RUN/manifest.json` names the data files,
  models, training runs, prediction files, the retrieval index and the report, by paths relative to RUN (or absolute);
- a training run (`cbqa pretrain|finetune --run_dir RUN`): `RUN/run.json` and its exported model `RUN/hf/`; the
  app shows its model (Probe, Knowledge) and its validation file, from the run's own record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cbqa.core.contracts import read_contract
from cbqa.core.errors import CbqaError
from cbqa.core.formats.run_manifest import MANIFEST, MAPPING_KEYS, PATH_KEYS, RunManifest

RECORD = "run.json"  # a training run's record (cbqa.training.run_record)


@dataclass
class RunInfo:
    """A run directory as the app sees it: resolved paths that exist, and what is missing or broken."""

    root: Path
    name: str
    paths: dict[str, Path] = field(default_factory=dict)  # PATH_KEYS that are set and exist
    models: dict[str, Path] = field(default_factory=dict)
    runs: dict[str, Path] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each, shown in the sidebar
    error: str | None = None  # set when the manifest itself is unusable

    def path(self, key: str) -> Path | None:
        return self.paths.get(key)


def is_run(path: Path) -> bool:
    """A study / demo / benchmark directory (manifest.json), or a training run with an exported model."""
    return (path / MANIFEST).exists() or ((path / RECORD).exists() and (path / "hf" / "config.json").exists())


def find_runs(root: Path, max_depth: int = 3) -> list[Path]:
    """`root` itself if it is a run, else the runs under it (to `max_depth`; not inside another run)."""
    if is_run(root):
        return [root]
    if not root.is_dir():
        return []
    found: list[Path] = []
    frontier = [root]
    for _ in range(max_depth):
        children = sorted(p for d in frontier for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        found += [p for p in children if is_run(p)]
        frontier = [p for p in children if not is_run(p)]
    return found


def run_name(path: Path) -> str:
    """A run's name by its own record: the manifest's `name`, or a training run's `run_dir` as it was given."""
    try:
        if (path / MANIFEST).exists():
            return read_contract(RunManifest, path / MANIFEST).name or path.name
        config = json.loads((path / RECORD).read_text(encoding="utf-8")).get("config") or {}
        return Path(str(config.get("run_dir") or path)).name
    except (CbqaError, OSError, ValueError, AttributeError):
        return path.name


def find_training_runs(root: Path, max_depth: int = 4) -> list[Path]:
    """Training run directories (holding `logs/metrics.csv`) under `root`, nearest first."""
    if not root.is_dir():
        return []
    out = []
    for depth in range(max_depth):
        pattern = "/".join(["*"] * depth + ["logs", "metrics.csv"]) if depth else "logs/metrics.csv"
        out += sorted(p.parent.parent for p in root.glob(pattern))
    return list(dict.fromkeys(out))


def _resolve(root: Path, value: str | None) -> Path | None:
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else root / p


def read_training_run(root: Path) -> RunInfo:
    """A lone training run as a run of one model: its `hf/` export, and the validation / training QA files its record
    names (a missing one is a problem line)."""
    info = RunInfo(root=root, name=run_name(root))
    try:
        config = json.loads((root / RECORD).read_text(encoding="utf-8")).get("config") or {}
    except (OSError, ValueError) as e:
        info.error = f"{root / RECORD}: unreadable ({e})"
        return info
    info.models[info.name], info.runs[info.name] = root / "hf", root
    qa_files = [v for k, v in config.items() if k.startswith("data.tasks[") and k.endswith(".file")]
    for key, value in (("dev", config.get("data.val_file")), ("train", qa_files[0] if qa_files else None)):
        if isinstance(value, str) and value:
            if Path(value).exists():
                info.paths[key] = Path(value)
            else:
                info.problems.append(f"{key}: {value} is missing")
    return info


def read_run(root: Path) -> RunInfo:
    """Read a run's record (`root/manifest.json`, or a training run's `run.json`); a missing, half-written or malformed
    one gives a RunInfo with `error` set, a path it names that is not there a line in `problems`."""
    info = RunInfo(root=root, name=root.name)
    manifest_path = root / MANIFEST
    if not manifest_path.exists() and (root / RECORD).exists():
        return read_training_run(root)
    if not manifest_path.exists():
        info.error = f"{manifest_path} does not exist: is this a run directory written by `cbqa demo --out DIR`?"
        return info
    try:
        manifest = read_contract(RunManifest, manifest_path)
    except CbqaError as e:
        info.error = str(e)
        return info
    info.name = manifest.name or root.name
    for key in PATH_KEYS:
        path = _resolve(root, getattr(manifest, key))
        if path is None:
            continue
        if path.exists():
            info.paths[key] = path
        else:
            info.problems.append(f"{key}: {path} is missing")
    for key in MAPPING_KEYS:
        target: dict[str, Path] = getattr(info, key)
        for name, value in (getattr(manifest, key) or {}).items():
            path = _resolve(root, value)
            if path is not None and path.exists():
                target[name] = path
            else:
                info.problems.append(f"{key}.{name}: {path or value!r} is missing")
    return info


def results_paths(info: RunInfo) -> list[Path]:
    """The report's `results*.json` files (the demo writes results.json by gold overlap categories and
    results_detected.json by the detector's), from the manifest's report entry (a file or its directory)."""
    report = info.path("report")
    dirs = [report if report.is_dir() else report.parent] if report else []
    dirs.append(info.root / "report")
    found = [p for d in dict.fromkeys(dirs) if d.is_dir() for p in sorted(d.glob("results*.json"))]
    if report and report.is_file() and report.suffix == ".json":
        found.insert(0, report)
    return list(dict.fromkeys(found))


def _started_from(run: Path) -> Path | None:
    """The training run whose weights `run` started from (its config's `model.model`), if that is a run directory."""
    import yaml

    try:
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    model = ((config.get("model") or {}) if isinstance(config, dict) else {}).get("model")
    if not isinstance(model, str) or not model:
        return None
    path = Path(model)
    if path.name == "hf":
        path = path.parent
    # absolute in configs written now; older configs hold it relative to the directory the run was started from
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, *(a / path for a in run.resolve().parents)]
    return next((c for c in candidates if (c / "summary.json").is_file()), None)


def steps_before(run: Path, depth: int = 8) -> int:
    """Training steps taken before `run` started: those of the run it started from, and so on back (a fine-tuning run
    after 800 pretraining steps starts at 800), so curves compare variants at equal total training."""
    total, seen = 0, {run.resolve()}
    current = run
    for _ in range(depth):
        parent = _started_from(current)
        if parent is None or parent.resolve() in seen:
            break
        seen.add(parent.resolve())
        try:
            total += int(json.loads((parent / "summary.json").read_text(encoding="utf-8")).get("global_step") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            break
        current = parent
    return total


def shown_path(path: Path, root: Path) -> str:
    """`path` as the UI shows it: relative to the runs directory (no machine paths on screen), else its last parts."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(*Path(path).parts[-2:]))
