"""The study: the whole comparison (pretraining variants, closed-book QA, the retrieval arm, overlap analysis,
report) as a chain of the same commands a user runs, on the user's data (`cbqa study`) or the generated toy world
(`cbqa demo`).

Orchestration only; the library a GPU user imports (data, training, inference, overlap, retrieval) never imports
this package. `config` holds the settings and variants, `inputs` what a study reads, `stages` the resumable stage
runner and its lanes, `pipeline` the study, `retrieval` its open-book arm, `memorisation` the memorisation demo.
"""

from cbqa.demo.config import VARIANTS, StudyConfig
from cbqa.demo.pipeline import Study

__all__ = ["VARIANTS", "Study", "StudyConfig"]
