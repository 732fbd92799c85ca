"""deploy/grafana/: the dashboards are valid Grafana dashboard models, every query parses in a real
Prometheus, and every metric they use is one the fleet (or another component) provides.

* the model: uid (unique across files), title, schemaVersion, tags, the ``${datasource}`` variable
  used by every query panel and target, unique panel ids, gridPos, and only panel types that exist
  in current Grafana (the seed's retired ``graph`` and ``singlestat`` are refused);
* every target's ``expr`` and every variable's ``label_values(...)`` selector, with Grafana's
  variables substituted, is sent to Debian's Prometheus (2.42, empty scrape config): a query that
  does not parse comes back as ``bad_data``;
* every metric name is one our exporters define (their MetricDef tables, session and self
  metrics), or the app's ``http_*``, kube-state-metrics' ``kube_*``, or Prometheus' ``up``;
* the provisioning files point at the dashboards and define the datasource they default to."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Prometheus, http_get

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))

# Panel types of current Grafana (10/11) core; "graph", "singlestat", "table-old" are retired.
PANEL_TYPES = {
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "text",
    "heatmap",
    "histogram",
    "piechart",
    "state-timeline",
    "status-history",
    "row",
    "logs",
    "barchart",
}
RETIRED = {"graph", "singlestat", "table-old", "grafana-piechart-panel"}
NO_QUERY_TYPES = {"row", "text"}
DATASOURCE_REF = "${datasource}"

# Grafana's built-in variables, as a query at one instant would see them
BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "60000",
}

PROMQL_WORDS = {
    # aggregations, binary/set operators and modifiers
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
}


def _dashboards() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in DASHBOARD_FILES]


def _all_panels(panels: list) -> list[dict]:
    """Panels, including those nested in collapsed rows."""
    out = []
    for p in panels:
        out.append(p)
        out.extend(_all_panels(p.get("panels", [])))
    return out


def _variables(dash: dict) -> list[dict]:
    return dash.get("templating", {}).get("list", [])


def _variable_query(var: dict) -> str:
    q = var.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else q


def _targets(dash: dict):
    for panel in _all_panels(dash["panels"]):
        for target in panel.get("targets", []):
            yield panel, target


def substitute(expr: str, dash: dict) -> str:
    """``expr`` with Grafana's variables replaced as a query would see them: built-in intervals by
    durations, query/custom variables by '.*' (they are only used inside =~ matchers), interval and
    constant variables by their first value."""
    values = dict(BUILTINS)
    for var in _variables(dash):
        kind = var.get("type")
        if kind in ("interval", "custom", "constant") and var.get("options"):
            values[var["name"]] = var["options"][0]["value"]
        elif kind in ("interval", "custom", "constant"):
            values[var["name"]] = str(_variable_query(var)).split(",")[0].strip()
        else:
            values[var["name"]] = ".*"

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise AssertionError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    # ${name}, ${name:format}, [[name]], $name (longest names first is implied by \w+ greediness)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_DURATION = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers that are not functions (followed by '('),
    keywords, label names in by/on/...(...) or {...}, strings, durations or numbers."""
    text = _STRING.sub(" ", expr)
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _DURATION.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("("):  # a function call or an aggregation
            continue
        if m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]+)"', expr):
        names.add(m.group(1))
    return names


def test_metric_names_extraction():
    expr = (
        'sum by (instance, server) (pg_stat_activity_count{job=~"$job",state="idle"}) / on (instance, server) '
        "max by (instance, server) (pg_settings_max_connections) and "
        'histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="b"}[5m] offset 1h))) > bool 1e3 '
        'or label_replace(up, "dst", "$1", "src", "(.*)") unless topk(5, y) * 60'
    )
    assert metric_names(expr) == {"pg_stat_activity_count", "pg_settings_max_connections", "x_bucket", "up", "y"}


# ---------------------------------------------------------------- the fleet's metric names


def _exporter_metric_patterns() -> list[re.Pattern]:
    """Every family the four exporters can expose, as full-match patterns: the collectors' MetricDef
    tables, the sessions' families, <namespace>_scrape_collector_*, and the exporters' own metrics.
    Names written as templates (``node_memory_<Key>_bytes``, ``pg_settings_<name>[_seconds|_bytes]``)
    become patterns."""
    from exporters.catalogue import EXPORTERS, load_spec
    from exporters.core.metrics import MetricDef

    defs: set = set()
    names: set[str] = set()
    for name in EXPORTERS:
        spec = load_spec(name)
        for cls in spec.collectors:
            defs.update(cls.metrics)
        defs.update(spec.session_metrics)
        names.update(
            {f"{spec.namespace}_scrape_collector_success", f"{spec.namespace}_scrape_collector_duration_seconds"}
        )
        if spec.probe_errors_metric:
            names.add(spec.probe_errors_metric)
        # families defined outside the collector tables (pg_up, redis_up, the session's status)
        package = importlib.import_module(f"exporters.{name}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"exporters.{name}.{info.name}")
            for value in vars(module).values():
                if isinstance(value, MetricDef):
                    defs.add(value)
                elif isinstance(value, (tuple, list)) and value and all(isinstance(v, MetricDef) for v in value):
                    defs.update(value)
    # the exporters' own metrics (README: "process_*, flextime_exporter_build_info, promhttp_*")
    from exporters.core import selfmetrics, server

    defs.update(selfmetrics.PROCESS_METRICS)
    defs.add(selfmetrics.BUILD_INFO)
    defs.update(v for v in vars(server).values() if isinstance(v, MetricDef))

    for d in defs:
        if d.type == "histogram":
            names.update({d.name + "_bucket", d.name + "_sum", d.name + "_count"})
        elif d.type == "summary":
            names.update({d.name, d.name + "_sum", d.name + "_count"})
        else:
            names.add(d.name)
    patterns = []
    for n in names:
        if "<" in n or "[" in n:
            rx = re.sub(r"\\\[(.*?)\\\]", lambda m: "(" + m.group(1).replace("\\|", "|") + ")?", re.escape(n))
            rx = re.sub(r"<\w+>", "[A-Za-z0-9_]+", rx)
            patterns.append(re.compile(rx))
        else:
            patterns.append(re.compile(re.escape(n)))
    return patterns


# the app's http_* metrics, kube-state-metrics' kube_*, Prometheus' own per-target series
OTHER_COMPONENTS = [
    re.compile(r"http_\w+"),
    re.compile(r"kube_\w+"),
    re.compile(r"up|scrape_duration_seconds|scrape_samples_scraped"),
]


@pytest.fixture(scope="module")
def known_metrics() -> list[re.Pattern]:
    return _exporter_metric_patterns() + OTHER_COMPONENTS


def test_fleet_metric_names_are_collected(known_metrics):
    def known(name):
        return any(p.fullmatch(name) for p in known_metrics)

    for name in (
        "pg_up",
        "redis_up",
        "scheduler_up",
        "node_memory_MemAvailable_bytes",
        "pg_settings_max_connections",
        "schedule_generation_duration_seconds_bucket",
        "flextime_exporter_build_info",
        "process_resident_memory_bytes",
        "pg_scrape_collector_success",
        "kube_pod_status_phase",
    ):
        assert known(name), name
    assert not known("pg_no_such_metric")
    assert not known("node_memory")


# ---------------------------------------------------------------- the dashboard model


def test_dashboards_exist():
    names = {p.name for p in DASHBOARD_FILES}
    assert {
        "system-overview.json",
        "infrastructure.json",
        "postgresql.json",
        "redis.json",
        "scheduling-queue.json",
    } <= names, names


def test_uids_and_titles_unique():
    dashes = [d for _, d in _dashboards()]
    uids = [d.get("uid") for d in dashes]
    titles = [d.get("title") for d in dashes]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_model(path: Path):
    dash = json.loads(path.read_text())
    assert "dashboard" not in dash, "the file must be the dashboard model itself, not an API envelope"
    assert isinstance(dash.get("uid"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"]), dash.get("uid")
    assert isinstance(dash.get("title"), str) and dash["title"].strip()
    assert isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36, dash.get("schemaVersion")
    assert dash.get("id") is None, "a provisioned dashboard has no numeric id"
    assert isinstance(dash.get("tags"), list) and dash["tags"] and all(isinstance(t, str) for t in dash["tags"])

    variables = {v["name"]: v for v in _variables(dash)}
    ds = variables.get("datasource")
    assert ds is not None, "no datasource variable"
    assert ds["type"] == "datasource" and ds["query"] == "prometheus", ds
    for var in variables.values():
        if var["type"] == "query":
            assert var.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_REF}, var["name"]
            assert _variable_query(var).strip(), var["name"]

    panels = _all_panels(dash["panels"])
    assert panels
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(set(ids)) == len(ids), f"duplicate panel ids: {ids}"
    for p in panels:
        where = f"{path.name}: panel {p.get('id')} {p.get('title')!r}"
        assert p.get("type") not in RETIRED, f"{where}: retired panel type {p.get('type')}"
        assert p.get("type") in PANEL_TYPES, f"{where}: unknown panel type {p.get('type')}"
        assert isinstance(p.get("title"), str) and p["title"].strip(), where
        g = p.get("gridPos")
        assert isinstance(g, dict) and all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")), where
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["y"] >= 0 and g["x"] + g["w"] <= 24, where
        if p["type"] in NO_QUERY_TYPES:
            continue
        assert p.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_REF}, f"{where}: {p.get('datasource')}"
        assert p.get("targets"), f"{where}: no targets"
        ref_ids = [t.get("refId") for t in p["targets"]]
        assert len(set(ref_ids)) == len(ref_ids) and all(ref_ids), f"{where}: refIds {ref_ids}"
        for t in p["targets"]:
            assert t.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_REF}, f"{where}: {t}"
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where}: {t}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_panels_do_not_overlap(path: Path):
    dash = json.loads(path.read_text())
    cells: dict = {}
    for p in dash["panels"]:  # top level: a collapsed row's panels are laid out when it opens
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{path.name}: panel {p['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = p["id"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_multi_value_variables_use_regex_matchers(path: Path):
    """A multi-value or 'All' variable expands to a regex: an equality matcher would match nothing."""
    dash = json.loads(path.read_text())
    multi = {v["name"] for v in _variables(dash) if v.get("multi") or v.get("includeAll")}
    exprs = [t["expr"] for _, t in _targets(dash)] + [
        _variable_query(v) for v in _variables(dash) if v["type"] == "query"
    ]
    for expr in exprs:
        for m in re.finditer(r'(\w+)\s*(=|!=|=~|!~)\s*"([^"]*)"', expr):
            used = set(re.findall(r"\$\{?(\w+)", m.group(3)))
            if used & multi:
                assert m.group(2) in ("=~", "!~"), f"{path.name}: {m.group(0)} in {expr!r}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_metrics_are_provided(path: Path, known_metrics):
    dash = json.loads(path.read_text())
    exprs = [t["expr"] for _, t in _targets(dash)] + [
        _label_values_selector(v) for v in _variables(dash) if v["type"] == "query"
    ]
    unknown = {}
    for expr in filter(None, exprs):
        for name in metric_names(expr):
            if not any(p.fullmatch(name) for p in known_metrics):
                unknown.setdefault(name, expr)
    assert not unknown, f"{path.name}: metrics nothing provides: {unknown}"


def _label_values_selector(var: dict) -> str:
    """The series selector of a ``label_values(selector, label)`` / ``query_result(expr)`` variable."""
    q = _variable_query(var).strip()
    m = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", q, re.S) or re.fullmatch(r"query_result\((.*)\)", q, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"label_values\(\s*\w+\s*\)|label_names\(\)|metrics\(.*\)", q):
        return ""
    raise AssertionError(f"variable {var['name']}: unexpected query {q!r}")


# ---------------------------------------------------------------- every query parses in Prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    prom = Prometheus(tmp_path_factory.mktemp("prometheus-dashboards"), {})
    yield prom
    prom.stop()


def _query(prom: Prometheus, expr: str) -> dict:
    params = urllib.parse.urlencode({"query": expr, "time": f"{time.time():.3f}"})
    return json.loads(http_get(f"{prom.base}/api/v1/query?{params}").body)


def test_prometheus_rejects_a_bad_query(prometheus):
    """The check below means something: Prometheus answers bad_data for what does not parse."""
    for bad in ("sum(rate(x[5m])", 'rate(x{a="b"}[$__rate_interval])', "x / on (a) y z"):
        body = _query(prometheus, bad)
        assert body["status"] == "error" and body["errorType"] == "bad_data", (bad, body)


def test_every_query_parses(prometheus):
    checked, failures = 0, []
    for path, dash in _dashboards():
        exprs = [(f"panel {p['id']} {p['title']!r} {t['refId']}", t["expr"]) for p, t in _targets(dash)]
        exprs += [
            (f"variable {v['name']}", _label_values_selector(v)) for v in _variables(dash) if v["type"] == "query"
        ]
        for where, expr in exprs:
            if not expr:
                continue
            query = substitute(expr, dash)
            body = _query(prometheus, query)
            checked += 1
            if body.get("status") != "success":
                failures.append(f"{path.name} {where}: {query!r}: {body.get('errorType')}: {body.get('error')}")
    assert not failures, "\n".join(failures)
    assert checked >= 5 * 8, checked


# ---------------------------------------------------------------- provisioning


def test_dashboard_provider():
    config = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "flextime.yml").read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file" and provider["options"]["path"], provider
    assert provider["name"]


def test_datasource_matches_dashboard_default():
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http"), source
    for path, dash in _dashboards():
        var = next(v for v in _variables(dash) if v["name"] == "datasource")
        assert var["current"]["value"] in (source["uid"], source["name"]), path.name
