"""The results row of `cbqa benchmark` (`OUT/benchmark.json`): one model on one prepared dataset, scored as the
dataset is scored (its normaliser, over all answers), overall and per test-train overlap category, with what made it.
The app's Benchmark page shows it beside the published rows of the results registry (`published_column`)."""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from cbqa.core.contracts import Contract, Count

ROW_FILE = "benchmark.json"
ROW_FORMAT = "cbqa-benchmark-row/1"
# registry tables of published rows, by what they compare with (cbqa/results/registry.yaml)
PUBLISHED_TABLES = {
    "roberts": "published_roberts2020",
    "realm": "published_realm_masking",
    "lewis": "published_lewis2021_nq",
}


class Score(Contract):
    em: StrictFloat | StrictInt | None
    f1: StrictFloat | StrictInt | None
    n: Count


class Timing(Contract):
    finetune_s: StrictFloat | StrictInt | None = None
    predict_s: StrictFloat | StrictInt | None = None
    total_s: StrictFloat | StrictInt


class BenchmarkRow(Contract):
    FORMAT = {"format": ROW_FORMAT}
    WHAT = "cbqa benchmark row"
    HINT = "write it with `cbqa benchmark --data DIR --model M --out DIR`"
    format: StrictStr
    dataset: StrictStr
    title: StrictStr
    protocol: StrictStr
    published_column: StrictStr | None = None  # the column of the published table this row compares with
    data: StrictStr  # the prepared dataset directory
    test_fingerprint: StrictStr  # sha256 of the prepared test file
    heldout_ids_fingerprint: StrictStr | None = None
    model: StrictStr  # what was asked for (--model)
    finetuned: StrictBool
    finetune_configs: list[StrictStr] = []
    answered_by: StrictStr  # the model that answered: --model, or the fine-tuned run directory
    prefix: StrictStr
    # "recorded" (the model's own record), "dataset" (the protocol's), "option" (--prefix), or "predictions" (a given
    # predictions file: the prefix it was made with is not known here)
    prefix_from: StrictStr
    normaliser: StrictStr
    system: StrictStr  # the predictions' system name
    predictions: StrictStr
    questions: Count  # test questions answered
    max_questions: Count | None = None  # set when only the first N test questions were answered (a smoke run)
    total: Score | None = None  # None for a hidden test set (no answers to score against)
    categories: dict[str, Score] = {}  # Lewis et al.'s labels (total, question_overlap, ...)
    relations: dict[str, Score] | None = None  # EntityQuestions: per relation
    overlap: StrictStr | None = None  # where the categories came from: "released: PATH" or "detector: METHOD"
    timing: Timing
    device: StrictStr
    created: StrictStr
    cbqa_version: StrictStr

    def category(self, name: str) -> dict[str, Any] | None:
        score = self.categories.get(name)
        return score.model_dump() if score is not None else None
