"""Serve the app and drive it in headless Chromium (Playwright): ask a question, wait for the answers, and
save screenshots of every page. Used by the browser test and by `make screenshots` to refresh docs/img:

    python -m cbqa_app.screenshots --runs runs/demo --out docs/img [--question "..."]

Needs Debian's chromium at /usr/bin/chromium and the `playwright` Python package; it never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def serve(runs: Path, port: int | None = None, timeout: float = 90.0, warm: bool = True) -> Iterator[str]:
    """`cbqa app --runs RUNS` on 127.0.0.1 in its own process group; yields its URL once it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cbqa",
            "app",
            "--runs",
            str(runs),
            "--port",
            str(port),
            *([] if warm else ["--no-warm"]),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):  # polling the health endpoint, which answers as soon as the server is up
            if proc.poll() is not None:
                raise RuntimeError(f"cbqa app exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"cbqa app did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group holds only the server this function started
        try:
            proc.wait(timeout=0.5)  # a served app keeps no state to save: no need to wait out a slow graceful stop
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


VIEWPORT = {"width": 1400, "height": 1700}
PAGES = ("probe", "benchmark", "overlap", "masking", "runs", "memorisation", "knowledge")


def capture(url: str, out: Path, question: str, timeout_ms: int = 120_000) -> dict[str, Path]:
    """Ask `question` on the Probe page, wait for every answer, and screenshot each page into `out`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(timeout_ms)
            return capture_on(page, url, out, question)
        finally:
            browser.close()


def capture_on(page, url: str, out: Path, question: str) -> dict[str, Path]:
    """`capture` on an open Playwright page (a test drives other checks in the same browser first)."""
    out.mkdir(parents=True, exist_ok=True)
    shots = {name: out / f"{name}.png" for name in PAGES}
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{url}/?page=probe")
    box = page.get_by_role("textbox", name="Question", exact=True)
    box.fill(question)
    box.press("Enter")
    page.get_by_text("answered in").first.wait_for()
    page.get_by_text("Answer among training answers").wait_for()
    wait_idle(page)
    page.screenshot(path=str(shots["probe"]), full_page=True)
    for name, ready in (
        ("benchmark", "Where two systems disagree"),
        ("overlap", "Nearest-training-question"),
        ("masking", "T5 input and target per policy"),
        ("runs", "Summaries"),
        ("memorisation", "Canary exposure"),
        ("knowledge", "answered in:"),  # the typed cloze (the first fact's template) filled by every model
    ):
        page.goto(f"{url}/?page={name}")
        page.get_by_text(ready).first.wait_for()
        if name in ("benchmark", "overlap", "runs", "knowledge"):
            page.locator(".vega-embed").first.wait_for()
        wait_idle(page)
        page.screenshot(path=str(shots[name]), full_page=True)
    return shots


def wait_idle(page) -> None:
    """Until Streamlit's "running" indicator is gone (the script run that drew the page has finished)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cbqa_app.screenshots", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True, type=Path)
    ap.add_argument("--out", default=Path("docs/img"), type=Path)
    ap.add_argument("--question", default="Who founded Winham Laboratories?")
    args = ap.parse_args(argv)
    with serve(args.runs) as url:
        for name, path in capture(url, args.out, args.question).items():
            print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
