"""How long the app's Probe page takes to answer, in a real browser: the server `cbqa app` starts (its imports of the
model stack warmed in the background while it waits) against plain `streamlit run` (`cbqa app --no-warm`), on the
same runs directory, in the same run of this script.

For each server: start it, wait `--idle` seconds (a user opening the page and reading it), open the Probe link of a
test question (`?page=probe&q=ID`) in headless Chromium, and time from opening the link until every answer is drawn
and Streamlit's "running" indicator is gone (the first question: models loaded, each one's "unsure" floor calibrated
on the dev set, the index opened and the reader loaded); then the same for `--questions` more test questions (all
cached). Prints the first and the median of the rest per server, and the ratio warmed / plain.

    python bench/probe_latency.py --runs runs/demo                  # idle 10 s, 5 more questions (~2 min)
    python bench/probe_latency.py --runs runs/demo --idle 0         # the first question asked at once

Needs Debian's /usr/bin/chromium and the playwright package (never downloads a browser).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from cbqa_app.screenshots import CHROMIUM, CHROMIUM_ARGS, serve, wait_idle


def test_ids(runs: Path, n: int) -> list[str]:
    """The first `n` test question ids of the run, found the way the app finds them."""
    from cbqa.core.formats import read_qa
    from cbqa_app.run_dir import read_run

    test = read_run(runs).path("test")
    if test is None:
        raise SystemExit(f"{runs}/manifest.json names no test file")
    return [row.id for row in read_qa(test)[:n]]


def timed_questions(url: str, ids: list[str]) -> list[float]:
    """Seconds from opening each question's Probe link until its answers are drawn and the page is idle."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            for qid in ids:
                start = time.perf_counter()
                page.goto(f"{url}/?page=probe&q={qid}")
                page.get_by_text("answered in").first.wait_for()
                wait_idle(page)
                out.append(time.perf_counter() - start)
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, required=True, help="a run directory with manifest.json (e.g. runs/demo)")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds between the server answering and the first link")
    ap.add_argument("--questions", type=int, default=5, help="cached questions after the first")
    args = ap.parse_args()
    if not (args.runs / "manifest.json").exists():
        raise SystemExit(f"{args.runs}/manifest.json: not found (run `make demo` or give --runs)")
    ids = test_ids(args.runs, 1 + args.questions)
    result = {}
    for name, warm in (("plain streamlit run", False), ("cbqa app (warmed)", True)):
        with serve(args.runs, warm=warm) as url:
            time.sleep(args.idle)
            t = timed_questions(url, ids)
        result[name] = {
            "first_s": round(t[0], 2),
            "cached_median_s": round(statistics.median(t[1:]), 2) if t[1:] else None,
        }
        print(f"{name:<22} first {t[0]:6.2f} s   cached median {result[name]['cached_median_s']} s", flush=True)
    ratio = result["cbqa app (warmed)"]["first_s"] / result["plain streamlit run"]["first_s"]
    print(f"first question, warmed / plain: {ratio:.2f} (idle {args.idle:g} s before the first link)")


if __name__ == "__main__":
    main()
