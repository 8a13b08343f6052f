"""The results registry: every number the README and docs state, as data (`registry.yaml`, shipped with the package).

Three kinds of entry:
- `measured`: a figure a command produces. `run` names the command (in `runs`), `file` and `key` where its output
  holds the figure (a JSON file, a dotted key); `expected` is the mean over `n` runs, `sd` their spread, `tolerance`
  the half-width of the band a fresh run must fall in (the rule is `rule`, at the top of the file); `hardware` says
  what it needs (cpu, or gpu: skipped, with the reason, where there is none).
- `published`: a figure from a paper (`value`, `source`: paper, version and table).
- `estimate`: a figure computed by `formula` from measured or published `inputs`.

Entries with a `table` are drawn into the pages that show that table (`cbqa.results.pages`); `cbqa reproduce`
re-checks the measured ones (`cbqa.results.reproduce`).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cbqa.core.errors import CbqaError

REGISTRY = "registry.yaml"
EM_UNITS = ("EM", "F1", "P@1", "points")
MAX_EM_HALF_WIDTH = 10.0  # points: a band wider than this cannot tell a broken install from normal variation


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Run(_Strict):
    """A command whose outputs measured entries read; `{out}` in it is the directory it writes."""

    command: list[str]
    hardware: Literal["cpu", "gpu"] = "cpu"
    what: str = ""


class _Entry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:/@+-]*$")
    what: str
    unit: str = ""
    table: str | None = None
    row: str | None = None
    column: str | None = None


class Measured(_Entry):
    kind: Literal["measured"]
    run: str
    file: str
    key: str
    expected: float
    tolerance: float = Field(ge=0)
    sd: float | None = Field(default=None, ge=0)
    n: int = Field(ge=1)
    hardware: Literal["cpu", "gpu"] = "cpu"
    spread: str = ""  # what the n runs varied (training seeds, world seeds, ...)

    @property
    def low(self) -> float:
        return self.expected - self.tolerance

    @property
    def high(self) -> float:
        return self.expected + self.tolerance


class Published(_Entry):
    kind: Literal["published"]
    value: float
    source: str


class Estimate(_Entry):
    kind: Literal["estimate"]
    value: float
    formula: str
    inputs: list[str] = []


Entry = Annotated[Measured | Published | Estimate, Field(discriminator="kind")]


class Registry(_Strict):
    rule: str
    runs: dict[str, Run]
    entries: list[Entry]

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        ids = [e.id for e in self.entries]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"entry ids used twice: {twice}")
        for e in self.entries:
            if isinstance(e, Measured):
                if e.run not in self.runs:
                    raise ValueError(f"{e.id}: run {e.run!r} is not in runs")
                if e.unit in EM_UNITS and e.tolerance > MAX_EM_HALF_WIDTH:
                    raise ValueError(f"{e.id}: a band of ±{e.tolerance} {e.unit} is wider than ±{MAX_EM_HALF_WIDTH}")
            if isinstance(e, Estimate):
                missing = [i for i in e.inputs if i not in ids]
                if missing:
                    raise ValueError(f"{e.id}: inputs {missing} are not entries")
            if (e.table is None) != (e.row is None):
                raise ValueError(f"{e.id}: give table and row together")
        return self

    def entry(self, entry_id: str) -> Measured | Published | Estimate:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise CbqaError(f"no registry entry {entry_id!r} (cbqa reproduce --list shows them)")

    def measured(self) -> list[Measured]:
        return [e for e in self.entries if isinstance(e, Measured)]

    def published(self) -> list[Published]:
        return [e for e in self.entries if isinstance(e, Published)]

    def table(self, name: str) -> list[Measured | Published | Estimate]:
        return [e for e in self.entries if e.table == name]


def read_registry(path: str | Path | None = None) -> Registry:
    """The registry shipped with cbqa (or the file `path`), validated; a malformed one is one CbqaError line."""
    source = Path(path) if path is not None else files("cbqa.results").joinpath(REGISTRY)
    where = str(path) if path is not None else f"cbqa/results/{REGISTRY}"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CbqaError(f"{where}: unreadable ({str(e).splitlines()[0]})") from None
    try:
        return Registry.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise CbqaError(f"{where}: {loc}: {err['msg']}") from None


@cache
def registry() -> Registry:
    """The shipped registry, read once per process."""
    return read_registry()
