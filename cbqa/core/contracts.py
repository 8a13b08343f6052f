"""Typed on-disk contracts: one pydantic model per JSON file format, read and written through it.

- `Contract`: the base model. Unknown keys are kept (a file written by another version reads, and is rewritten with
  them) unless a format says `extra="forbid"`; a format whose class sets `FORMAT` refuses a file that says it is
  another format (or version) before looking at any field. `to_dict()` is the JSON object of the file: the keys it
  had, or that its writer set, in order (fields first, in declaration order, then the unknown ones).
- `read_contract(Model, path)`: the file's bytes, a UTF-8 BOM stripped, parsed and validated; every failure is one
  `CbqaError` line `PATH: reason`, naming a wrong field by its dotted path (`field 'encoder.dim' must be an integer,
  got str "x"`).
- `write_contract(path, model)`: atomic (`cbqa.core.io.atomic_writer`), JSON indented by 2, with a trailing newline.

Strict types (`StrictInt`, `StrictBool`, `StrictStr`, `Count`) read JSON as it is: `true` is not an integer, `"1"` not
a number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from cbqa.core.errors import CbqaError
from cbqa.core.io import atomic_writer

BOM = b"\xef\xbb\xbf"
Count = Annotated[StrictInt, Field(ge=0)]
Number = Annotated[float, Field(strict=True)]  # a JSON number (an integer reads as a float)
M = TypeVar("M", bound=BaseModel)


class Contract(BaseModel):
    """A JSON file format (or an object inside one)."""

    model_config = ConfigDict(extra="allow")
    FORMAT: ClassVar[dict[str, Any]] = {}  # what the file must say it is, e.g. {"format": "cbqa-spans/2"}
    WHAT: ClassVar[str] = "file of this format"  # what the error for another format calls it
    HINT: ClassVar[str] = ""  # how to fix a file that does not read, appended to every error

    @model_validator(mode="before")
    @classmethod
    def _is_this_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k) != v for k, v in cls.FORMAT.items()):
            want = ", ".join(f"{k} {v!r}" for k, v in cls.FORMAT.items())
            found = ", ".join(f"{k} {data.get(k)!r}" for k in cls.FORMAT)
            raise ValueError(f"not a {cls.WHAT} (expected {want}, found {found})")
        return data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


def read_contract(model: type[M], path: str | Path) -> M:
    """`path` read as `model`; any failure is one `CbqaError` line that starts with the path."""
    hint = f"; {model.HINT}" if getattr(model, "HINT", "") else ""
    try:
        raw = Path(path).read_bytes()
        data = json.loads(raw[len(BOM) :].decode() if raw.startswith(BOM) else raw.decode())
    except OSError as e:
        raise CbqaError(f"{path}: cannot read ({e.strerror or e}){hint}") from None
    except UnicodeDecodeError as e:
        raise CbqaError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start}){hint}") from None
    except json.JSONDecodeError as e:
        raise CbqaError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}){hint}") from None
    except (ValueError, RecursionError) as e:  # an integer of too many digits; nesting too deep for the parser
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e).split(":")[0]
        raise CbqaError(f"{path}: not valid JSON ({reason}){hint}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise CbqaError(f"{path}: {_reason(e.errors()[0])}{hint}") from None


def write_contract(path: str | Path, model: BaseModel) -> None:
    """Write `model` (the keys set on it) to `path` atomically."""
    with atomic_writer(path) as f:
        json.dump(model.model_dump(exclude_unset=True), f, ensure_ascii=False, indent=2)
        f.write("\n")


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true/false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _reason(error: Any) -> str:
    """One validation error as the rest of the line after `PATH: `."""
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if not loc:
        if kind in ("value_error", "assertion_error"):
            return str(ctx.get("error", error["msg"]))
        return f"expected a JSON object, got {type(value).__name__}"
    if kind == "missing":
        return f"field {loc!r} is missing"
    if kind == "extra_forbidden":
        parent, _, key = loc.rpartition(".")
        return f"unknown key {key!r} in {parent!r}" if parent else f"unknown key {key!r}"
    if kind in ("value_error", "assertion_error"):
        return f"field {loc!r} {ctx.get('error', error['msg'])}"
    bounds = {"greater_than_equal": ">= {ge}", "greater_than": "> {gt}", "literal_error": "one of {expected}"}
    expected = _EXPECTED.get(kind) or bounds.get(kind, "").format(**ctx) or error["msg"].lower()
    return f"field {loc!r} must be {expected}, got {_shown(value)}"


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = "..."
    return f"{type(value).__name__} {text[:40]}"
