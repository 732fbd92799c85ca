"""--extend.query-path: the user's queries.yaml (postgres_exporter's format) on a real primary.

Debian's example queries.yaml gives the same families (names, types, label names) as 0.11.1 run
with it, its HISTOGRAM pg_process_idle included; one failing query leaves the others served and is
logged once; a histogram row with NULLs or mismatched arrays is left out and the query counted as
failing; a query whose ``runonserver`` range excludes the server is not run; a missing or
malformed file stops start-up."""

from __future__ import annotations

import os
import subprocess

import psycopg
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

from conftest import ROOT, exporter_cmd, free_port, parse_families, start_exporter, value

from .conftest import DEBIAN_QUERIES_YAML, PgServer

APP = "flextime-exporter-user-queries-test"
# built-in collectors whose families the example file's namespaces also produce; off in the comparison
COLLIDING = ("replication", "postmaster", "stat_user_tables", "statio_user_tables")
# families 0.11.1 makes from the example file (its pg_stat_statements query fails on PG 13+)
EXAMPLE_PREFIXES = (
    "pg_replication_lag",
    "pg_postmaster_",
    "pg_stat_user_tables_",
    "pg_statio_user_tables_",
    "pg_process_idle_",
    "pg_exporter_user_queries_load_error",
)
IDLE_APP = "flextime-idle-probe"  # an idle session held open, so pg_process_idle has a row we know


def start(pg: PgServer, tmp_path_factory, *args: str, dbname: str = "postgres"):
    return start_exporter(
        tmp_path_factory.mktemp("pg-user-queries"),
        f"--postgres.application-name={APP}",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg.exporter_dsn_for(dbname) + "?sslmode=disable"},
    )


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200 and value(resp.text, "pg_up") == 1
    return resp.text


def run_once(pg: PgServer, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        exporter_cmd("postgres", f"--web.listen-address=127.0.0.1:{free_port()}", *args),
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={**os.environ, "DATA_SOURCE_NAME": pg.exporter_dsn + "?sslmode=disable", **(env or {})},
    )


def test_example_queries_match_postgres_exporter(pg_primary, tmp_path_factory, go_postgres_exporter_extended):
    exp = start(
        pg_primary,
        tmp_path_factory,
        f"--extend.query-path={DEBIAN_QUERIES_YAML}",
        *(f"--no-collector.{c}" for c in COLLIDING),
        dbname="app1",
    )
    try:
        with psycopg.connect(pg_primary.exporter_dsn, application_name=IDLE_APP, connect_timeout=5):
            o = parse_families(scrape(exp))
            g = parse_families(go_postgres_exporter_extended.get().text)
    finally:
        exp.stop()
    go_names = {n for n in g if n.startswith(EXAMPLE_PREFIXES)}
    ours = {n for n in o if n.startswith(EXAMPLE_PREFIXES)}
    assert len(go_names) == 1 + 1 + 19 + 8 + 1 + 1, sorted(go_names)
    assert ours == go_names, (sorted(go_names - ours), sorted(ours - go_names))

    def shape(m):
        return m.type, tuple(sorted({k for s in m.samples for k in s.labels}))

    problems = [f"{n}: {shape(o[n])} != {shape(g[n])}" for n in sorted(go_names) if shape(o[n]) != shape(g[n])]
    assert not problems, problems
    # the HISTOGRAM: the same help, bucket bounds and sample names for the idle session
    idle = {}
    for name, fams in (("ours", o), ("go", g)):
        fam = fams["pg_process_idle_seconds"]
        assert fam.type == "histogram" and fam.documentation == "Idle time of server processes", name
        rows = [s for s in fam.samples if s.labels["application_name"] == IDLE_APP]
        idle[name] = sorted((s.name, s.labels.get("le", "")) for s in rows)
        count = [s.value for s in rows if s.name.endswith("_count")]
        inf = [s.value for s in rows if s.labels.get("le") == "+Inf"]
        assert count == inf == [1], (name, rows)
    assert idle["ours"] == idle["go"], idle
    assert [le for n, le in idle["ours"] if le] == sorted(
        ["1", "2", "5", "15", "30", "60", "90", "120", "300", "+Inf"]
    ), idle
    load = o["pg_exporter_user_queries_load_error"].samples
    assert [s.value for s in load] == [0] and load[0].labels["filename"] == str(DEBIAN_QUERIES_YAML)
    assert len(load[0].labels["hashsum"]) == 64


def test_failing_query_leaves_the_others(pg_primary, tmp_path_factory, tmp_path):
    path = tmp_path / "queries.yaml"
    path.write_text("""
good:
  query: "SELECT 'a' AS kind, 42 AS answer, 7 AS hits, interval '1.5 seconds' AS wait, 'on' AS state, 5 AS dropped"
  metrics:
    - kind: {usage: LABEL, description: "Kind"}
    - answer: {usage: GAUGE, description: "The answer"}
    - hits: {usage: COUNTER, description: "Hits"}
    - wait: {usage: DURATION, description: "Wait"}
    - state: {usage: MAPPEDMETRIC, description: "State", mapping: {"on": 1, "off": 0}}
    - dropped: {usage: DISCARD, description: "Not exported"}
bad:
  query: "SELECT no_such_column FROM no_such_table"
  metrics:
    - no_such_column: {usage: GAUGE, description: "Never"}
future:
  query: "SELECT 1 / 0 AS one"  # would fail, and be logged, if it ran
  runonserver: ">=99.0.0"
  metrics:
    - one: {usage: GAUGE, description: "Never run on this server"}
""")
    exp = start(pg_primary, tmp_path_factory, f"--extend.query-path={path}")
    try:
        for _ in range(3):
            text = scrape(exp)
        fams = parse_families(text)
        assert value(text, "good_answer", kind="a", server=f"{pg_primary.host}:{pg_primary.port}") == 42
        assert fams["good_hits"].type == "counter" and value(text, "good_hits_total", kind="a") == 7
        assert value(text, "good_wait_milliseconds", kind="a") == 1500
        assert value(text, "good_state", kind="a") == 1
        assert "good_dropped" not in fams and "good_kind" not in fams
        assert not [n for n in fams if n.startswith(("bad_", "future_"))]
        assert value(text, "pg_exporter_user_queries_load_error", filename=str(path)) == 0
        # the good queries are served, and the collector still says one of its queries failed
        assert value(text, "pg_scrape_collector_success", collector="user_queries") == 0
        assert value(text, "pg_scrape_collector_success", collector="settings") == 1
        log = exp.log()
        assert log.count("user query bad failed") == 1, log
        assert "no_such_table" in log and "future" not in log
        assert "user query good" not in log
        assert "division by zero" not in log
    finally:
        exp.stop()


def test_histogram_columns(pg_primary, tmp_path_factory, tmp_path):
    path = tmp_path / "queries.yaml"
    path.write_text("""
hist:
  query: |
    SELECT * FROM (VALUES
      ('ok', ARRAY[2.5, 0.5, 1, 1e6]::float8[], ARRAY[4, 1, 3, 4]::bigint[], 7.5::float8, 5::bigint, 1),
      ('numeric', ARRAY[1, 2]::numeric[], ARRAY[0, 2]::numeric[], 1.25::numeric, 2::numeric, 2),
      ('short', ARRAY[1, 2]::float8[], ARRAY[1]::bigint[], 1::float8, 1::bigint, 3),
      ('null', NULL::float8[], NULL::bigint[], NULL::float8, NULL::bigint, 4),
      ('null_count', ARRAY[1]::float8[], ARRAY[1]::bigint[], 1::float8, NULL::bigint, 5)
    ) AS t(kind, latency, latency_bucket, latency_sum, latency_count, other)
  metrics:
    - kind: {usage: LABEL, description: "Kind"}
    - latency: {usage: HISTOGRAM, description: "Latency"}
    - other: {usage: GAUGE, description: "Other"}
nosum:
  query: "SELECT ARRAY[1]::float8[] AS h, ARRAY[1]::bigint[] AS h_bucket, 1 AS h_count"
  metrics:
    - h: {usage: HISTOGRAM, description: "No h_sum column"}
fine:
  query: "SELECT 1 AS one"
  metrics:
    - one: {usage: GAUGE, description: "One"}
""")
    exp = start(pg_primary, tmp_path_factory, f"--extend.query-path={path}", "--web.enable-openmetrics")
    try:
        for _ in range(3):
            text = scrape(exp)
        om = exp.get("/metrics?collect[]=user_queries", headers={"Accept": "application/openmetrics-text"}).text
        fam = parse_families(text)["hist_latency"]
        assert fam.type == "histogram" and fam.documentation == "Latency"
        ok = [(s.name, s.labels.get("le"), s.value) for s in fam.samples if s.labels["kind"] == "ok"]
        assert ok == [
            ("hist_latency_bucket", "0.5", 1),
            ("hist_latency_bucket", "1", 3),
            ("hist_latency_bucket", "2.5", 4),
            ("hist_latency_bucket", "1e+06", 4),
            ("hist_latency_bucket", "+Inf", 5),
            ("hist_latency_sum", None, 7.5),
            ("hist_latency_count", None, 5),
        ], ok
        assert {s.labels["server"] for s in fam.samples} == {f"{pg_primary.host}:{pg_primary.port}"}
        assert value(text, "hist_latency_count", kind="numeric") == 2
        # a bad row loses its histogram, keeps its other columns, and the query counts as failing
        assert {s.labels["kind"] for s in fam.samples} == {"ok", "numeric"}
        assert {s.labels["kind"] for s in parse_families(text)["hist_other"].samples} == {
            "ok",
            "numeric",
            "short",
            "null",
            "null_count",
        }
        assert not [n for n in parse_families(text) if n.startswith("nosum_")]
        assert value(text, "fine_one") == 1
        assert value(text, "pg_scrape_collector_success", collector="user_queries") == 0
        assert [m.type for m in parse_om(om) if m.name == "hist_latency"] == ["histogram"]
        log = exp.log()
        assert log.count("user query hist failed") == 1 and "histogram latency" in log, log
        assert log.count("user query nosum failed") == 1 and "no column h_sum" in log, log
        assert "HISTOGRAM is not supported" not in log
    finally:
        exp.stop()


def test_no_file_no_series(pg_primary, tmp_path_factory):
    exp = start(pg_primary, tmp_path_factory)
    try:
        text = scrape(exp)
        assert value(text, "pg_scrape_collector_success", collector="user_queries") == 1
        assert "pg_exporter_user_queries_load_error" not in text
    finally:
        exp.stop()


def test_postgres_exporter_environment_variable(pg_primary, tmp_path):
    path = tmp_path / "missing.yaml"
    proc = run_once(pg_primary, env={"PG_EXPORTER_EXTEND_QUERY_PATH": str(path)})
    assert proc.returncode == 2 and str(path) in proc.stderr, proc.stderr


def test_bad_files_stop_start_up(pg_primary, tmp_path):
    cases = {
        "missing.yaml": None,
        "unparsable.yaml": "ns:\n  query: [unclosed\n",
        "usage.yaml": "ns:\n  query: SELECT 1 AS x\n  metrics:\n    - x: {usage: GUAGE, description: typo}\n",
        "noquery.yaml": "ns:\n  metrics:\n    - x: {usage: GAUGE, description: d}\n",
        "range.yaml": "ns:\n  query: SELECT 1 AS x\n  runonserver: 'about 10'\n  metrics: []\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        proc = run_once(pg_primary, f"--extend.query-path={path}")
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, (name, proc.stderr)
        assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in proc.stderr, (name, proc.stderr)
        if name != "missing.yaml" and name != "unparsable.yaml":
            assert "ns" in lines[0], lines[0]
