"""Line-checked JSON Lines reading and atomic writing (through `cbqa.core.io`).

Readers accept a UTF-8 byte order mark at the start of a file (Windows editors write one) and turn every
malformed line into a `DataError` naming the file and line: invalid UTF-8, invalid JSON, JSON nested too deeply
for the parser, and strings holding lone surrogates (valid JSON escapes that no UTF-8 output could write).
`read_rows` reads the records of a format (corpus, QA, predictions) as pydantic models, `read_jsonl` plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cbqa.core.contracts import BOM, describe
from cbqa.core.errors import DataError
from cbqa.core.io import atomic_writer

R = TypeVar("R", bound=BaseModel)


def expect_file(path: Path) -> None:
    if not path.exists():
        raise DataError(path, None, "no such file")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a file")


def read_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) of a UTF-8 file; a decoding error names the line."""
    path = Path(path)
    expect_file(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; every line must be a JSON object."""
    for lineno, line in read_text_lines(path):
        if not line.strip():
            continue
        obj = parse_json(line, path, lineno)
        if not isinstance(obj, dict):
            raise DataError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_rows(path: str | Path, model: type[R], offset: int = 0, first_line: int = 1) -> Iterator[tuple[int, int, R]]:
    """(line number, byte offset, row) of each non-blank line from byte `offset` (line `first_line`) on, parsed and
    checked by `model` with pydantic's JSON parser: a corpus, QA or predictions line is read faster so than by
    `json.loads` and checks by hand (bench/readers.py). A bad line is one `DataError` at `file:line`."""
    path = Path(path)
    expect_file(path)
    with path.open("rb") as f:
        f.seek(offset)
        for lineno, raw in enumerate(f, start=first_line):
            start, offset = offset, offset + len(raw)
            if start == 0 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
            if not raw.strip():
                continue
            try:
                row: R | None = model.model_validate_json(raw)
            except ValidationError as e:
                if e.errors()[0]["type"] != "json_invalid":
                    raise DataError(path, lineno, describe(e.errors()[0], "")) from None
                # pydantic's parser refused the line: read_jsonl's checks say why (or take it: nested deeper, or
                # only Unicode spaces)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as u:
                    raise DataError(path, lineno, f"not valid UTF-8 ({u.reason} at byte {u.start})") from None
                row = parse_row(model, parse_json(text, path, lineno), path, lineno) if text.strip() else None
            if row is not None:
                yield lineno, start, row


def parse_row(model: type[R], obj: Any, path: str | Path, line: int | None) -> R:
    """`obj` (parsed JSON, or a row built in code) checked by `model`; a problem is one `DataError`."""
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise DataError(path, line, describe(e.errors()[0], "")) from None


def record_id(value: Any, path: str | Path, line: int | None) -> str:
    """A record's `id` (a string or an integer) as a string."""
    if value is None:
        raise DataError(path, line, "missing 'id'")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise DataError(path, line, f"'id' must be a string or integer, got {type(value).__name__}")
    return str(value)


def parse_json(text: str, path: str | Path, line: int | None) -> Any:
    """`json.loads` with every failure as a `DataError` at `path:line` (for a whole document, the error's line)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        where = line if line is not None else e.lineno
        raise DataError(path, where, f"invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise DataError(path, line, "invalid JSON (nested too deeply)") from None
    if "\\u" in text and _has_lone_surrogate(obj):
        raise DataError(path, line, "invalid JSON (a \\u escape encodes a lone surrogate, which is not a character)")
    return obj


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            try:
                o.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return False


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write dicts as JSON Lines; returns the number of rows."""
    n = 0
    with atomic_writer(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_writer(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")
