"""Who provides a series: the names the fleet's exporters declare in their metric tables (read
through exporters/catalogue.py when the command runs), and the other components of the platform."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..catalogue import EXPORTERS
from .promql import METRIC_NAME

# Series other components of the platform provide, in one place: (name, or prefix ending in "*"; who).
OTHER_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("http_*", "the application"),
    ("kube_*", "kube-state-metrics"),
    ("up", "Prometheus"),
    ("ALERTS", "Prometheus"),
    ("scrape_*", "Prometheus"),
)


def _expand(name: str, mtype: str) -> list[str]:
    """The series names one family has: a histogram only its _bucket/_sum/_count, a summary also
    its quantile series under the bare name."""
    if mtype == "histogram":
        return [name + "_bucket", name + "_sum", name + "_count"]
    if mtype == "summary":
        return [name, name + "_sum", name + "_count"]
    return [name]


def _template_regex(template: str) -> re.Pattern:
    """A documented name with placeholders (``node_memory_<Key>_bytes``,
    ``pg_settings_<name>[_seconds|_bytes]``) as a regular expression."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "<":
            end = template.index(">", i)
            out.append("[A-Za-z0-9_]+")
            i = end + 1
        elif c == "[":
            end = template.index("]", i)
            out.append("(?:" + "|".join(re.escape(a) for a in template[i + 1 : end].split("|")) + ")?")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


@dataclass
class Catalogue:
    """The names the fleet provides: exact names -> exporters, and documented name patterns."""

    exact: dict[str, list[str]] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern, str, str]] = field(default_factory=list)  # (regex, template, exporter)

    def add(self, name: str, mtype: str, exporter: str) -> None:
        if METRIC_NAME.fullmatch(name):
            for series in _expand(name, mtype):
                owners = self.exact.setdefault(series, [])
                if exporter not in owners:
                    owners.append(exporter)
        else:
            for series in _expand(name, mtype):
                entry = (_template_regex(series), series, exporter)
                if entry[1:] not in [(p[1], p[2]) for p in self.patterns]:
                    self.patterns.append(entry)

    def lookup(self, name: str) -> str | None:
        """ "postgres", "node, postgres, redis, scheduler", "node (node_memory_<Key>_bytes)", or None."""
        if name in self.exact:
            return ", ".join(self.exact[name])
        hits: dict[str, list[str]] = {}
        for regex, template, exporter in self.patterns:
            if regex.fullmatch(name):
                hits.setdefault(exporter, []).append(template)
        if hits:  # the most specific template: node_memory_<Key>_bytes rather than node_memory_<Key>
            best = {e: max(t, key=lambda x: len(re.sub(r"<[^>]*>|\[[^]]*\]", "", x))) for e, t in hits.items()}
            return ", ".join(f"{e} ({t})" for e, t in best.items())
        return None


def fleet_catalogue() -> Catalogue:
    """Every name the fleet's exporters declare: their collectors' and sessions' metric tables
    (exporters/catalogue.py), the families every exporter's server adds, and the per-collector ones."""
    from ..core import selfmetrics, server

    # families every exporter's server adds to /metrics (core/server.py exporter_families)
    common = (
        *selfmetrics.PROCESS_METRICS,
        selfmetrics.BUILD_INFO,
        server.HANDLER_REQUESTS,
        server.HANDLER_IN_FLIGHT,
        server.SERIES_DROPPED,
    )
    cat = Catalogue()
    for name, exporter in EXPORTERS.items():
        spec = exporter.spec()
        for d in [*(d for _, d in exporter.metric_defs()), *common]:
            cat.add(d.name, d.type, name)
        for suffix in ("success", "duration_seconds"):
            cat.add(f"{spec.namespace}_scrape_collector_{suffix}", "gauge", name)
        if spec.probe_errors_metric:
            cat.add(spec.probe_errors_metric, "counter", name)
    return cat


def other_provider(name: str) -> str | None:
    for pattern, who in OTHER_PROVIDERS:
        if name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern:
            return who
    return None
