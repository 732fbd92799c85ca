"""`python -m exporters rules check` as a user runs it: a rules file and a dashboard in a temporary
directory, exit statuses 0, 1 and 2, and the shipped deploy/ files when they exist."""

from __future__ import annotations

import json
import subprocess

from conftest import ROOT, exporter_cmd

RULES = """\
groups:
  - name: fleet
    rules:
      - record: instance:node_cpu_busy:rate5m
        expr: 1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))
      - alert: HighCPU
        expr: instance:node_cpu_busy:rate5m > 0.9
        for: 10m
      - alert: DatabaseDown
        expr: pg_up == 0 or up{job="postgres"} == 0
      - alert: RedisMemoryHigh
        expr: redis_memory_used_bytes / redis_memory_max_bytes > 0.9 and redis_memory_max_bytes > 0
      - alert: QueueBacklog
        expr: sum by (queue) (scheduler_queue_jobs{state="waiting"}) > 100
      - alert: HighErrorRate
        expr: |
          sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))
            / on(job) sum by (job) (rate(http_requests_total[5m])) > 0.05
"""

DASHBOARD = {
    "title": "Fleet",
    "uid": "fleet",
    "schemaVersion": 39,
    "panels": [
        {
            "type": "row",
            "title": "Hosts",
            "collapsed": True,
            "panels": [
                {
                    "type": "timeseries",
                    "title": "Memory",
                    "targets": [{"refId": "A", "expr": 'node_memory_MemAvailable_bytes{instance=~"$instance"}'}],
                }
            ],
        },
        {
            "type": "timeseries",
            "title": "Generation p95",
            "targets": [
                {
                    "refId": "A",
                    "expr": "histogram_quantile(0.95, sum by (le) "
                    "(rate(schedule_generation_duration_seconds_bucket[$__rate_interval])))",
                }
            ],
        },
        {
            "type": "stat",
            "title": "Pods",
            "targets": [{"refId": "A", "expr": 'sum(kube_pod_status_phase{phase="Running"})'}],
        },
        {"type": "text", "title": "Read me"},
    ],
}


def rules_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(exporter_cmd("rules", "check", *args), capture_output=True, text=True, timeout=60, cwd=ROOT)


def table(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line.split(None, 1)[1] for line in stdout.splitlines()[:-1]}


def test_rules_and_dashboard_all_provided(tmp_path):
    (tmp_path / "alerts.yml").write_text(RULES)
    (tmp_path / "fleet.json").write_text(json.dumps(DASHBOARD, indent=2))
    proc = rules_check(str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert table(proc.stdout) == {
        "http_requests_total": "other: the application",
        "instance:node_cpu_busy:rate5m": f"recorded: {tmp_path / 'alerts.yml'}:4",
        "kube_pod_status_phase": "other: kube-state-metrics",
        "node_cpu_seconds_total": "node",
        "node_memory_MemAvailable_bytes": "node (node_memory_<Key>_bytes)",
        "pg_up": "postgres",
        "redis_memory_max_bytes": "redis",
        "redis_memory_used_bytes": "redis",
        "schedule_generation_duration_seconds_bucket": "scheduler",
        "scheduler_queue_jobs": "scheduler",
        "up": "other: Prometheus",
    }
    assert proc.stdout.splitlines()[-1] == (
        "11 series in 2 files: 7 from the fleet, 1 recorded by rules, 3 from other components, 0 MISSING"
    )


def test_a_series_nothing_provides_exits_1(tmp_path):
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES + "      - alert: Typo\n        expr: pg_stat_database_numbackendz > 100\n")
    dash = tmp_path / "d.json"
    dash.write_text(json.dumps({**DASHBOARD, "panels": [{"title": "x", "targets": [{"expr": "nginx_up"}]}]}))
    proc = rules_check(str(rules), str(dash))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = table(proc.stdout)
    assert rows["pg_stat_database_numbackendz"] == f"MISSING ({rules}:20)"
    assert rows["nginx_up"] == f"MISSING ({dash}:1)"
    assert proc.stdout.splitlines()[-1].endswith("2 MISSING")


def test_not_a_rule_file_exits_2_naming_file_and_line(tmp_path):
    f = tmp_path / "prometheus.yml"
    f.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    proc = rules_check(str(f))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"flextime-exporter rules check: error: {f}:1: not a Prometheus rule file (no 'groups') or Grafana dashboard "
        "(no 'panels'): the document is a mapping"
    ]


def test_help_lists_rules():
    proc = subprocess.run(exporter_cmd("--help"), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and "rules" in proc.stdout and "node" in proc.stdout


def test_shipped_rules_and_dashboards_use_nothing_missing():
    """Issue 6: run on the shipped files, it reports nothing missing."""
    deploy = ROOT / "deploy"
    assert any(deploy.glob("prometheus/alerts/*.yml")) and any(deploy.glob("grafana/dashboards/*.json"))
    proc = rules_check(str(deploy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISSING (" not in proc.stdout
