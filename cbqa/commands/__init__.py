"""One module per `cbqa` subcommand, each with `main(argv) -> int | None` and its own argument parser."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

from cbqa.core.errors import CbqaError, from_os_error


def run(module: str, name: str, argv: list[str]) -> NoReturn:
    """Run a command module's `main(argv)` and exit with its status: a `CbqaError` (or an OSError: a full disk, a
    read-only directory) becomes one line on stderr and its exit status (cbqa.core.errors: 2 bad input, 3
    environment, 4 busy), Ctrl-C 130."""
    try:
        code = importlib.import_module(module).main(argv)
    except CbqaError as e:
        _fail(name, e)
    except OSError as e:  # the machine refused a read or write: one line, not a traceback
        _fail(name, from_os_error(e))
    except KeyboardInterrupt:
        print(f"cbqa {name}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def _fail(name: str, e: CbqaError) -> NoReturn:
    print(f"cbqa {name}: error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)
