"""Ours beside redis_exporter 1.69 (Debian 13's, today's release): which families may differ, and why.

Every other family must have the same name, type, label names and HELP in both expositions of the
same server. The test modules import :func:`compare_169` and the sets below."""

from __future__ import annotations

from .test_exporter import family_table, helps

OTHER_HELPER_FAMILIES: dict[str, str] = {}  # families of 1.69 still being built elsewhere: none
GO_ONLY_PREFIXES = ("go_", "process_")  # Go's runtime; ours has its own process_* (compared apart)
OURS_ONLY = {
    "flextime_exporter_build_info": "the fleet's build info (beside redis_exporter_build_info)",
    "flextime_exporter_series_dropped_total": "the shared runtime's duplicate-sample counter",
    "promhttp_metric_handler_requests_total": "the shared runtime's handler metrics (1.69 serves none)",
    "promhttp_metric_handler_requests_in_flight": "the shared runtime's handler metrics (1.69 serves none)",
    "redis_scrape_collector_success": "the shared runtime's per-collector status (1.69 has none)",
    "redis_scrape_collector_duration_seconds": "the shared runtime's per-collector status (1.69 has none)",
}


def compare_169(ours: str, go: str, namespace: str = "redis") -> list[str]:
    """The differences between our exposition and 1.69's of the same server, as readable lines."""
    o, g = family_table(ours), family_table(go)
    oh, gh = helps(ours), helps(go)

    def named(name: str) -> str:
        return "redis_" + name[len(namespace) + 1 :] if name.startswith(namespace + "_") else name

    problems = []
    for name in sorted(set(g) - set(o)):
        if named(name) not in OTHER_HELPER_FAMILIES and not name.startswith(GO_ONLY_PREFIXES):
            problems.append(f"only 1.69 has {name} {g[name]}")
    for name in sorted(set(o) - set(g)):
        if named(name) not in OURS_ONLY and not name.startswith("process_"):
            problems.append(f"only ours has {name} {o[name]}")
    for name in sorted(set(o) & set(g)):
        if name.startswith("process_"):
            continue
        if o[name] != g[name]:
            problems.append(f"{name}: ours {o[name]} != 1.69 {g[name]}")
        if oh.get(name) != gh.get(name):
            problems.append(f"{name}: HELP {oh.get(name)!r} != 1.69 {gh.get(name)!r}")
    return problems
