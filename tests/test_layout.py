"""The layout of the design card, and what the import-linter contracts in pyproject.toml (the layers, run by
`make test` as `lint-imports`) cannot state: no import cycles between files, no private names used by the app, and progress bars from one helper
(`cbqa.core.progress.progress_bar`: no other module imports `rich.progress`).
Import statements are parsed everywhere, inside functions and `if TYPE_CHECKING:` blocks too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name -> directory at the repository root
PACKAGES = {"cbqa": "cbqa", "ner_masking": "ner_masking", "retrieval_baseline": "retrieval_baseline", "cbqa_app": "app"}


def module_sources(root: Path = ROOT) -> dict[str, str]:
    """Every module of the four packages by dotted name -> source."""
    out = {}
    for name, directory in PACKAGES.items():
        for path in sorted((root / directory).rglob("*.py")):
            parts = [name, *path.relative_to(root / directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path.read_text(encoding="utf-8")
    return out


def imports_of(module: str, source: str, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every import statement of `module`.

    `from a.b import c` counts as importing module `a.b.c` when that is one of `known`, else `a.b` (name `c`).
    """
    is_package = any(k.startswith(module + ".") for k in known) or module in PACKAGES
    out: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, "", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full, "", node.lineno) if full in known else (base, alias.name, node.lineno))
    return out


def _ours(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def private_names_used_by_the_app(sources: dict[str, str]) -> list[str]:
    """`module:line: imports X._y` for every private name the app imports from the packages below it (the app is
    UI only: it calls their public API)."""
    known, found = set(sources), []
    for module, source in sources.items():
        if not module.startswith("cbqa_app"):
            continue
        for target, name, line in imports_of(module, source, known):
            ours = target.split(".")[0] in PACKAGES and not target.startswith("cbqa_app")
            if ours and any(p.startswith("_") and not p.startswith("__") for p in [*target.split("."), name]):
                found.append(f"{module}:{line}: imports {target}{'.' + name if name else ''}")
    return found


def cycles(sources: dict[str, str]) -> list[list[str]]:
    """Strongly connected groups of more than one module in the explicit import graph (Tarjan)."""
    known = set(sources)
    graph = {m: sorted({t for t, _, _ in imports_of(m, s, known) if t in known and t != m}) for m, s in sources.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_top_level_is_the_design_cards() -> None:
    for name in ("pyproject.toml", "README.md", "cbqa", "ner_masking", "retrieval_baseline", "app", "tests"):
        assert (ROOT / name).exists(), name
    assert not (ROOT / "src").exists()


def test_no_import_cycles_between_files() -> None:
    assert cycles(module_sources()) == []


def rich_progress_importers(sources: dict[str, str]) -> list[str]:
    """Modules other than `cbqa.core.progress` that import `rich.progress` (they would build a bar of their own)."""
    known = set(sources)
    return [
        f"{module}:{line}"
        for module, source in sources.items()
        if module != "cbqa.core.progress"
        for target, _, line in imports_of(module, source, known)
        if target == "rich.progress" or target.startswith("rich.progress.")
    ]


def test_progress_bars_come_from_one_helper() -> None:
    assert rich_progress_importers(module_sources()) == []
    sources = {**module_sources(), "cbqa.commands.predict": "from rich.progress import Progress\n"}
    assert rich_progress_importers(sources) == ["cbqa.commands.predict:1"]


def test_the_app_uses_no_private_names() -> None:
    assert private_names_used_by_the_app(module_sources()) == []


def test_checks_catch_a_cycle_and_a_private_name() -> None:
    sources = module_sources()
    sources["cbqa.demo.retrieval"] += "\nfrom cbqa.demo.pipeline import Demo\n"
    sources["cbqa_app.loaders"] += "\nfrom cbqa.overlap.labeller import _private\n"
    assert ["cbqa.demo.pipeline", "cbqa.demo.retrieval"] in cycles(sources)
    assert any("cbqa.overlap.labeller._private" in v for v in private_names_used_by_the_app(sources))


def test_pyproject_lists_every_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        m
        for m, _ in module_sources().items()
        if (ROOT / PACKAGES[m.split(".")[0]]).joinpath(*m.split(".")[1:], "__init__.py").exists()
    }
    assert listed == on_disk
    assert config["package-dir"] == {"cbqa_app": "app"}


def test_no_test_file_imports_another() -> None:
    """What test files share lives in tests/helpers/ (imported as `helpers`), so each test file stands alone."""
    tests = ROOT / "tests"
    test_files = {p.stem for p in tests.glob("test_*.py")}
    found = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}"
        for path in sorted(tests.rglob("*.py"))
        for target, _, line in imports_of(path.stem, path.read_text(encoding="utf-8"), set())
        if target.split(".")[0] in test_files
    ]
    assert found == []


def test_bench_scripts_import_the_installed_packages_public_names() -> None:
    """bench/ measures the package as installed: no sys.path edits, and only public names of our packages."""
    known = set(module_sources())
    found = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        found += [
            f"{path.name}:{n}: edits sys.path" for n, line in enumerate(source.splitlines(), 1) if "sys.path" in line
        ]
        for target, name, line in imports_of(f"bench.{path.stem}", source, known):
            private = [p for p in [*target.split("."), name] if p.startswith("_") and not p.startswith("__")]
            if _ours(target) and private:
                found.append(f"{path.name}:{line}: imports {target}{'.' + name if name else ''}")
    assert found == []
