"""What every view receives: where the runs are, and the run chosen in the sidebar (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cbqa_app.run_dir import RunInfo


@dataclass(frozen=True)
class AppContext:
    runs_root: Path
    run: RunInfo | None  # None when no run directory was found or the chosen one is unusable
