"""The registry's measured entries from repeated runs: mean, sd and the band rule (cbqa.results.aggregate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.results.aggregate import MAX_EM_HALF_WIDTH, PAIR_NOTE, entries
from cbqa.results.registry import Measured


def _run(root: Path, name: str, none_total: float, ssm_total: float) -> Path:
    run = root / name
    (run / "report").mkdir(parents=True)
    results = {"closed_book_none": {"total": {"em": none_total}}, "closed_book_ssm": {"total": {"em": ssm_total}}}
    (run / "report" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run


def _by_row(new: list[dict]) -> dict[str, dict]:
    return {e["row"]: e for e in new}


def test_mean_sd_and_three_sd_band_over_the_runs(tmp_path: Path) -> None:
    runs = [_run(tmp_path, f"s{i}", v, 20.0) for i, v in enumerate((10.0, 12.0, 14.0))]
    row = _by_row(entries("demo-worlds", runs, None))["closed-book, no pretraining objective"]
    assert (row["expected"], row["sd"], row["tolerance"], row["n"]) == (12.0, 2.0, 6.0, 3)
    assert row["id"] == "demo-worlds/closed-book-no-pretraining-objective/total"
    Measured.model_validate(row)  # what --write puts into registry.yaml is a valid entry


def test_the_summation_order_term_widens_a_band_and_a_pair_from_elsewhere_is_named(tmp_path: Path) -> None:
    runs = [_run(tmp_path, f"s{i}", 10.0, 20.0) for i in range(2)]  # no spread between the seeds
    twin = _run(tmp_path, "s0t2", 10.0, 24.0)
    rows = _by_row(entries("demo-worlds", runs, twin))
    assert rows["closed-book, salient span masking"]["tolerance"] == 4.0  # |20 - 24| beats 3 sd = 0
    assert rows["closed-book, no pretraining objective"]["tolerance"] == 0.01  # the smallest band written
    pair = [_run(tmp_path, "w0", 30.0, 50.0), _run(tmp_path, "w0t2", 33.0, 50.0)]
    rows = _by_row(entries("demo-worlds", runs, None, pair))
    assert rows["closed-book, no pretraining objective"]["tolerance"] == 3.0  # |30 - 33| from the other pair
    assert rows["closed-book, no pretraining objective"]["spread"].endswith(PAIR_NOTE)


def test_an_em_band_is_capped_and_says_what_the_rule_gave(tmp_path: Path) -> None:
    runs = [_run(tmp_path, f"s{i}", 10.0, v) for i, v in enumerate((0.0, 10.0, 20.0))]
    row = _by_row(entries("demo-worlds", runs, None))["closed-book, salient span masking"]
    assert row["tolerance"] == MAX_EM_HALF_WIDTH
    assert "the rule gives ±30.0" in row["what"]


def test_a_figure_missing_from_some_runs_is_an_error(tmp_path: Path) -> None:
    from cbqa.core.errors import CbqaError

    a = _run(tmp_path, "a", 10.0, 20.0)
    b = tmp_path / "b"
    (b / "report").mkdir(parents=True)
    (b / "report" / "results.json").write_text(
        json.dumps({"closed_book_ssm": {"total": {"em": 1.0}}}), encoding="utf-8"
    )
    with pytest.raises(CbqaError, match="closed_book_none.total.em"):
        entries("demo-worlds", [a, b], None)


def test_the_ratio_to_the_code_before_comes_from_the_back_to_back_pair(tmp_path: Path) -> None:
    from cbqa.results.aggregate import before_entries

    def timed(name: str, total: float, reader: float) -> Path:
        (tmp_path / name).mkdir()
        timings = {"total_s": total, "stages_s": {"reader finetune": reader}}
        (tmp_path / name / "timings.json").write_text(json.dumps(timings), encoding="utf-8")
        return tmp_path / name

    out = before_entries("demo-times", timed("before", 800.0, 100.0), timed("now", 600.0, 200.0))
    ratio = next(e for e in out if e["kind"] == "estimate")
    assert ratio["value"] == 0.75
    assert ratio["inputs"] == ["demo-times/paired/whole-run", "demo-times/before/whole-run"]
    # the stages of the pair side by side, each in its run's column
    cells = {(e["row"], e["column"]): e["expected"] for e in out if e["kind"] == "measured"}
    assert (
        cells[("reader finetune", "back to back")] == 200.0 and cells[("reader finetune", "main at 40b1dfe")] == 100.0
    )
    assert set(cells) == {(r, c) for r in ("whole run", "reader finetune") for c in ("back to back", "main at 40b1dfe")}


def test_one_run_of_a_bench_gets_the_share_band_for_rates_and_memory_and_a_fixed_one_for_recall(tmp_path: Path) -> None:
    run = tmp_path / "bench"
    run.mkdir()
    ivf = {"build": {"wall_s": 10.0, "peak_over_start_mb": 200.0, "index_mb": 300.0}, "load": {"batched_qps": 500.0}}
    (run / "results.json").write_text(json.dumps({"200000": {"ivf": {**ivf, "recall": 0.9}}}), encoding="utf-8")
    rows = {(e["row"], e["column"]): e for e in entries("bench-scale-retrieval", [run], None)}
    assert len(rows) == 5  # the figures this run has; the others (2M, flat, IVF-PQ) are left out
    assert rows[("ivf, 200,000 passages", "queries/s, batched")]["tolerance"] == 200.0
    assert rows[("ivf, 200,000 passages", "build peak over start (MB)")]["tolerance"] == 80.0
    assert rows[("ivf, 200,000 passages", "recall@10 vs flat")]["tolerance"] == 0.02


def test_the_wikipedia_ner_estimate_follows_the_benchs_rate(tmp_path: Path) -> None:
    from cbqa.results.aggregate import scale_ssm_estimates
    from cbqa.results.registry import Estimate

    run = tmp_path / "bench"
    run.mkdir()
    ner = [{}, {"steady_words_per_s": 5000.0, "store_bytes_per_word": 8.0}]
    (run / "scale_ssm.json").write_text(json.dumps({"ner": ner}), encoding="utf-8")
    measured = entries("bench-scale-ssm", [run], None)
    hours, size = scale_ssm_estimates(measured)
    assert hours["value"] == round(21_015_324 * 100 / 2500 / 3600)  # words / (words/s per core) / 3600 = 234
    assert size["value"] == 16.8  # 2.1B words x 8 bytes
    assert [*hours["inputs"], *size["inputs"]] == [e["id"] for e in measured]
    assert all(Estimate.model_validate(e).table == "scale-wikipedia" for e in (hours, size))

    growth = {"200000": {"rss_anon_growth_mb": 40.0}, "2000000": {"rss_anon_growth_mb": 76.0}}  # MiB
    (run / "scale_ssm.json").write_text(json.dumps({"ner": ner, "scale": growth}), encoding="utf-8")
    per_passage, per_rank = scale_ssm_estimates(entries("bench-scale-ssm", [run], None))[2:]
    assert per_passage["value"] == round(36 * 2**20 / 1_800_000, 1)  # 21.0 bytes
    assert per_rank["value"] == round((76 * 2**20 + 36 * 2**20 / 1_800_000 * 19_015_324) / 1e9, 2)  # 0.48 GB


def test_the_dpr_index_estimates_follow_the_benchs_2m_figures(tmp_path: Path) -> None:
    from cbqa.results.aggregate import scale_retrieval_estimates
    from cbqa.results.registry import Estimate

    run = tmp_path / "bench"
    run.mkdir()
    at_2m = {  # MiB, as the bench writes them: 640, 1,536 and 56 bytes a passage
        "flat": {
            "build": {"passages_mb": 2e6 * 640 / 2**20, "index_mb": 2e6 * 1536 / 2**20},
            "load": {"batched_qps": 42.0},
        },
        "ivfpq": {"build": {"index_mb": 2e6 * 56 / 2**20}},
    }
    (run / "results.json").write_text(json.dumps({"2000000": at_2m}), encoding="utf-8")
    got = {e["id"]: e for e in scale_retrieval_estimates(entries("bench-scale-retrieval", [run], None))}
    n = 21_015_324
    assert got["scale-dpr/passage-store-gb/768-d"]["value"] == round(640 * n / 1e9, 1)
    assert got["scale-dpr/flat-index-gb/384-d"]["value"] == round(1536 * n / 1e9, 1)
    assert got["scale-dpr/flat-index-gb/768-d"]["value"] == round(2 * 1536 * n / 1e9, 1)  # twice the vector bytes
    assert got["scale-dpr/ivf-pq-index-gb/768-d"]["value"] == round((56 + 48) * n / 1e9, 1)  # 96-byte codes, not 48
    assert got["scale-dpr/exact-search-on-one-thread-queries-s/768-d"]["value"] == round(42 * 2e6 / n / 2, 1)
    assert all(Estimate.model_validate(e).table == "scale-dpr" for e in got.values())
    assert scale_retrieval_estimates([]) == []  # a run without the 2M figures has nothing to carry on


def test_write_refuses_runs_without_the_tables_figures_instead_of_emptying_its_block(tmp_path, monkeypatch) -> None:
    import sys

    from cbqa.results import aggregate

    registry, before = tmp_path / "registry.yaml", aggregate.REGISTRY.read_text(encoding="utf-8")
    registry.write_text(before, encoding="utf-8")
    monkeypatch.setattr(aggregate, "REGISTRY", registry)
    empty = tmp_path / "run"
    empty.mkdir()
    (empty / "results.json").write_text("{}", encoding="utf-8")
    for runs, said in (([str(empty)], "no figure of table bench-scale-overlap"), ([str(tmp_path / "typo")], "no such")):
        monkeypatch.setattr(sys, "argv", ["aggregate", "bench-scale-overlap", "--runs", *runs, "--write"])
        with pytest.raises(SystemExit, match=said):
            aggregate.main()
    assert registry.read_text(encoding="utf-8") == before  # the table's entries are still there
