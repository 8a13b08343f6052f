"""Typed on-disk contracts: one pydantic model per JSON file format, read and written through it.

`Contract` keeps unknown keys (a file of another version reads, and is rewritten with them) unless a format forbids
them, and refuses a file whose `FORMAT` keys say it is another format. `read_contract` turns every failure into one
`CbqaError` line `PATH: reason` naming a wrong field by its dotted path; `write_contract` writes atomically, indent 2.
Strict types (`StrictInt`, `Count`, ...) take JSON as it is: `true` is not an integer, `"1"` not a number.
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
    model_config = ConfigDict(extra="allow")
    FORMAT: ClassVar[dict[str, Any]] = {}  # what the file must say it is, e.g. {"format": "cbqa-spans/2"}
    WHAT: ClassVar[str] = "file of this format"  # what the error for another format calls it
    HINT: ClassVar[str] = ""  # how to fix a file that does not read, appended to every error

    @model_validator(mode="before")
    @classmethod
    def _is_this_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k) != v for k, v in cls.FORMAT.items()):
            want, found = (", ".join(f"{k} {d.get(k)!r}" for k in cls.FORMAT) for d in (cls.FORMAT, data))
            raise ValueError(f"not a {cls.WHAT} (expected {want}, found {found})")
        return data

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the keys the file had (or its writer set), in order."""
        return self.model_dump(exclude_unset=True)


def read_contract(model: type[M], path: str | Path) -> M:
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
        reason = str(e).split(":")[0] if isinstance(e, ValueError) else "nested too deeply"
        raise CbqaError(f"{path}: not valid JSON ({reason}){hint}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise CbqaError(f"{path}: {describe(e.errors()[0])}{hint}") from None


def write_contract(path: str | Path, model: BaseModel) -> None:
    with atomic_writer(path) as f:
        json.dump(model.model_dump(exclude_unset=True), f, ensure_ascii=False, indent=2)
        f.write("\n")


_EXPECTED = {"int": "an integer", "float": "a number", "string": "a string", "bool": "a boolean", "list": "a list"}
_EXPECTED |= {"dict": "an object", "model": "an object", "model_attributes": "an object"}


def describe(error: Any, field: str = "field ") -> str:
    """One pydantic error in words: `field 'encoder.dim' must be an integer, got str "x"`, `missing 'text'`."""
    *parents, last = error["loc"] or [""]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    expected = _EXPECTED.get(kind.removesuffix("_type")) or error["msg"].removeprefix("Input should be ")
    if kind in ("value_error", "assertion_error"):
        return f"{field}{loc!r} {ctx['error']}" if loc else str(ctx["error"])
    if kind == "missing":
        return f"missing {loc!r}"
    if kind == "extra_forbidden":
        return f"unknown key {last!r}" + (f" in {loc.rpartition('.')[0]!r}" if parents else "")
    if not loc:
        return f"expected a JSON object, got {type(value).__name__}"
    if isinstance(last, int) and kind.endswith("_type"):  # an item of a list of scalars
        parent = loc.rpartition("[")[0]
        return f"{field}{parent!r} must hold {expected.split(' ', 1)[-1]}s, found {type(value).__name__}"
    return f"{field}{loc!r} must be {expected}, got {type(value).__name__} {_json(value)[:40]}"


def _json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return "..."
