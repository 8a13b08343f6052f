"""File-system primitives every package shares: atomic writes of files and directories, and one fingerprint.

- `atomic_writer(path)`: an open temporary file next to `path`, renamed over it only when the block succeeds.
- `atomic_path(path)`: the same for libraries that write to a path themselves (pyarrow, numpy, FAISS).
- `replace_dir(staging, target)`: publish a finished directory at `target` with no moment where `target` is missing
  or half-written: `target` is a symlink to a versioned sibling directory, swapped with one `os.replace`. A reader
  of several files in it pins one version by resolving the path once. What a killed publisher left next to `target`
  (`stale_siblings`) is removed by the next publish or by `clean_stale(target)`. The version a publish replaced stays
  (`.NAME.prev`) until the next publish, so a reader that resolved the old one just before the swap can finish.
- `remove_tree(path)`: remove a file or directory, a `replace_dir`-published one with its version.
- `fingerprint(path)`: sha256 of a file's bytes (or of every file under a directory, in sorted path order), the one
  corpus fingerprint the spans store, the retrieval index and run directories record.

Fault injection, for tests: with `CBQA_FAULT=ENOSPC` (or EROFS, EACCES, ... any errno name) in the environment,
every write through this module raises that OSError; `CBQA_FAULT=ENOSPC:part` only for paths containing `part`.
(Tests run as root, where chmod does not make a directory read-only, and a full disk is hard to arrange.)
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

FINGERPRINT_PREFIX = "sha256:"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it is fsynced and renamed onto `path`, else removed.

    `suffix` lets a library that insists on an extension (numpy's `.npy`) see it. The temporary name carries this
    process's host and pid, so the temporary file a killed writer of `path` left behind is removed here.
    """
    path = Path(path)
    injected_fault(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_owner()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs are ordinary files
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def injected_fault(path: Path) -> None:
    """Raise the OSError that `CBQA_FAULT` asks for when it concerns `path` (see the module doc); else nothing."""
    spec = os.environ.get("CBQA_FAULT")
    if not spec:
        return
    name, _, part = spec.partition(":")
    if part and part not in str(path):
        return
    code = getattr(errno, name, errno.EIO)
    raise OSError(code, os.strerror(code), str(path))


_TEMP = re.compile(r"(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[A-Za-z0-9_]+(?:\.[A-Za-z0-9]+)?")


def _clean_stale_temps(path: Path) -> None:
    """Remove `.NAME.<host>-<pid>-*` temporary files of `path` whose writer (on this host) is dead."""
    host, _ = _owner().rsplit("-", 1)
    prefix = f".{path.name}."
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix) or not entry.is_file(follow_symlinks=False):
                continue
            m = _TEMP.fullmatch(entry.name[len(prefix) :])
            if m is not None and m["host"] == host and not _alive(int(m["pid"])):
                Path(entry.path).unlink(missing_ok=True)


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file next to `path` and rename it into place only on success."""
    with atomic_path(path) as tmp, tmp.open(mode, encoding=None if "b" in mode else "utf-8") as f:
        yield f


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    for p in directory.rglob("*"):
        if p.is_file() and not p.is_symlink():
            _fsync_file(p)
    _fsync_dir(directory)


def _owner() -> str:
    """`host-pid` of this process, part of the names of staging dirs and versions, so that a later publisher can tell
    what a killed process left behind (its pid is gone) from what a live one is still writing."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
    return f"{host}-{os.getpid()}"


def staging_dir(target: str | Path) -> Path:
    """A new empty directory next to `target`, to build its next version in (then `replace_dir`)."""
    target = Path(target)
    injected_fault(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.stage-{_owner()}-", suffix=".tmp", dir=target.parent))


def replace_dir(staging: str | Path, target: str | Path) -> Path:
    """Publish the finished directory `staging` at `target`, atomically and without a gap.

    The content moves to a versioned sibling `.NAME.v-<host>-<pid>-<id>`; `target` becomes (or stays) a relative
    symlink to it, swapped with one `os.replace` after everything is fsynced, so a reader always finds either the old
    or the new complete directory. The version just replaced is kept, pointed to by `.NAME.prev`, until the next
    publish: a reader that resolved `target` a moment before the swap can still open files in it (deleting it at
    once lost such a read under load). The version before that is removed, and so is whatever a publisher of the
    same `target` that was killed (SIGKILL, power loss) left next to it: its staging dir, an unpublished version.
    The cost is disk space for two versions. A plain directory at `target` (written before this scheme) is moved
    aside first; that one-time migration is the only moment without `target`.
    """
    staging, target = Path(staging), Path(target)
    injected_fault(target)
    mask = _umask()
    for p in [staging, *staging.rglob("*")]:  # mkdtemp/mkstemp create private entries; publish usual permissions
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)
    _fsync_tree(staging)
    tag = f"{_owner()}-{uuid.uuid4().hex[:12]}"
    version = target.with_name(f".{target.name}.v-{tag}")
    os.replace(staging, version)
    old: Path | None = None
    if target.is_symlink():
        old = target.parent / os.readlink(target)
    elif target.exists():
        old = target.with_name(f".{target.name}.old-{tag}")
        os.replace(target, old)
    link = target.with_name(f".{target.name}.link-{tag}")
    os.symlink(version.name, link)
    os.replace(link, target)
    _fsync_dir(target.parent)
    prev_link = previous_link(target)
    before = prev_link.parent / os.readlink(prev_link) if prev_link.is_symlink() else None
    if old is not None and old.resolve() != version.resolve():
        os.symlink(old.name, link)  # `.NAME.prev` -> the version just replaced, swapped in like `target`
        os.replace(link, prev_link)
    elif prev_link.is_symlink():
        prev_link.unlink()
    if before is not None and before.resolve() not in (version.resolve(), old.resolve() if old else None):
        _remove(before)
    clean_stale(target)
    return target


def previous_link(target: str | Path) -> Path:
    """The symlink `replace_dir` keeps to the version it last replaced (see there)."""
    target = Path(target)
    return target.with_name(f".{target.name}.prev")


def clean_stale(target: str | Path) -> list[Path]:
    """Remove what killed publishers of `target` left next to it (see `stale_siblings`); returns what was removed."""
    stale = stale_siblings(target)
    for path in stale:
        _remove(path)
    return stale


_SIBLING = re.compile(r"\.(?P<kind>stage|v|link|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-z_]+(?:\.tmp)?")


def stale_siblings(target: str | Path) -> list[Path]:
    """Entries next to `target` that publishers of `target` on this host left behind when they were killed: staging
    dirs, versions `target` does not point to, temporary links. Entries of live processes (another one may be
    publishing right now) and of other hosts (shared storage) are kept."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    host, me = _owner().rsplit("-", 1)
    current = target.resolve() if target.is_symlink() else None
    prev_link = previous_link(target)
    kept = {current, prev_link.resolve() if prev_link.is_symlink() else None} - {None}
    prefix = f".{target.name}."
    out = []
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        m = _SIBLING.fullmatch(entry.name[len(prefix) - 1 :])
        if m is None or m["host"] != host or entry.resolve() in kept:
            continue
        if m["pid"] == me and m["kind"] != "stage" or not _alive(int(m["pid"])):
            out.append(entry)
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_tree(path: str | Path) -> None:
    """Remove a file or directory; for a directory published by `replace_dir` (a symlink), also the version it points
    to and whatever killed publishers left next to it."""
    path = Path(path)
    prev_link = previous_link(path)
    if prev_link.is_symlink():
        previous = prev_link.parent / os.readlink(prev_link)
        prev_link.unlink()
        _remove(previous)
    if path.is_symlink():
        version = path.parent / os.readlink(path)
        path.unlink()
        _remove(version)
    elif path.exists():
        _remove(path)
    clean_stale(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fingerprint_chunks(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return FINGERPRINT_PREFIX + h.hexdigest()


def _file_chunks(path: Path, base: Path | None) -> Iterator[bytes]:
    if base is not None:
        yield str(path.relative_to(base)).encode() + b"\0"
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def fingerprint(path: str | Path) -> str:
    """sha256 of a file (or of every file under a directory, in sorted path order, names included)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return fingerprint_chunks(c for f in files for c in _file_chunks(f, path))
    return fingerprint_chunks(_file_chunks(path, None))
