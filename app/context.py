"""What every view receives: where the runs are, and the run chosen in the sidebar (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from cbqa_app.run_dir import RunInfo


@dataclass(frozen=True)
class AppContext:
    runs_root: Path
    run: RunInfo | None  # None when no run directory was found or the chosen one is unusable
    run_label: str = ""  # the run as the sidebar names it (relative to runs_root): what links carry

    def probe_link(self, question_id: str) -> str:
        """A link (query parameters, so it can be shared) that opens this run's question `question_id` in Probe."""
        return "?" + urlencode({"page": "probe", "run": self.run_label, "q": question_id})

    def page_link(self, page: str, **params: str) -> str:
        return "?" + urlencode({"page": page, "run": self.run_label, **params})
