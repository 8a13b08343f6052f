"""`cbqa cloze` as a library call: LAMA facts against several models, written as JSON, per-fact JSONL and a PNG.

    cset = load_cloze_set(["P19.jsonl", "P20.jsonl"], "relations.jsonl", source="template")
    result = run_cloze({"t5-small": "t5-small", "ssm": "runs/demo/models/ssm"}, cset, ClozeConfig(mode="rank"))
    write_cloze(Path("runs/cloze"), result)  # cloze.json, facts.jsonl, cloze.png (the directory swapped in whole)

Nothing in the outputs depends on the clock, so the same models and files give the same bytes.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cbqa.core.errors import CbqaError, DataError
from cbqa.core.formats.jsonl import write_json, write_jsonl
from cbqa.core.formats.lama import LamaFact, LamaRelation, read_lama
from cbqa.memorisation.cloze import (
    MODES,
    ClozeItem,
    Mode,
    RankBy,
    Scored,
    Skipped,
    Source,
    answer_sets,
    build_items,
    generate_items,
    headline,
    rank_items,
    summarise,
    valid_objects,
)

FORMAT = "cbqa-cloze/1"
RESULTS, FACTS, PLOT = "cloze.json", "facts.jsonl", "cloze.png"


@dataclass(frozen=True)
class ClozeConfig:
    mode: Mode = "rank"
    k: int = 10  # candidates (rank) or beams' spans (generate) kept per fact in facts.jsonl
    beams: int = 1  # generate mode: 1 = greedy
    rank_by: RankBy = "sum"  # the score the table, the plot and the top k order by; both are in cloze.json
    batch_size: int | None = None  # rank mode: (input, candidate) pairs per forward pass; None: sized to the vocab
    device: str = "auto"

    def check(self) -> None:
        if self.mode not in MODES:
            raise CbqaError(f"unknown --mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.k < 1:
            raise CbqaError(f"--k must be >= 1, got {self.k}")
        if self.beams < 1:
            raise CbqaError(f"--beams must be >= 1, got {self.beams}")
        if self.rank_by not in ("sum", "mean"):
            raise CbqaError(f"unknown --rank-by {self.rank_by!r}; choose from sum, mean")
        if self.batch_size is not None and self.batch_size < 1:
            raise CbqaError(f"--batch-size must be >= 1, got {self.batch_size}")


@dataclass
class ClozeSet:
    """The probe items of some LAMA files, and each relation's candidates."""

    facts: list[LamaFact]
    relations: dict[str, LamaRelation]
    items: list[ClozeItem]
    skipped: Skipped
    candidates: dict[str, list[str]]
    valid: dict[tuple[str, str], set[str]]
    source: Source
    files: list[str]
    relations_file: str | None


def load_cloze_set(
    lama: Sequence[str | Path],
    relations: str | Path | None = None,
    source: Source = "template",
    only: Sequence[str] | None = None,
) -> ClozeSet:
    """Read and check every file before any model runs; `only` keeps those relations. A relation with facts but no
    template (template source) is an error naming its first fact."""
    if not lama:
        raise CbqaError("give at least one LAMA file (--lama)")
    facts, templates = read_lama(lama, relations)
    if only:
        unknown = sorted(set(only) - {f.relation for f in facts})
        if unknown:
            raise CbqaError(f"no facts of relation(s) {', '.join(unknown)} in the LAMA files")
        facts = [f for f in facts if f.relation in set(only)]
    if source == "template":
        missing = [f for f in facts if f.relation not in templates]
        if missing:
            where, _, line = missing[0].where.rpartition(":")
            hint = "give LAMA's relations.jsonl with --relations" if relations is None else f"add it to {relations}"
            raise DataError(
                where, int(line), f"relation {missing[0].relation!r} has no template ({hint}, or use --source evidence)"
            )
    items, skipped = build_items(facts, templates, source)
    if not items:
        raise CbqaError("no fact has an evidence sentence with exactly one [MASK]; use --source template")
    return ClozeSet(
        facts=facts,
        relations=templates,
        items=items,
        skipped=skipped,
        candidates=answer_sets(facts),
        valid=valid_objects(facts),
        source=source,
        files=[str(p) for p in lama],
        relations_file=str(relations) if relations is not None else None,
    )


def probe_model(net, tok, cset: ClozeSet, cfg: ClozeConfig, device: Any = "cpu", progress=None) -> list[Scored]:
    """One loaded model's answer to every item of `cset`."""
    if cfg.mode == "rank":
        return rank_items(
            net, tok, cset.items, cset.candidates, cset.valid, cfg.k, cfg.rank_by, cfg.batch_size, device, progress
        )
    return generate_items(net, tok, cset.items, cfg.k, cfg.beams, device=device, progress=progress)


def run_cloze(
    models: dict[str, Any] | Sequence[str], cset: ClozeSet, cfg: ClozeConfig = ClozeConfig(), progress: bool = True
) -> dict[str, Any]:
    """Every model (name -> hub name, HF directory or run directory, or a loaded (network, tokenizer)) on every item:
    `{"results", "facts"}`, what `write_cloze` writes."""
    from cbqa.core.progress import progress_bar
    from cbqa.model.inference import pick_device
    from cbqa.model.loading import load_pretrained

    cfg.check()
    named = dict(models) if isinstance(models, dict) else {m: m for m in models}
    device = pick_device(cfg.device)
    per_model: dict[str, list[Scored]] = {}
    for name, path in named.items():
        net, tok = load_pretrained(path) if isinstance(path, str) else path
        net.to(device).eval()
        total = _work(cset, cfg)
        with progress_bar(f"cloze {name}", total, enabled=progress) as advance:
            per_model[name] = probe_model(net, tok, cset, cfg, device, advance)
    return assemble(cset, cfg, per_model, {n: p for n, p in named.items() if isinstance(p, str)})


def model_names(models: Sequence[str]) -> dict[str, str]:
    """Short names for the table: a directory's last two parts (`models/ssm` for runs/demo/models/ssm/hf), a hub
    name as it is; the full strings where two would share a name."""

    def short(m: str) -> str:
        parts = [p for p in Path(m).parts if p not in ("/", ".")]
        if parts and parts[-1] == "hf":
            parts = parts[:-1]
        return "/".join(parts[-2:]) if Path(m).exists() else m

    names = [short(m) for m in models]
    if len(set(names)) < len(names):
        names = list(models)
    return dict(zip(names, models))


def _work(cset: ClozeSet, cfg: ClozeConfig) -> int:
    if cfg.mode == "generate":
        return len(cset.items)
    return sum(len(cset.candidates[i.relation]) for i in cset.items)


def assemble(
    cset: ClozeSet, cfg: ClozeConfig, per_model: dict[str, list[Scored]], paths: dict[str, str]
) -> dict[str, Any]:
    items = cset.items
    relations = {
        r: {
            "template": cset.relations[r].template if r in cset.relations else None,
            "candidates": len(cset.candidates[r]),
            "facts": sum(i.relation == r for i in items),
            "answers": cset.candidates[r],  # the candidates (the app ranks them for a typed cloze)
        }
        for r in dict.fromkeys(i.relation for i in items)
    }
    results = {
        "format": FORMAT,
        "source": cset.source,
        **{k: v for k, v in asdict(cfg).items() if k not in ("device", "batch_size")},
        "lama": cset.files,
        "relations_file": cset.relations_file,
        "facts": len(items),
        "skipped": cset.skipped.to_json(),
        "relations": relations,
        "models": {
            name: {"path": paths.get(name, name), **summarise(items, scored, cfg.mode)}
            for name, scored in per_model.items()
        },
    }
    facts = []
    for j, item in enumerate(items):
        row: dict[str, Any] = {
            "id": item.id,
            "relation": item.relation,
            "subject": item.subject,
            "gold": item.gold,
            **({"aliases": list(item.aliases)} if item.aliases else {}),
            **({"split": item.split} if item.split is not None else {}),
            "input": item.input,
            "models": {},
        }
        for name, scored in per_model.items():
            s = scored[j]
            mine: dict[str, Any] = {"top": s.top}
            if cfg.mode == "rank":
                mine |= {"rank": s.rank, "rank_mean": s.rank_mean}
            else:
                mine["correct"] = s.correct
            row["models"][name] = mine
        facts.append(row)
    return {"results": results, "facts": facts}


def write_cloze(out: Path, result: dict[str, Any]) -> dict[str, Path]:
    """OUT/cloze.json, OUT/facts.jsonl and OUT/cloze.png, the directory published whole (`cbqa.core.io.replace_dir`):
    a reader never sees a mix of two runs, and a failed write leaves the old outputs."""
    from cbqa.core.io import replace_dir, staging_dir

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CbqaError(f"{out}: exists and is not a directory")
    staging = staging_dir(out)
    try:
        write_json(staging / RESULTS, result["results"])
        write_jsonl(staging / FACTS, result["facts"])
        plot_cloze(result["results"], staging / PLOT)
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"results": out / RESULTS, "facts": out / FACTS, "plot": out / PLOT}


def metric_name(results: dict[str, Any]) -> str:
    if results["mode"] == "generate":
        return "EM"
    return "P@1" + (" (length-normalised)" if results.get("rank_by") == "mean" else "")


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the headline table: one row per relation and one overall, one column per model (P@1 or
    EM, in percent), then one row per split where the files give splits."""
    models = list(results["models"])
    rank_by = results.get("rank_by", "sum")
    header = ["relation", "facts", *models]

    def cells(get) -> list[str]:
        return [_fmt(headline(get(results["models"][m]), rank_by)) for m in models]

    rows = [[r, str(v["facts"]), *cells(lambda m, r=r: m["relations"][r])] for r, v in results["relations"].items()]
    rows.append(["all", str(results["facts"]), *cells(lambda m: m["overall"])])
    first = next(iter(results["models"].values()), {})
    for split, m in first.get("splits", {}).items():
        rows.append([f"split {split}", str(m["n"]), *cells(lambda m, s=split: m["splits"][s])])
    if results["mode"] == "rank":
        rows.append(
            ["MRR (all)", str(results["facts"]), *[_fmt(results["models"][m]["overall"]["mrr"]) for m in models]]
        )
    return header, rows


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def cloze_table(results: dict[str, Any]):
    from rich.table import Table

    header, rows = table_rows(results)
    t = Table(title=f"cloze {metric_name(results)} (%), {results['source']} inputs, {results['mode']} mode")
    for i, h in enumerate(header):  # names wrap rather than being cut when the terminal is narrow
        t.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        t.add_row(*row)
    return t


def plot_cloze(results: dict[str, Any], path: Path) -> None:
    """Grouped bars: P@1 (or EM) per relation and overall, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results["models"])
    groups = [*results["relations"], "all"]
    rank_by = results.get("rank_by", "sum")
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.0))
    for k, name in enumerate(models):
        m = results["models"][name]
        values = [headline(m["relations"][g] if g != "all" else m["overall"], rank_by) or 0.0 for g in groups]
        ax.bar([i + (k - (len(models) - 1) / 2) * width for i in range(len(groups))], values, width, label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"{metric_name(results)} (%)")
    ax.set_title(f"cloze probe: {results['source']} inputs, {results['mode']} mode")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
