"""The server process of `cbqa app`: Streamlit's own command line, with the app's heavy imports warmed meanwhile.

`python -m streamlit run` imports torch, transformers and scikit-learn only when the first question is asked, and
on 2 cores those imports are most of that first answer (~10 s of ~14 s). This entry point imports them in a
background thread while the server starts and waits for its first visitor, so they overlap the time a user spends
opening the page and typing; the page's own imports then find them done (Python's import locks make the page wait
for a module the thread is still importing, never import it twice). A failed import is left for the page to report
where it is needed.

    python -m cbqa_app.serve run app/main.py --server.port 8501 ...   # what `cbqa app` runs
"""

from __future__ import annotations

import importlib
import sys
import threading

# What answering the first question imports, heaviest first: the models' stack, then the overlap facts' TF-IDF.
WARM_IMPORTS = (
    "cbqa.model.inference",
    "cbqa.reader.copy_head",
    "sklearn.feature_extraction.text",
    "cbqa.overlap.question_similarity",
)


def warm_imports(names: tuple[str, ...] = WARM_IMPORTS) -> list[str]:
    """Import `names` in order; returns those that failed (the page reports them when it needs them)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def main() -> None:
    threading.Thread(target=warm_imports, name="cbqa-warm-imports", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
