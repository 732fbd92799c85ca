"""``flextime-exporter fleet``: several exporters served from one process, each on its own path of
a shared listener or on its own port, each with its own flags and environment; bad input stops
start-up with one line naming the exporter and exit status 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, exporter_cmd, free_port, http_get, samples, wait_http

from exporters.core.runtime import parse_settings


def write_config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_fleet(config: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        exporter_cmd("fleet", "--config", str(config)), capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str, logs_before: bool = False) -> None:
    """Exit 2, no traceback, one line naming the problem (after the start-up log lines of the
    exporters that did start, when ``logs_before``: a port taken by another program)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert "Traceback" not in proc.stderr
    if logs_before:
        assert all(" INFO " in l for l in lines[:-1]), proc.stderr
        lines = lines[-1:]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def fleet_proc(tmp_path):
    started = []

    def start(config: dict, wait_url: str, env: dict | None = None) -> subprocess.Popen:
        path = write_config(tmp_path, config)
        log = open(tmp_path / "fleet.log", "w")
        proc = subprocess.Popen(
            exporter_cmd("fleet", "--config", str(path)),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        try:
            wait_http(wait_url, proc)
        except RuntimeError:
            raise RuntimeError((tmp_path / "fleet.log").read_text()) from None
        proc.log_path = tmp_path / "fleet.log"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_one_process_serves_shared_paths_and_own_ports_with_separate_environments(fleet_proc):
    shared, own = free_port(), free_port()
    config = {
        "listen": f"127.0.0.1:{shared}",
        "exporters": [
            # only loadavg, from its own env: FLEXTIME_NODE_* given here must not reach the others
            {
                "exporter": "node",
                "name": "load",
                "path": "/metrics",
                "env": {"FLEXTIME_NODE_COLLECTOR_DISABLE_DEFAULTS": "true", "FLEXTIME_NODE_COLLECTOR_LOADAVG": "true"},
            },
            {
                "exporter": "node",
                "name": "memory",
                "path": "/memory/metrics",
                "args": ["--collector.disable-defaults", "--collector.meminfo"],
            },
            # defaults, on a port of its own
            {"exporter": "node", "name": "host", "listen": f"127.0.0.1:{own}"},
        ],
    }
    proc = fleet_proc(config, f"http://127.0.0.1:{own}/live")
    wait_http(f"http://127.0.0.1:{shared}/live", proc)

    load = http_get(f"http://127.0.0.1:{shared}/metrics")
    assert load.status == 200
    s = samples(load.text)
    assert ("node_load1", ()) in s
    assert {dict(l)["collector"] for n, l in s if n == "node_scrape_collector_success"} == {"loadavg"}

    memory = samples(http_get(f"http://127.0.0.1:{shared}/memory/metrics").text)
    assert ("node_memory_MemAvailable_bytes", ()) in memory
    assert {dict(l)["collector"] for n, l in memory if n == "node_scrape_collector_success"} == {"meminfo"}

    host = samples(http_get(f"http://127.0.0.1:{own}/metrics").text)
    collectors = {dict(l)["collector"] for n, l in host if n == "node_scrape_collector_success"}
    assert {"loadavg", "meminfo", "cpu", "filesystem"} <= collectors, collectors  # the env did not leak
    assert http_get(f"http://127.0.0.1:{own}/health").status == 200

    # the shared listener's own routes: one /health over its exporters, a landing page naming them
    health = http_get(f"http://127.0.0.1:{shared}/health")
    assert health.status == 200 and b"healthy" in health.body
    landing = http_get(f"http://127.0.0.1:{shared}/").text
    assert "/memory/metrics" in landing and "host" in landing
    assert http_get(f"http://127.0.0.1:{shared}/nothing").status == 404

    # one process: SIGTERM stops all of them, exit status 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{own}/live", timeout=2)


def test_exporter_with_targets_on_the_shared_listener_gets_its_probe_route(fleet_proc, tmp_path):
    """postgres in multi-target mode only (no DSN): /pg/metrics and /pg/probe on the shared port."""
    shared = free_port()
    pg_config = tmp_path / "pg.yml"
    pg_config.write_text(
        yaml.safe_dump(
            {
                "auth_modules": {"m": {"type": "userpass", "userpass": {"username": "exporter", "password": "x"}}},
                "probe": {"allowed_targets": ["127.0.0.1:1"]},
            }
        )
    )
    config = {
        "listen": [f"127.0.0.1:{shared}"],
        "exporters": [
            {"exporter": "node", "path": "/metrics", "args": ["--collector.disable-defaults", "--collector.loadavg"]},
            {"exporter": "postgres", "path": "/pg/metrics", "args": [f"--config.file={pg_config}"]},
        ],
    }
    fleet_proc(config, f"http://127.0.0.1:{shared}/live")
    assert http_get(f"http://127.0.0.1:{shared}/pg/metrics").status == 200
    refused = http_get(f"http://127.0.0.1:{shared}/pg/probe?target=db.example.com:5432&auth_module=m")
    assert refused.status == 400, refused
    assert http_get(f"http://127.0.0.1:{shared}/probe").status == 404


def test_parse_settings_reads_the_given_environment_not_os_environ(monkeypatch):
    from exporters.postgres import SPEC, targets

    monkeypatch.setenv("DATA_SOURCE_NAME", "postgresql://leaked@leak.example/db")
    monkeypatch.setenv("FLEXTIME_POSTGRES_WEB_MAX_REQUESTS", "7")
    settings = parse_settings(SPEC, ["--scrape.timeout=3"], {"DATA_SOURCE_NAME": "postgresql://mine@db.example/app"})
    assert targets(settings) == ["postgresql://mine@db.example/app"]
    assert settings.web_max_requests == 40  # os.environ's FLEXTIME_POSTGRES_* was not read
    assert settings.scrape_timeout == 3.0


def _node(path=None, **extra):
    entry = {"exporter": "node", "args": ["--collector.disable-defaults", "--collector.loadavg"], **extra}
    if path:
        entry["path"] = path
    return entry


def _busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.parametrize(
    "case",
    [
        "duplicate-path",
        "reserved-path",
        "duplicate-port",
        "shared-port",
        "any-host-port",
        "unknown-exporter",
        "bad-flag",
        "bad-flag-value",
        "exporter-check",
        "unknown-key",
        "libpq-env",
        "path-without-listen",
        "duplicate-name",
        "not-yaml",
        "missing-file",
        "port-in-use",
        "own-auth-on-shared",
        "systemd-socket",
    ],
)
def test_bad_config_one_line_exit_2_naming_it(tmp_path, case):
    p1, p2 = free_port(), free_port()
    busy = None
    configs = {
        "duplicate-path": (
            {"listen": f"127.0.0.1:{p1}", "exporters": [_node("/metrics"), _node("/metrics", name="b")]},
            ["exporters[1] (b)", "duplicate path /metrics", "exporters[0] (node)"],
        ),
        "reserved-path": (
            {"listen": f"127.0.0.1:{p1}", "exporters": [_node("/health")]},
            ["exporters[0] (node)", "duplicate path /health"],
        ),
        "duplicate-port": (
            {"exporters": [_node(listen=f"127.0.0.1:{p1}"), _node(listen=f":{p1}", name="b")]},
            ["exporters[1] (b)", f"duplicate port {p1}", "exporters[0] (node)"],
        ),
        "shared-port": (
            {"listen": f":{p1}", "exporters": [_node("/metrics", name="a"), _node(listen=f"127.0.0.1:{p1}")]},
            ["exporters[1] (node)", f"duplicate port {p1}", "shared listener"],
        ),
        "any-host-port": (
            {
                "exporters": [
                    {"exporter": "redis", "listen": f":{p1}"},
                    {"exporter": "node", "args": [f"--web.listen-address=127.0.0.1:{p1}"]},
                ]
            },
            ["exporters[1] (node)", f"duplicate port {p1}", "exporters[0] (redis)"],
        ),
        "unknown-exporter": (
            {"exporters": [_node(listen=f"127.0.0.1:{p1}"), {"exporter": "mysql"}]},
            ["exporters[1]", "unknown exporter 'mysql'"],
        ),
        "bad-flag": (
            {"exporters": [{"exporter": "redis", "listen": f"127.0.0.1:{p1}", "args": ["--no-such-flag"]}]},
            ["exporters[0] (redis)", "--no-such-flag"],
        ),
        "bad-flag-value": (
            {
                "exporters": [
                    _node(listen=f"127.0.0.1:{p1}"),
                    {
                        "exporter": "redis",
                        "listen": f"127.0.0.1:{p2}",
                        "env": {"FLEXTIME_REDIS_WEB_MAX_REQUESTS": "many"},
                    },
                ]
            },
            ["exporters[1] (redis)", "many"],
        ),
        "exporter-check": (
            {"exporters": [{"exporter": "postgres", "listen": f"127.0.0.1:{p1}"}]},
            ["exporters[0] (postgres)", "no PostgreSQL target"],
        ),
        "unknown-key": ({"exporters": [_node(listen=f"127.0.0.1:{p1}", port=3)]}, ["exporters[0] (node)", "'port'"]),
        "libpq-env": (
            {
                "exporters": [
                    {
                        "exporter": "postgres",
                        "listen": f"127.0.0.1:{p1}",
                        "env": {"DATA_SOURCE_NAME": "postgresql://x@h/db", "PGPASSFILE": "/x"},
                    }
                ]
            },
            ["exporters[0] (postgres)", "PGPASSFILE"],
        ),
        "path-without-listen": ({"exporters": [_node("/metrics")]}, ["exporters[0] (node)", "listen"]),
        "duplicate-name": (
            {"exporters": [_node(listen=f"127.0.0.1:{p1}"), _node(listen=f"127.0.0.1:{p2}")]},
            ["exporters[1] (node)", "duplicate name 'node'"],
        ),
        # redis_exporter's basic auth flags cannot protect one path of a listener the others share
        "own-auth-on-shared": (
            {
                "listen": f"127.0.0.1:{p1}",
                "exporters": [
                    _node("/node"),
                    {
                        "exporter": "redis",
                        "path": "/redis",
                        "args": ["--redis.addr=", "-basic-auth-username=u", "-basic-auth-password=p"],
                    },
                ],
            },
            ["exporters[1] (redis)", "--basic-auth-*", "own listener"],
        ),
        "systemd-socket": (
            {"exporters": [{"exporter": "redis", "listen": f"127.0.0.1:{p1}", "args": ["--web.systemd-socket"]}]},
            ["exporters[0] (redis)", "--web.systemd-socket"],
        ),
    }
    if case == "not-yaml":
        path = tmp_path / "fleet.yml"
        path.write_text("exporters: [\n  - {exporter: node\n")
        needles = [str(path), "YAML"]
    elif case == "missing-file":
        path, needles = tmp_path / "nonexistent.yml", ["nonexistent.yml"]
    elif case == "port-in-use":
        busy = _busy_port()
        port = busy.getsockname()[1]
        path = write_config(
            tmp_path,
            {"exporters": [_node(listen=f"127.0.0.1:{p1}", name="a"), _node(listen=f"127.0.0.1:{port}", name="b")]},
        )
        needles = ["exporters[1] (b)", f"127.0.0.1:{port}"]
    else:
        config, needles = configs[case]
        path = write_config(tmp_path, config)
    try:
        assert_one_line_error(run_fleet(path), *needles, logs_before=case == "port-in-use")
    finally:
        if busy:
            busy.close()


def test_fleet_is_listed_in_help_and_has_its_own():
    proc = subprocess.run(exporter_cmd("--help"), capture_output=True, text=True, cwd=ROOT, timeout=20)
    assert proc.returncode == 0 and "fleet" in proc.stdout
    proc = subprocess.run(exporter_cmd("fleet", "--help"), capture_output=True, text=True, cwd=ROOT, timeout=20)
    assert proc.returncode == 0 and "--config" in proc.stdout
    missing = subprocess.run(exporter_cmd("fleet"), capture_output=True, text=True, cwd=ROOT, timeout=20)
    assert_one_line_error(missing, "--config")


def test_docs_example_config_is_valid(tmp_path):
    """The annotated example of docs/fleet.md loads (with its files made up here)."""
    from exporters import fleet

    text = (ROOT / "docs" / "fleet.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(example)
    ports = iter([free_port() for _ in range(10)])
    data["listen"] = f"127.0.0.1:{next(ports)}"
    for entry in data["exporters"]:
        if "listen" in entry:
            entry["listen"] = f"127.0.0.1:{next(ports)}"
        entry["args"] = [a for a in entry.get("args", []) if "textfile" not in a and "config.file" not in a]
        entry["env"] = {k: v for k, v in (entry.get("env") or {}).items() if not k.endswith("_FILE")}
    data["exporters"][1]["env"]["DATA_SOURCE_NAME"] = "postgresql://exporter@127.0.0.1:5432/postgres"
    loaded = fleet.load(str(write_config(tmp_path, data)), environ={})
    assert [m.prepared.spec.name for m in loaded.members] == [e["exporter"] for e in data["exporters"]]
