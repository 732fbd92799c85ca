"""The exporters of the fleet and the other commands, in one place: name, module, one-line
description, and the way to their metric definitions.

Nothing here imports an exporter until asked (:meth:`Exporter.spec`), so ``--help`` lists every
command without loading a database driver, and the host exporter never loads one (memory:
docs/architecture.md). The command line (cli.py), ``fleet``, ``rules check`` and the generated
README (docs.py) all read this module; it imports none of them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core.metrics import MetricDef
    from .core.spec import ExporterSpec


@dataclass(frozen=True)
class Exporter:
    """One exporter: ``flextime-exporter NAME`` serves the ExporterSpec ``SPEC`` of ``module``."""

    name: str
    module: str
    description: str

    def spec(self) -> ExporterSpec:
        return importlib.import_module(self.module).SPEC

    def metric_defs(self) -> list[tuple[str, MetricDef]]:
        """Every family it can expose, with who emits it: (collector name, def) for the collectors'
        tables, ("(always)", def) for its session's families (``spec.session_metrics``)."""
        spec = self.spec()
        out = [(cls.name, d) for cls in spec.collectors for d in cls.metrics]
        out += [("(always)", d) for d in spec.session_metrics]
        return out


@dataclass(frozen=True)
class Tool:
    """A command that is not an exporter: the click command ``attribute`` of ``module``."""

    name: str
    module: str
    attribute: str
    description: str

    def command(self):
        return getattr(importlib.import_module(self.module), self.attribute)


EXPORTERS: dict[str, Exporter] = {
    e.name: e
    for e in (
        Exporter("node", "exporters.node", "Host metrics with node_exporter's names (default port 9100)."),
        Exporter(
            "postgres", "exporters.postgres", "PostgreSQL metrics with postgres_exporter's names (default port 9187)."
        ),
        Exporter(
            "redis", "exporters.redis", "Redis and Valkey metrics with redis_exporter's names (default port 9121)."
        ),
        Exporter(
            "scheduler",
            "exporters.scheduler",
            "FlexTime scheduling metrics and job-queue health from BullMQ, RQ, Celery or a SQL job table (default port 9839).",
        ),
    )
}

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "rules",
            "exporters.rules.command",
            "rules",
            "Check Prometheus rule files and Grafana dashboards: is every series they use provided by the "
            "fleet, by another component, or by nothing?",
        ),
        Tool(
            "fleet",
            "exporters.fleet",
            "command",
            "Run several exporters in one process, each on its own port or path (--config fleet.yml).",
        ),
        Tool(
            "inject",
            "exporters.inject.command",
            "inject",
            "Sidecar injection webhook: adds the postgres or redis exporter to pods annotated "
            "exporters.flextime.io/inject (AdmissionReview over TLS).",
        ),
    )
}


def description(name: str) -> str:
    """The one-line description of exporter ``name`` (its spec takes it from here)."""
    return EXPORTERS[name].description


def load_spec(name: str) -> ExporterSpec:
    """The ExporterSpec of exporter ``name`` (imports its package)."""
    return EXPORTERS[name].spec()
