"""Line-checked JSON Lines reading and atomic writing (through `cbqa.core.io`).

Readers accept a UTF-8 byte order mark at the start of a file (Windows editors write one) and turn every
malformed line into a `DataError` naming the file and line: invalid UTF-8, invalid JSON, JSON nested too deeply
for the parser, and strings holding lone surrogates (valid JSON escapes that no UTF-8 output could write).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cbqa.core.errors import DataError
from cbqa.core.io import atomic_writer

BOM = b"\xef\xbb\xbf"


def read_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) of a UTF-8 file; a decoding error names the line."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "no such file")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a file")
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
