"""One writer per output: an OS lock on a lock file next to each run directory, spans store, index and demo directory.

`writer_lock(target, command)` takes an exclusive `flock` on `.NAME.lock` beside `target` (beside, not inside: a
store or index is swapped in whole by `cbqa.core.io.replace_dir`) and writes the holder's host, pid and command into
it. The kernel releases the lock when the process ends, however it ends (kill -9 included), so nothing is left to
clean; a second writer stops at once with one line naming the holder (`Busy`, exit 4). Readers never take it;
`writer_of(target)` tells them whether someone is writing what they are about to read.

flock is reliable on local file systems; on some network file systems (older NFS, some FUSE mounts) it is not
(docs/reliability.md says what to do there).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cbqa.core.errors import Busy


def lock_path(target: str | Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.lock"


@contextmanager
def writer_lock(target: str | Path, command: str) -> Iterator[Path]:
    """Hold the one-writer lock of output `target` for the block; `Busy` at once if another process holds it."""
    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                f"{target} is being written by {_holder(lock)}; wait for it to finish (or stop it), or write elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}: {command}\n".encode())
        yield lock
    finally:
        os.close(fd)  # (closing the descriptor releases the lock)


def writer_of(target: str | Path) -> str | None:
    """Who is writing `target` right now ('pid 123 on host: cbqa pretrain ...'), or None when no one is."""
    lock = lock_path(target)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(lock)
    finally:
        os.close(fd)
    return None


def _holder(lock: Path) -> str:
    try:
        return lock.read_text(encoding="utf-8").strip() or "another process"
    except (OSError, UnicodeDecodeError):
        return "another process"
