"""End to end: `cbqa app` served on 127.0.0.1, driven by headless Debian Chromium through Playwright: screenshots of
every page, and the behaviours a researcher relies on, as a browser shows them."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cbqa_app.screenshots import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory, app_runs_template) -> Iterator[dict]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); this test never downloads a browser")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    from cbqa_app.screenshots import serve

    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(
        app_runs_template, root / "runs"
    )  # the session's tiny run (tests/helpers/app_run.py), a copy to serve
    run = root / "runs" / "demo"
    test = [json.loads(line) for line in (run / "world" / "test.jsonl").read_text().splitlines()]
    results = json.loads((run / "report" / "results.json").read_text())
    with serve(root / "runs") as url:
        yield {"url": url, "test": test, "root": root, "results": results}


def test_behaviours_then_screenshots_of_every_page(served) -> None:
    """One browser for both (a second Chromium and a second pass over every page cost more than they check)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from cbqa_app.screenshots import capture_on, wait_idle

    url, test = served["url"], served["test"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)

            # Probe: pick a test question (its gold answer fills the box), then type another: the box is empty.
            page.goto(f"{url}/?page=probe")
            page.get_by_text("...or pick a test question").wait_for()
            page.locator('[data-testid="stSelectbox"]').filter(has_text="pick a test question").click()
            page.get_by_role("option", name=test[0]["question"], exact=True).click()
            gold = page.get_by_role("textbox", name=re.compile("^Gold answer"))
            page.wait_for_function(
                "a => document.querySelector('input[aria-label^=\"Gold answer\"]').value === a",
                arg=" | ".join(test[0]["answers"]),
            )
            page.get_by_text("answered in").first.wait_for()  # the picked question's answers
            box = page.get_by_role("textbox", name="Question", exact=True)
            box.fill("Who painted the moon?")
            box.press("Enter")
            # the rerun for the typed question has replaced the picked one's page (its link to Benchmark is gone)
            page.get_by_text("its row in Benchmark").wait_for(state="detached")
            page.get_by_text("answered in").first.wait_for()
            wait_idle(page)
            assert gold.input_value() == ""

            # Overlap explorer: the category counts follow the threshold slider.
            page.goto(f"{url}/?page=overlap")
            line = page.get_by_text(re.compile(r"^question overlap \d+"))
            before = line.inner_text()
            wait_idle(page)  # a key pressed while the page's first script run is going can be lost (CI saw it)
            for _ in range(4):  # 0.80 -> 0.40 by pages of 0.10 (one script rerun each; 40 arrow steps took ~20 s)
                _press_until_moved(page, "Decision threshold", "PageDown")
            wait_idle(page)
            page.wait_for_function(
                "b => [...document.querySelectorAll('p')].some(p => p.innerText.startsWith("
                "'question overlap ') && p.innerText !== b)",
                arg=before,
            )

            # Benchmark: the bar chart as drawn (SVG) labels every category once, each label under its own bars.
            # (Vega-Lite hides labels it thinks overlap by giving them opacity 0: the bug this guards against
            # left every other category unlabelled, so the bars read as the neighbouring category's.)
            categories = {c for per in served["results"].values() for c, v in per.items() if v.get("em") is not None}
            page.goto(f"{url}/?page=benchmark")
            page.locator('.vega-embed svg [aria-label^="category: "]').first.wait_for()
            wait_idle(page)
            drawn = page.evaluate(CHART_LABELS_AND_BARS)
            labels = [label["text"] for label in drawn["labels"]]
            assert len(labels) == len(categories) and set(labels) == categories, (labels, sorted(categories))
            assert set(drawn["bars"]) == categories, drawn["bars"]
            for label in drawn["labels"]:
                left, right = drawn["bars"][label["text"]]
                assert left <= label["x"] <= right, (label, drawn["bars"])

            # Masking lab: typed_ssm with labels=DATE masks the sample's date.
            page.goto(f"{url}/?page=masking")
            page.get_by_role("textbox", name=re.compile("^Labels")).fill("DATE")
            page.get_by_role("textbox", name=re.compile("^Labels")).press("Enter")
            page.locator('[data-testid="stMultiSelect"]').filter(has_text="Masking policies").click()
            page.get_by_role("option", name="typed_ssm", exact=True).click()
            page.keyboard.press("Escape")
            page.get_by_text("typed_ssm", exact=True).last.wait_for()
            try:  # the chip shows before the rerun that draws typed_ssm's example has finished: wait for the example
                page.wait_for_function(TYPED_SSM_SHOWN, timeout=120_000)
            except PlaywrightTimeout:
                pass  # the assertion below shows what is there
            codes = page.locator("code").all_inner_texts()
            assert any("<extra_id_0>" in c and "1984" not in c for c in codes) and any("1984" in c for c in codes), (
                codes
            )

            # Screenshots of every page, the Probe one with a test question answered (what `make screenshots` saves).
            shots = capture_on(page, url, served["root"] / "img", test[0]["question"])
            assert set(shots) >= {"probe", "benchmark", "overlap", "masking", "runs", "memorisation", "knowledge"}
            for path in shots.values():
                assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            if os.environ.get("CBQA_SCREENSHOTS"):  # keep them for a look when asked: CBQA_SCREENSHOTS=DIR
                for path in shots.values():
                    shutil.copy(path, Path(os.environ["CBQA_SCREENSHOTS"]) / path.name)
        finally:
            browser.close()


def _press_until_moved(page, name: str, key: str, tries: int = 5) -> None:
    """Press `key` on the slider named `name` (an <input type=range>) until its value changes: a press can be lost
    while a rerun redraws the widget."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    slider = page.get_by_role("slider", name=name)
    value = slider.input_value()
    for _ in range(tries):
        slider.focus()
        slider.press(key)
        try:
            page.wait_for_function(
                '([n, v]) => document.querySelector(`input[aria-label="${n}"]`).value !== v',
                arg=[name, value],
                timeout=30_000,
            )
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{key} on the slider left it at {value} after {tries} presses")


# A masked date (an input with a sentinel and no 1984) and its target (1984) are both on the Masking lab page.
TYPED_SSM_SHOWN = """() => {
  const codes = [...document.querySelectorAll('code')].map(c => c.innerText);
  return codes.some(c => c.includes('<extra_id_0>') && !c.includes('1984')) && codes.some(c => c.includes('1984'));
}"""

# The visible labels of the Benchmark chart's x axis (text and the screen x of the point it is anchored at: its tick) and,
# per category, the screen x extent of its bars (Vega's SVG gives each bar an aria-label "category: C; ...").
CHART_LABELS_AND_BARS = """() => {
  const bars = {};
  for (const bar of document.querySelectorAll('.vega-embed svg [aria-label^="category: "]')) {
    const category = /^category: (.*?);/.exec(bar.getAttribute('aria-label'))[1];
    const box = bar.getBoundingClientRect();
    const [left, right] = bars[category] || [Infinity, -Infinity];
    bars[category] = [Math.min(left, box.left), Math.max(right, box.right)];
  }
  const chart = [...document.querySelectorAll('.vega-embed svg')].find(svg => svg.querySelector('[aria-label^="category: "]'));
  const axis = chart.querySelector('g[aria-label^="X-axis"]');
  const labels = [...axis.querySelectorAll('.role-axis-label text')]
    .filter(t => getComputedStyle(t).opacity !== '0' && getComputedStyle(t).visibility !== 'hidden' && t.textContent)
    .map(t => ({text: t.textContent, x: t.getScreenCTM().e}));
  return {labels, bars};
}"""
