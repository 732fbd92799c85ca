"""``rules check``: every series the files use, who provides it, and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, TextIO

from ..core.errors import ConfigError
from .catalogue import Catalogue, fleet_catalogue, other_provider
from .loader import Source, expand_paths, expr_line, load
from .promql import PromQLError, series_names


@dataclass
class Finding:
    name: str
    kind: str  # "fleet", "recorded", "other", "missing"
    detail: str
    locations: list[str]

    def describe(self) -> str:
        if self.kind == "fleet":
            return self.detail
        if self.kind == "recorded":
            return f"recorded: {self.detail}"
        if self.kind == "other":
            return f"other: {self.detail}"
        return f"MISSING ({', '.join(self.locations)})"


def classify(uses: dict[str, list[str]], records: dict[str, str], catalogue: Catalogue) -> list[Finding]:
    """``uses``: name -> where it is used; ``records``: recording rule name -> where it is defined."""
    out = []
    for name in sorted(uses):
        locations = list(dict.fromkeys(uses[name]))
        fleet = catalogue.lookup(name)
        if fleet is not None:
            out.append(Finding(name, "fleet", fleet, locations))
        elif name in records:
            out.append(Finding(name, "recorded", records[name], locations))
        elif (who := other_provider(name)) is not None:
            out.append(Finding(name, "other", who, locations))
        else:
            out.append(Finding(name, "missing", "", locations))
    return out


def gather(sources: list[Source]) -> tuple[dict[str, list[str]], dict[str, str]]:
    uses: dict[str, list[str]] = {}
    records: dict[str, str] = {}
    for src in sources:
        for rec, line in src.records.items():
            records.setdefault(rec, f"{src.path}:{line}")
        for use in src.uses:
            try:
                names = series_names(use.expr)
            except PromQLError as exc:
                line = expr_line(use.where, "expr", use.expr, exc.offset) if use.where is not None else use.line
                raise ConfigError(f"{use.path}:{line}: {use.what}: cannot read the expression: {exc}") from None
            for name in names:
                uses.setdefault(name, []).append(f"{use.path}:{use.line}")
    return uses, records


def report(findings: list[Finding], files: int, out: TextIO) -> None:
    width = max((len(f.name) for f in findings), default=0)
    for f in findings:
        out.write(f"{f.name.ljust(width)}  {f.describe()}\n")
    count = {k: sum(1 for f in findings if f.kind == k) for k in ("fleet", "recorded", "other", "missing")}
    out.write(
        f"{len(findings)} series in {files} file{'s' if files != 1 else ''}: {count['fleet']} from the fleet, "
        f"{count['recorded']} recorded by rules, {count['other']} from other components, "
        f"{count['missing']} MISSING\n"
    )


def check(paths: Iterable[str | Path], out: TextIO, err: TextIO, catalogue: Catalogue | None = None) -> int:
    """Run ``rules check``: the report on ``out``, skipped files on ``err``; 1 when a series is
    provided by nothing, else 0. Bad input raises :class:`ConfigError`."""
    sources: list[Source] = []
    for path, explicit in expand_paths(paths):
        src = load(path, explicit)
        if src is None:
            err.write(f"skipped {path}: not a Prometheus rule file or Grafana dashboard\n")
        else:
            sources.append(src)
    uses, records = gather(sources)
    findings = classify(uses, records, catalogue if catalogue is not None else fleet_catalogue())
    report(findings, len(sources), out)
    return 1 if any(f.kind == "missing" for f in findings) else 0
