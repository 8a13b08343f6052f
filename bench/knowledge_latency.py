"""How long the app's Knowledge page takes to answer a typed cloze, in a real browser, warm: `cbqa app` on a runs
directory, the Knowledge page opened once (its models loaded by the page's own first cloze), then `--clozes` typed
clozes, each timed from pressing Enter until every model's fillers are drawn and the page is idle.

    python bench/knowledge_latency.py --runs runs/demo
    python bench/knowledge_latency.py --runs runs/demo --cloze "Laura Emerson resides in ___" --cloze "Laura Emerson loves ___"

Prints each cloze's time and the median. Needs Debian's /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from cbqa_app.screenshots import CHROMIUM, CHROMIUM_ARGS, serve, wait_idle

DEFAULT = (
    "Laura Emerson resides in ___",  # a relation's template: each model ranks the relation's objects
    "Louise Montgomery is a native of ___",
    "Laura Emerson is on the staff of ___",
    "Laura Emerson spent her holidays in ___",  # no template: each model writes the span (beam search)
)


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, type=Path)
    ap.add_argument("--cloze", action="append", help="a typed cloze (repeatable; default: four)")
    args = ap.parse_args()
    clozes = args.cloze or list(DEFAULT)
    times = []
    with serve(args.runs) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(f"{url}/?page=knowledge")
            page.get_by_text("answered in:").first.wait_for()
            wait_idle(page)
            box = page.get_by_role("textbox", name="A sentence with a blank", exact=False)
            for text in clozes:
                before = page.get_by_text("answered in:").first.inner_text()
                box.fill(text)
                start = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(
                    "b => [...document.querySelectorAll('p')].some(p => p.innerText.includes('answered in:') "
                    "&& p.innerText !== b)",
                    arg=before,
                )
                wait_idle(page)
                times.append(time.perf_counter() - start)
                print(f"{times[-1]:.2f} s  {text!r}: {page.get_by_text('answered in:').first.inner_text()}")
        finally:
            browser.close()
    print(f"median {statistics.median(times):.2f} s over {len(times)} typed clozes (warm)")


if __name__ == "__main__":
    main()
