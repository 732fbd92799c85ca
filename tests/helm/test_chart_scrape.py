"""A real Prometheus (Debian's) scrapes exporter processes the way the chart's rendered monitors tell the
Prometheus Operator to: each endpoint of the node, postgres and redis ServiceMonitors (path, params,
relabelings, metricRelabelings) translated to a plain scrape_config, the Kubernetes discovery labels the
relabelings read given as static labels, the exporters started with their rendered containers' args.
Two redis-servers are real; the postgres target is a closed port (pg_up 0 behind a successful probe)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT, Prometheus, free_port, require_program, stop_process, wait_http

from .test_chart import NAMESPACE, RELEASE, objects, of_kind
from .test_chart_runs import certificate, chart, containers_of_ours, prepare  # noqa: F401  (fixtures)

NODE_NAME = "node-a"


def relabel(rules: list[dict]) -> list[dict]:
    """The operator's RelabelConfig (camelCase) as Prometheus' relabel_config."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return [{keys.get(k, k): (v.lower() if k == "action" else v) for k, v in r.items()} for r in rules]


def scrape_configs(monitor: dict, address: str) -> list[dict]:
    name = monitor["metadata"]["name"]
    configs = []
    for i, ep in enumerate(monitor["spec"]["endpoints"]):
        config = {
            "job_name": f"serviceMonitor/{NAMESPACE}/{name}/{i}",
            "metrics_path": ep["path"],
            "scheme": ep.get("scheme") or "http",
            "honor_labels": ep.get("honorLabels", False),
            "static_configs": [{"targets": [address], "labels": {"__meta_kubernetes_pod_node_name": NODE_NAME}}],
            "relabel_configs": relabel(ep.get("relabelings", [])),
            "metric_relabel_configs": relabel(ep.get("metricRelabelings", [])),
        }
        if "params" in ep:
            config["params"] = ep["params"]
        configs.append(config)
    return configs


def redis_server(directory, port: int) -> subprocess.Popen:
    binary = require_program("redis-server")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < end, "redis-server did not start"
        time.sleep(0.05)


@pytest.mark.slow
def test_prometheus_scrapes_through_the_rendered_relabelings(chart, tmp_path, certificate):  # noqa: F811
    procs: list[subprocess.Popen] = []
    prometheus = None
    try:
        redis_ports = [free_port(), free_port()]
        for i, port in enumerate(redis_ports):
            (tmp_path / f"redis{i}").mkdir()
            procs.append(redis_server(tmp_path / f"redis{i}", port))
        closed_pg = free_port()
        values = {
            "node": {"enabled": True},
            "redis": {
                "enabled": True,
                "targets": [{"name": f"cache-{i}", "host": "127.0.0.1", "port": p} for i, p in enumerate(redis_ports)],
            },
            "postgres": {
                "enabled": True,
                "authModules": {
                    "monitoring": {"username": "exporter", "passwordSecret": {"name": "pg", "key": "password"}}
                },
                "targets": [{"name": "db-1", "host": "127.0.0.1", "port": closed_pg, "authModule": "monitoring"}],
            },
            "serviceMonitor": {
                "enabled": True,
                "relabelings": [{"action": "replace", "targetLabel": "cluster", "replacement": "test"}],
                "metricRelabelings": [
                    {"action": "drop", "sourceLabels": ["__name__"], "regex": "promhttp_metric_handler_.*"}
                ],
            },
        }
        docs = objects(chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True))
        monitors = {m["metadata"]["name"].rsplit("-", 1)[1]: m for m in of_kind(docs, "ServiceMonitor")}
        assert set(monitors) == {"node", "postgres", "redis"}
        addresses, configs = {}, []
        for where, spec, c in containers_of_ours(docs):
            component = where.split("/")[1].rsplit("-", 1)[1]
            args, env = prepare(docs, spec, c, tmp_path / component, certificate)
            port = free_port()
            args = [
                f"--web.listen-address=127.0.0.1:{port}" if a.startswith("--web.listen-address=") else a for a in args
            ]
            log = open(tmp_path / f"{component}.log", "w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "exporters", *args],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **env},
                )
            )
            wait_http(f"http://127.0.0.1:{port}/live", procs[-1], timeout=60)
            addresses[component] = f"127.0.0.1:{port}"
            configs += scrape_configs(monitors[component], addresses[component])
        assert len(addresses) == 3  # three exporter processes
        config = tmp_path / "prometheus.yml"
        config.write_text(
            yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": configs})
        )
        prometheus = Prometheus.with_config(tmp_path / "prometheus", config)

        def one(expr: str) -> float:
            (sample,) = prometheus.wait(expr, lambda r: len(r) == 1, timeout=30)
            return float(sample["value"][1])

        # one `up` per target, instance = the target's address, target = its name
        for i, port in enumerate(redis_ports):
            sel = f'job="redis-exporter",instance="127.0.0.1:{port}",target="cache-{i}",cluster="test"'
            assert one(f"up{{{sel}}}") == 1
            assert one(f"redis_up{{{sel}}}") == 1
        sel = f'job="postgres-exporter",instance="127.0.0.1:{closed_pg}",target="db-1"'
        assert one(f"up{{{sel}}}") == 1 and one(f"pg_up{{{sel}}}") == 0
        # node: instance = the node's name
        assert one(f'up{{job="node-exporter",instance="{NODE_NAME}"}}') == 1
        assert one(f'node_load1{{job="node-exporter",instance="{NODE_NAME}"}}') >= 0
        # the multi-target exporters' own /metrics, instance = the exporter (the pod)
        for component in ("postgres", "redis"):
            sel = f'job="{component}-exporter",instance="{addresses[component]}"'
            assert one(f"up{{{sel}}}") == 1
            assert one(f"process_start_time_seconds{{{sel}}}") > 0
        # metricRelabelings applied: no promhttp_metric_handler_* series, though the exporters serve them
        # beside process_* on the same /metrics
        prometheus.wait('count(up{cluster="test"})', lambda r: r and float(r[0]["value"][1]) == 6)
        assert prometheus.query('{__name__=~"promhttp_metric_handler_.*"}') == []
    finally:
        if prometheus is not None:
            prometheus.stop()
        for proc in procs:
            stop_process(proc)
