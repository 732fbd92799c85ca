"""``flextime-exporter rules check FILES...``: is every series a rule file or dashboard uses provided?

Reads Prometheus rule files (YAML: ``groups`` -> ``rules`` -> ``expr``) and Grafana dashboards
(JSON: ``panels``, also nested in rows, -> ``targets`` -> ``expr``), takes the metric names out of
every PromQL expression and says, for each, who provides it:

- the fleet: the exporter(s) whose metric tables (``MetricDef``) declare it;
- a recording rule of the files checked;
- another component of the platform (:data:`OTHER_PROVIDERS`);
- nothing: ``MISSING``, and the command exits 1.

A file that is not YAML/JSON, or not a rule file or dashboard, is a :class:`ConfigError` naming the
file and line (the CLI prints it as one line, exit 2). Files found by walking a directory that are
valid YAML/JSON but neither (prometheus.yml, file_sd target lists) are skipped with a note.

The package: ``promql`` (the names an expression selects), ``loader`` (files with line numbers),
``catalogue`` (who provides a name), ``check`` (the report) and ``command`` (the click command).
Nothing here imports an exporter at module import time: the fleet's tables are read in
:func:`fleet_catalogue`, when the command runs.
"""

from __future__ import annotations

from .catalogue import OTHER_PROVIDERS, Catalogue, fleet_catalogue, other_provider
from .checker import Finding, check, classify, gather, report
from .loader import Source, Use, expand_paths, load
from .promql import PromQLError, Token, series_names, tokenize

__all__ = [
    "OTHER_PROVIDERS",
    "Catalogue",
    "Finding",
    "PromQLError",
    "Source",
    "Token",
    "Use",
    "check",
    "classify",
    "expand_paths",
    "fleet_catalogue",
    "gather",
    "load",
    "other_provider",
    "report",
    "series_names",
    "tokenize",
]
