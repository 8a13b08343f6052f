"""cbqa.core.progress.progress_bar, the progress bar of every long-running command: drawn on stderr (stdout stays
for results) and erased at the end; disabled, it draws nothing."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from cbqa.core.progress import progress_bar


@pytest.fixture
def terminal(monkeypatch) -> dict:
    """The console the bar draws on, made a terminal (rich draws nothing live on a stream that is not one) whose
    screen is kept; also records which stream the bar asked for."""
    seen: dict = {"screen": io.StringIO(), "files": []}

    def console(file):
        seen["files"].append(file)
        return Console(file=seen["screen"], force_terminal=True, width=100)

    monkeypatch.setattr("rich.console.Console", console)
    return seen


@pytest.mark.parametrize("total", [4, None], ids=["known-total", "unknown-total"])
def test_enabled_bar_draws_on_stderr_follows_advance_and_is_erased(terminal, capsys, total) -> None:
    with progress_bar("counting", total=total) as advance:
        advance(1)
        advance()  # one by default
        advance(2, description="counting: 4 so far")
    screen = terminal["screen"].getvalue()
    assert terminal["files"] == [sys.stderr]
    assert "counting" in screen and "counting: 4 so far" in screen
    assert ("4/4" in screen) == (total is not None)  # units done of the total, when there is one
    assert screen.endswith("\x1b[2K")  # the bar's line erased at the end
    assert capsys.readouterr() == ("", "")  # nothing else printed


def test_disabled_draws_nothing_and_advance_takes_the_same_calls(terminal, capsys) -> None:
    with progress_bar("quiet", total=3, enabled=False) as advance:
        advance(1)
        advance()
        advance(1, description="still quiet")
    assert terminal["files"] == [] and terminal["screen"].getvalue() == ""
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("enabled", [True, False], ids=["drawn", "disabled"])
def test_within_cancel_with_advance_raises_once_the_event_is_set_in_that_thread_only(enabled) -> None:
    import threading

    from cbqa.core.progress import Cancelled, cancel_with

    stop, other_thread = threading.Event(), []

    def elsewhere() -> None:  # another thread's bar, started while this thread's event is set: not cancelled
        with progress_bar("other", total=2, enabled=enabled) as advance:
            advance()
            other_thread.append("advanced")

    with cancel_with(stop), progress_bar("counting", total=3, enabled=enabled) as advance:
        advance()  # not set yet: counts
        stop.set()
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        with pytest.raises(Cancelled):
            advance()
    assert other_thread == ["advanced"]
    with progress_bar("after", total=1, enabled=enabled) as advance:
        advance()  # outside the block the event no longer applies
