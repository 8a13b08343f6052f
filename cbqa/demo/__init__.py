"""The demo: the whole study on the embedded toy world, as a chain of the same commands a user runs.

Orchestration only; the library a GPU user imports (data, training, inference, overlap, retrieval) never imports
this package. `config` holds the demo's settings and variants, `stages` the resumable stage runner, `pipeline`
the study, `retrieval` its open-book stages.
"""

from cbqa.demo.config import VARIANTS, DemoConfig
from cbqa.demo.pipeline import Demo

__all__ = ["VARIANTS", "Demo", "DemoConfig"]
