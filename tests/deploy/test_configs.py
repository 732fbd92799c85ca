"""deploy/prometheus/prometheus.yml and deploy/alertmanager/alertmanager.yml, checked by the real
tools: promtool, amtool, and a running Prometheus applying the scrape jobs' relabel rules.

Debian's Prometheus (2.42) is built without Kubernetes service discovery, so neither its promtool
nor its server accept ``kubernetes_sd_configs``. The tests swap each of those sections for a
``file_sd_configs`` whose targets carry the ``__meta_kubernetes_*`` labels Kubernetes discovery
would give (a pod with prometheus.io annotations, a node): everything else of the shipped file is
checked as it is, and the relabel rules are run by Prometheus itself on those labels."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import yaml

from conftest import ROOT, Prometheus, http_get, require_program

DEPLOY = ROOT / "deploy"


def _with_file_sd(config: dict, directory: Path, groups: dict[str, list[dict]]) -> dict:
    """``config`` with every kubernetes_sd_configs replaced by a file_sd file holding ``groups[job]``."""
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            del job["kubernetes_sd_configs"]
            path = directory / f"{job['job_name']}.yml"
            path.write_text(yaml.safe_dump(groups.get(job["job_name"], [])))
            job.setdefault("file_sd_configs", []).append({"files": [str(path)]})
    return config


def _copy_deploy(tmp_path: Path) -> Path:
    """deploy/prometheus (config, alert rules, VM target files) in a temp dir; returns the config path."""
    shutil.copytree(DEPLOY / "prometheus", tmp_path / "prometheus")
    return tmp_path / "prometheus" / "prometheus.yml"


def test_promtool_accepts_the_config_and_its_rule_files(tmp_path):
    promtool = require_program("promtool")
    path = _copy_deploy(tmp_path)
    config = _with_file_sd(yaml.safe_load(path.read_text()), tmp_path, {})
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
    rule_files = sorted((DEPLOY / "prometheus" / "alerts").glob("*.yml"))
    assert rule_files, "no alert rule files under deploy/prometheus/alerts"
    for rules in rule_files:  # every rule file the config loads was checked with it
        assert f"alerts/{rules.name}" in proc.stdout or rules.name in proc.stdout, rules.name


def test_the_seed_jobs_and_every_exporter_have_a_scrape_job():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # the seed's job names (alert rules select on them) and the scheduler exporter's job
    assert {
        "flextime-api",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
        "kube-state-metrics",
        "scheduler-exporter",
    } <= jobs
    assert config["rule_files"] == ["alerts/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_relabel_rules_honour_the_pod_annotations_and_the_node_port(tmp_path, node_exporter_ours):
    """Prometheus itself applies the shipped relabel rules to a pod that asks to be scraped on
    another port and path (the port annotation the seed forgot), a pod that does not ask, and a
    node whose kubelet address must become its node exporter's :9100."""
    path = _copy_deploy(tmp_path)
    pod = {
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": str(node_exporter_ours.port),
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        "__meta_kubernetes_namespace": "flextime",
        "__meta_kubernetes_pod_name": "api-0",
    }
    quiet_pod = {
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false",
        "__meta_kubernetes_pod_name": "worker-0",
    }
    groups = {
        "flextime-api": [
            {"targets": ["127.0.0.1:1"], "labels": pod},
            {"targets": ["127.0.0.1:2"], "labels": quiet_pod},
        ],
        "node-exporter": [{"targets": ["127.0.0.1:10250"], "labels": {"__meta_kubernetes_node_name": "n1"}}],
    }
    config = _with_file_sd(yaml.safe_load(path.read_text()), tmp_path, groups)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config.pop("alerting")
    path.write_text(yaml.safe_dump(config))
    prom = Prometheus.with_config(tmp_path / "run", path)
    try:
        end = time.monotonic() + 20
        while True:
            active = prom.api("targets")["activeTargets"]
            api = [t for t in active if t["labels"].get("job") == "flextime-api"]
            if api and api[0]["health"] == "up":
                break
            assert time.monotonic() < end, active
            time.sleep(0.3)
        assert len(api) == 1  # the pod without prometheus.io/scrape: "true" is dropped
        assert api[0]["scrapeUrl"] == f"http://127.0.0.1:{node_exporter_ours.port}/metrics"
        assert api[0]["labels"]["namespace"] == "flextime" and api[0]["labels"]["pod"] == "api-0"
        nodes = [t for t in active if t["labels"].get("job") == "node-exporter"]
        assert [t["labels"]["instance"] for t in nodes] == ["127.0.0.1:9100"]
        assert nodes[0]["labels"]["node"] == "n1"
    finally:
        prom.stop()


def test_amtool_accepts_the_alertmanager_config_and_refuses_the_seeds():
    amtool = require_program("amtool")
    ours = subprocess.run(
        [amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "SUCCESS" in ours.stdout
    # the seed's file: `api_url: '{{ .SlackWebhookURL }}'` is not a URL (defect 7)
    seed = subprocess.run(
        [amtool, "check-config", str(ROOT / "tests" / "data" / "seed-alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seed.returncode != 0 and "URL" in seed.stdout + seed.stderr


def test_alertmanager_routes_by_severity_with_matchers():
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())

    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    assert not {"match", "match_re", "source_match", "target_match", "api_url"} & set(keys(config))
    routes = {r["receiver"]: r["matchers"] for r in config["route"]["routes"]}
    assert routes == {"critical-alerts": ['severity="critical"'], "warning-alerts": ['severity="warning"']}
    assert config["global"]["slack_api_url_file"].startswith("/") and "smtp_auth_password_file" in config["global"]


def test_a_real_alertmanager_starts_with_the_config(tmp_path):
    """The shipped file loads in Alertmanager itself (its secrets files present, as mounted)."""
    binary = require_program("prometheus-alertmanager", "alertmanager")
    from conftest import free_port, wait_http

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "smtp-password").write_text("not-used\n")
    (secrets / "slack-webhook-url").write_text("https://hooks.slack.invalid/T000/B000/XXX\n")
    config = (
        (DEPLOY / "alertmanager" / "alertmanager.yml").read_text().replace("/etc/alertmanager/secrets", str(secrets))
    )
    (tmp_path / "alertmanager.yml").write_text(config)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", proc, timeout=30)
        status = http_get(f"http://127.0.0.1:{port}/api/v2/status")
        assert status.status == 200 and "critical-alerts" in status.text
    finally:
        proc.terminate()
        proc.wait(20)
