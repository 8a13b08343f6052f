"""The results registry: every entry well formed, the pages drawn from it up to date (tests/test_docs.py), and
`cbqa reproduce` passing a run at the registry's means and failing one whose reader is 10 points under its band."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbqa.cli import main
from cbqa.results.registry import Measured, read_registry, registry


def test_the_shipped_registry_is_well_formed() -> None:
    reg = read_registry()  # (the schema: kinds, units, runs named, EM bands at most ±10, inputs of estimates exist)
    assert reg.measured() and reg.published()
    for e in reg.measured():
        assert e.low <= e.expected <= e.high


def fixture_run(root: Path, entries: list[Measured], shift: dict[str, float] | None = None) -> Path:
    """A run directory holding, at each entry's file and key, its expected value (plus `shift` by entry id)."""
    files: dict[str, dict] = {}
    for e in entries:
        node = files.setdefault(e.file, {})
        *parents, leaf = e.key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = e.expected + (shift or {}).get(e.id, 0.0)
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(content))
    return root


def reproduce(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["reproduce", *argv])
    return e.value.code, capsys.readouterr().out


def test_reproduce_passes_the_means_and_fails_a_reader_ten_points_under(tmp_path: Path, capsys) -> None:
    demo = [e for e in registry().measured() if e.run == "demo"]
    reader = next(e for e in demo if e.key == "retrieval_fid.no_overlap.em")
    code, out = reproduce(["demo", "--runs", str(fixture_run(tmp_path / "good", demo))], capsys)
    assert code == 0 and "FAIL" not in out, out
    bad = fixture_run(tmp_path / "bad", demo, {reader.id: -(reader.tolerance + 10.0)})
    code, out = reproduce(["demo", "--runs", str(bad)], capsys)
    assert code == 1 and out.count("FAIL") == 1 and reader.id[:30] in out, out


def test_a_missing_figure_fails_and_gpu_entries_are_skipped_on_a_cpu(tmp_path: Path, capsys) -> None:
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "rule: test\nruns:\n  r: {command: [cbqa, demo, --out, '{out}']}\n  g: {command: [cbqa, demo], hardware: gpu}\n"
        "entries:\n"
        "  - {id: r/a, kind: measured, what: a, unit: EM, run: r, file: x.json, key: a, expected: 5, tolerance: 1, n: 3}\n"
        "  - {id: g/b, kind: measured, what: b, unit: s, run: g, file: x.json, key: b, expected: 5, tolerance: 1, n: 3,"
        " hardware: gpu}\n"
    )
    (tmp_path / "run").mkdir()
    code, out = reproduce(["r", "--registry", str(reg), "--runs", str(tmp_path / "run")], capsys)
    assert code == 1 and "missing" in out
    code, out = reproduce(["g", "--registry", str(reg)], capsys)
    assert code == 0 and "skipped" in out and "1 skipped" in out
