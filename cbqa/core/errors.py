"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback.

Exit statuses (docs/reliability.md has the table): 2 bad input (a file, an option, a value: fix it and rerun),
3 the environment failed (disk full, read-only, no permission, a file size limit: finished work is kept, rerun when
fixed), 4 busy (another process is writing that output right now), 130 interrupted.
"""

from __future__ import annotations

import errno
import os


class CbqaError(Exception):
    """An error caused by the user's input, with a message that says what to fix."""

    exit_code = 2


class DataError(CbqaError):
    """Malformed input data. The message starts with `file:line:` where a line is known."""

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class EnvironmentProblem(CbqaError):
    """The machine refused: a full disk, a read-only file system, no permission, a file size limit."""

    exit_code = 3


class Busy(CbqaError):
    """Another process holds the output this command would write (or is writing what it would read)."""

    exit_code = 4


# What to do about each OS error a write can meet.
_ADVICE = {
    errno.ENOSPC: "free some space (or write elsewhere) and rerun; finished work is kept",
    errno.EDQUOT: "the disk quota is used up: free some space (or write elsewhere) and rerun",
    errno.EFBIG: "a file size limit (ulimit -f) stopped the write: raise it and rerun",
    errno.EROFS: "the file system is read-only: write the output elsewhere",
    errno.EACCES: "no permission: write the output elsewhere, or fix the permissions",
    errno.EPERM: "not permitted: write the output elsewhere, or fix the permissions",
    errno.EIO: "the device reported an I/O error: check the disk",
}
# OS errors that say something about the user's input (a path that is not there), not about the machine.
_INPUT = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


def from_os_error(e: OSError) -> CbqaError:
    """An OSError as one line naming the file, what happened and what to do (EnvironmentProblem, or CbqaError for a
    path that does not exist)."""
    where = e.filename if e.filename is not None else "?"
    what = e.strerror or os.strerror(e.errno) if e.errno else str(e)
    name = errno.errorcode.get(e.errno or 0, "")
    advice = _ADVICE.get(e.errno or 0, "")
    line = f"{where}: {what}{f' ({name})' if name else ''}{f'; {advice}' if advice else ''}"
    return CbqaError(line) if e.errno in _INPUT else EnvironmentProblem(line)
