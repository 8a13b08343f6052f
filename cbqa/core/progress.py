"""The one progress bar of every long-running command (the only module that imports `rich.progress`).

`progress_bar` is a context manager that shows a rich progress bar on stderr (stdout stays for what a command prints
as its result), removed when the block ends, and yields an `advance` callable; disabled, it prints nothing and
`advance` does nothing.

A bar's `advance` is also where a long-running command can be stopped from outside: within `cancel_with(event)`,
every bar started in that thread raises `Cancelled` from `advance` once `event` is set. A study uses it to stop a
command running in one lane's thread (NER, encoding, indexing, retrieval, prediction) when a stage of another lane
fails: the command unwinds as from any error, its atomic writers leaving nothing half-written. Work without a bar
finishes first; work that waits on a child process can stop it through `cancel_event`."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from cbqa.core.errors import CbqaError


class Cancelled(CbqaError):
    """Raised by a progress bar's `advance` once the event of the enclosing `cancel_with` is set."""


# (a context variable: each thread has its own, so cancelling one lane's command leaves the other lanes' bars alone)
_cancel: ContextVar[threading.Event | None] = ContextVar("cbqa_progress_cancel", default=None)


@contextmanager
def cancel_with(event: threading.Event) -> Iterator[None]:
    """Within the block, in this thread, the `advance` of every progress bar started raises `Cancelled` once `event`
    is set."""
    token = _cancel.set(event)
    try:
        yield
    finally:
        _cancel.reset(token)


def cancel_event() -> threading.Event | None:
    """The event of the `cancel_with` block this thread is in, if any: for work that waits without a progress bar
    (a study's training child) to stop with it."""
    return _cancel.get()


class Advance(Protocol):
    def __call__(self, n: int = 1, description: str | None = None) -> None:
        """Move the bar on by `n` (0: only redraw) and, if `description` is given, show it instead of the last one."""


def _disabled(n: int = 1, description: str | None = None) -> None:
    return None


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Advance]:
    """A bar for `total` units: the description, the bar, units done of `total`, time elapsed and left. `total=None`
    (not known in advance): the description, a pulsing bar and the time elapsed; a command that counts something
    shows it in the description."""
    stop = cancel_event()
    if not enabled:
        yield _disabled if stop is None else _stoppable(_disabled, stop)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            if description is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, description=description)

        yield advance if stop is None else _stoppable(advance, stop)


def _stoppable(advance: Advance, stop: threading.Event) -> Advance:
    def advance_or_stop(n: int = 1, description: str | None = None) -> None:
        if stop.is_set():
            raise Cancelled("stopped at its progress bar's next step")
        advance(n, description)

    return advance_or_stop


@contextmanager
def hf_bars_off() -> Iterator[None]:
    """Without transformers' own bars ("Loading weights", "Writing model shards") for the small models cbqa loads and
    saves in a blink: noise in every command's log. The previous setting is restored for the caller's own loads."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
