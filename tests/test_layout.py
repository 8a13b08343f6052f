"""The layout of the design card and one direction of imports, checked by parsing every import statement
(inside functions and `if TYPE_CHECKING:` blocks too).

    core        cbqa (version), cbqa.core.*                                           imports no other package
    packages    ner_masking, retrieval_baseline                                       import the core only
    library     the rest of cbqa (tokenizer, modeling, inference, reader, training, overlap, world)
    top         cbqa.demo.*, cbqa.commands.*, cbqa.cli, cbqa.__main__                 the only importers of demo/commands
    app         cbqa_app.* (the `app/` directory)                  no cbqa.demo*, cbqa.commands*, cbqa.cli, no _private
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


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


CORE = ("cbqa.core",)
TOP = ("cbqa.demo", "cbqa.commands", "cbqa.cli", "cbqa.__main__")
# Third-party packages a layer must not pull in (the design card's "must not import").
FORBIDDEN_THIRD_PARTY = {
    "ner_masking": ("lightning", "streamlit", "faiss"),
    "retrieval_baseline": ("lightning", "streamlit"),
    "cbqa": ("streamlit",),
}


def _is_core(module: str) -> bool:
    return module == "cbqa" or _under(module, *CORE)


def violations(sources: dict[str, str]) -> list[str]:
    """Every import that breaks the direction rules, as `module:line: reason`."""
    known = set(sources)
    found = []
    for module, source in sources.items():
        top_package = module.split(".")[0]
        for target, name, line in imports_of(module, source, known):
            where = f"{module}:{line}: imports {target}{'.' + name if name else ''}"
            for banned in FORBIDDEN_THIRD_PARTY.get(top_package, ()):
                if _under(target, banned):
                    found.append(f"{where} ({top_package} must not import {banned})")
            if not _ours(target):
                continue
            if _is_core(module) and not _is_core(target):
                found.append(f"{where} (the core imports only the core)")
            elif top_package in ("ner_masking", "retrieval_baseline") and not (
                _is_core(target) or _under(target, top_package)
            ):
                found.append(f"{where} ({top_package} imports only the core and itself)")
            if _under(target, *TOP) and not _under(module, *TOP):
                found.append(f"{where} (only the demo, the commands and the CLI import the demo or commands)")
            if _under(target, "cbqa.world") and not _under(module, "cbqa.world", *TOP):
                found.append(f"{where} (the toy-world generator is not part of the library)")
            if top_package == "cbqa_app" and not _under(target, "cbqa_app"):
                private = [p for p in [*target.split("."), name] if p.startswith("_") and not p.startswith("__")]
                if private:
                    found.append(f"{where} (the app uses no private names)")
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


def test_imports_run_one_way() -> None:
    assert violations(module_sources()) == []


def test_no_import_cycles_between_files() -> None:
    assert cycles(module_sources()) == []


@pytest.mark.parametrize(
    ("module", "source", "reason"),
    [
        ("cbqa.core.formats.corpus", "def f():\n    import ner_masking.store\n", "the core imports only the core"),
        ("cbqa.core.io", "from cbqa.training import module\n", "the core imports only the core"),
        ("ner_masking.ssm", "from cbqa.model.inference import Answerer\n", "imports only the core and itself"),
        ("retrieval_baseline.hits", "from ner_masking.store import SpanDoc\n", "imports only the core and itself"),
        ("retrieval_baseline.faiss_index", "import lightning\n", "must not import lightning"),
        ("cbqa_app.views.probe", "from cbqa.demo.retrieval import READER_PASSAGES\n", "demo or commands"),
        ("cbqa_app.loaders", "from cbqa.overlap.labeller import _private\n", "no private names"),
        ("cbqa.training.tasks", "from cbqa.world import generate_world\n", "not part of the library"),
    ],
)
def test_checker_catches_each_kind_of_violation(module: str, source: str, reason: str) -> None:
    sources = module_sources()
    sources[module] = source
    assert any(reason in v for v in violations(sources)), violations(sources)


def test_checker_catches_a_cycle() -> None:
    sources = module_sources()
    sources["cbqa.demo.retrieval"] += "\nfrom cbqa.demo.pipeline import Demo\n"
    assert ["cbqa.demo.pipeline", "cbqa.demo.retrieval"] in cycles(sources)


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
