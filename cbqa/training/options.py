"""The options of a training command, checked against the classes' own types before jsonargparse parses them.

Every option (`--model.lr 0.1` on the command line, `model: {lr: 0.1}` in a `-c` config file) whose key names an
argument of the LightningModule, the DataModule (dataclass fields included) or the Trainer is checked with that
argument's annotation (`Literal` choices, the ranges of `cbqa.core.options`); a key that names none, or one that
moved, is reported with where it went. Each problem is one line naming the option — and the config file and line
that set it — never a usage screen: jsonargparse then parses what passed (and anything it still rejects is shown
as its own message on one line, without reading its wording).
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

from cbqa.core.errors import CbqaError
from cbqa.core.options import PositiveInt, problem

SECTIONS = ("model", "data", "trainer")
# Trainer arguments cbqa constrains further than Lightning's own types (a negative step count is a typo here).
TRAINER_TYPES: dict[str, Any] = {"max_steps": PositiveInt, "accumulate_grad_batches": PositiveInt}


def option_types(module_class: type, datamodule_class: type) -> dict[str, Any]:
    """Dotted option key -> annotation, for every argument of the module, the data module and the Trainer (the
    fields of dataclass-typed arguments as keys of their own)."""
    import lightning as L

    out: dict[str, Any] = {}
    for section, cls in zip(SECTIONS, (module_class, datamodule_class, L.Trainer)):
        for name, annotation in init_types(cls).items():
            out[f"{section}.{name}"] = annotation
            for field_name, field_type in dataclass_fields(annotation).items():
                out[f"{section}.{name}.{field_name}"] = field_type
    out.update({f"trainer.{k}": v for k, v in TRAINER_TYPES.items()})
    return out


def init_types(cls: type) -> dict[str, Any]:
    """The `__init__` arguments of `cls` and, through `**kwargs`, of its parents, with their annotations (Any where
    an annotation cannot be resolved)."""
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init, include_extras=True)
        except Exception:  # an annotation naming what only a type checker imports: the names still count
            hints = {}
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                out.setdefault(name, hints.get(name, Any))
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return out


def dataclass_fields(annotation: Any) -> dict[str, Any]:
    """The fields of a dataclass annotation (or of an optional one), with their annotations; else {}."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and is_dataclass(candidate):
            hints = typing.get_type_hints(candidate, include_extras=True)
            return {f.name: hints.get(f.name, Any) for f in fields(candidate)}
    return {}


def check_options(argv: list[str], types: dict[str, Any], moved: dict[str, str]) -> None:
    """Raise one `CbqaError` line for the first option of `argv` or of its config files that is unknown, moved, or
    of the wrong type or range."""
    for path in config_files(argv):
        for key, value in _flat(_load(Path(path))):
            found = _problem(key, value, types, moved)
            if found:
                line = _key_line(Path(path), key)
                raise CbqaError(f"{path}{f':{line}' if line else ''}: {found}")
    for key, raw in command_line_options(argv):
        try:
            value = yaml.safe_load(raw) if raw is not None else True
        except yaml.YAMLError:
            continue  # not for us to judge: jsonargparse parses such values its own way
        found = _problem(key, value, types, moved)
        if found:
            raise CbqaError(found)


def _problem(key: str, value: Any, types: dict[str, Any], moved: dict[str, str]) -> str | None:
    if key in moved:
        return f"--{key} {moved[key]}"
    if key.split(".")[0] not in SECTIONS or key in SECTIONS:
        return None
    if key not in types:
        if any(key.startswith(k + ".") for k in types):  # inside an option that takes a class or a mapping
            return None
        near = difflib.get_close_matches(key, list(types), n=1)
        return f"--{key}: no such option" + (f" (did you mean --{near[0]}?)" if near else "")
    if isinstance(value, dict) and dataclass_fields(types[key]):
        return None  # its fields are checked as keys of their own
    found = problem(types[key], value)
    if found is None:
        return None
    return f"--{key}{found}" if found.startswith(("[", ".")) else f"--{key}: {found}"


def command_line_options(argv: list[str]) -> Iterator[tuple[str, str | None]]:
    """(dotted key, raw value or None for a flag) of each `--key value` / `--key=value` of argv."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg in ("--config", "--print_config"):
            i += arg in ("--config",)
            continue
        key, eq, raw = arg[2:].partition("=")
        key = key.removesuffix("+")  # jsonargparse's `--trainer.callbacks+ X` appends to a list option
        if eq:
            yield key, raw
        elif i < len(argv) and not argv[i].startswith("--"):
            yield key, argv[i]
            i += 1
        else:
            yield key, None


def config_files(argv: list[str]) -> list[str]:
    out = []
    for i, arg in enumerate(argv):
        if arg in {"-c", "--config"} and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--config="):
            out.append(arg.split("=", 1)[1])
    return out


def check_config_files(argv: list[str]) -> None:
    """Every `-c/--config FILE` exists and is a YAML mapping; otherwise one `file:line: reason` error."""
    for path in config_files(argv):
        p = Path(path)
        if not p.is_file():
            raise CbqaError(f"{p}: {'is a directory, expected a YAML file' if p.is_dir() else 'no such config file'}")
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise CbqaError(f"{p}:{line}: not valid UTF-8 ({e.reason})") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark is not None else f"{p}"
            reason = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise CbqaError(f"{where}: invalid YAML ({reason})") from None
        except RecursionError:
            raise CbqaError(f"{p}: invalid YAML (nested too deeply)") from None
        if doc is not None and not isinstance(doc, dict):
            raise CbqaError(f"{p}: expected a mapping of options (key: value) at the top, got a {type(doc).__name__}")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))  # (check_config_files made sure it parses)
    return doc if isinstance(doc, dict) else {}


def _flat(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        yield dotted, value
        if isinstance(value, dict):
            yield from _flat(value, dotted + ".")


def _key_line(path: Path, dotted: str) -> int | None:
    """1-based line of `a.b.c` in a YAML file, or of its deepest existing parent."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        if match is None:
            break
        line, node = match[0].start_mark.line + 1, match[1]
    return line
