"""End to end: `cbqa app` served on 127.0.0.1, driven by headless Debian Chromium through Playwright."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cbqa_app.screenshots import CHROMIUM

pytestmark = pytest.mark.slow


def test_ask_a_question_in_a_browser(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); this test never downloads a browser")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    from cbqa_app.screenshots import capture, serve
    from app_run import make_run

    run = make_run(tmp_path / "runs")
    question = json.loads((run / "world" / "test.jsonl").read_text().splitlines()[0])["question"]
    with serve(tmp_path / "runs") as url:
        shots = capture(url, tmp_path / "img", question)
    for path in shots.values():
        assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Keep them for a look when asked: CBQA_SCREENSHOTS=DIR.
    import os

    if os.environ.get("CBQA_SCREENSHOTS"):
        for path in shots.values():
            shutil.copy(path, Path(os.environ["CBQA_SCREENSHOTS"]) / path.name)
