"""For VMs: the single-file executable (built once per session by packaging/build_binary.py with
PyInstaller) runs `node` against this host, `postgres` against a PostgreSQL of its own, and `fleet`;
and `systemd-analyze verify` accepts the units of deploy/systemd/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from postgres.conftest import _cleanup as _pg_cleanup
from postgres.conftest import _start_primary, find_bin_dir

from conftest import IN_CI, ROOT, free_port, http_get, samples, stop_process, wait_http

SYSTEMD_DIR = ROOT / "deploy" / "systemd"


@pytest.fixture(scope="session")
def binary(tmp_path_factory) -> Path:
    """dist/flextime-exporter, built once into a temporary directory (a minute or two)."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        message = "PyInstaller is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("binary")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build_binary.py"),
            "--dist",
            str(out / "dist"),
            "--work",
            str(out / "work"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    path = out / "dist" / "flextime-exporter"
    assert path.is_file() and os.access(path, os.X_OK)
    print(f"built {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - started:.0f}s")
    return path


class Running:
    def __init__(self, binary: Path, tmp_path: Path, *args: str, env: dict | None = None) -> None:
        self.log_path = tmp_path / f"binary-{args[0]}-{free_port()}.log"
        # a clean environment: nothing of this checkout or its virtualenv is on the binary's path
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PG"))}
        self.proc = subprocess.Popen(
            [str(binary), *args],
            stdout=open(self.log_path, "w"),
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**base, **(env or {})},
        )

    def wait(self, url: str) -> None:
        try:
            wait_http(url, self.proc, timeout=60)  # the first start unpacks the executable
        except RuntimeError as exc:
            raise AssertionError(f"{exc}: {self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        return stop_process(self.proc, timeout=20)


@pytest.fixture(scope="module")
def pg_server():
    server = _start_primary("binary-pg", find_bin_dir())
    yield server
    _pg_cleanup(server)


def test_version(binary):
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    from exporters import __version__

    assert proc.stdout.strip() == f"flextime-exporter, version {__version__}"


def test_bad_input_exits_2_from_the_binary(binary):
    proc = subprocess.run([str(binary), "node", "--no-such-flag"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--no-such-flag" in proc.stderr and "Traceback" not in proc.stderr


def test_node_against_this_host(binary, tmp_path):
    port = free_port()
    run = Running(binary, tmp_path, "node", f"--web.listen-address=127.0.0.1:{port}")
    try:
        run.wait(f"http://127.0.0.1:{port}/live")
        resp = http_get(f"http://127.0.0.1:{port}/metrics")
        assert resp.status == 200
        s = samples(resp.text)
        assert ("node_load1", ()) in s
        assert ("node_memory_MemAvailable_bytes", ()) in s
        failed = sorted(
            dict(l)["collector"] for (n, l), v in s.items() if n == "node_scrape_collector_success" and v == 0
        )
        # collectors whose source this machine lacks may fail; the ones every Linux host has may not
        assert not {"cpu", "meminfo", "loadavg", "filesystem", "netdev", "stat", "uname", "time"} & set(failed), failed
        assert 'exporter="node"' in resp.text
    finally:
        assert run.stop() == 0, run.log()


def test_postgres_against_a_test_server(binary, tmp_path, pg_server):
    port = free_port()
    run = Running(
        binary,
        tmp_path,
        "postgres",
        f"--web.listen-address=127.0.0.1:{port}",
        env={"DATA_SOURCE_NAME": pg_server.exporter_dsn},
    )
    try:
        run.wait(f"http://127.0.0.1:{port}/live")
        text = http_get(f"http://127.0.0.1:{port}/metrics").text
        s = samples(text)
        assert s[("pg_up", ())] == 1.0, run.log()
        assert any(n.startswith("pg_stat_database_xact_commit") and ("datname", "app1") in l for n, l in s), text
        assert any(n == "pg_database_size_bytes" for n, _ in s)
        assert pg_server.exporter_password not in text and pg_server.exporter_password not in run.log()
        assert http_get(f"http://127.0.0.1:{port}/health").status == 200
    finally:
        assert run.stop() == 0, run.log()


def test_fleet_from_the_binary(binary, tmp_path, pg_server):
    shared, pg_port = free_port(), free_port()
    config = tmp_path / "fleet.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "listen": f"127.0.0.1:{shared}",
                "exporters": [
                    {
                        "exporter": "node",
                        "path": "/metrics",
                        "args": ["--collector.disable-defaults", "--collector.loadavg"],
                    },
                    {
                        "exporter": "postgres",
                        "listen": f"127.0.0.1:{pg_port}",
                        "env": {"DATA_SOURCE_NAME": pg_server.exporter_dsn},
                    },
                    {"exporter": "redis", "path": "/redis/metrics", "env": {"REDIS_ADDR": "redis://127.0.0.1:1"}},
                ],
            }
        )
    )
    run = Running(binary, tmp_path, "fleet", "--config", str(config))
    try:
        run.wait(f"http://127.0.0.1:{shared}/live")
        wait_http(f"http://127.0.0.1:{pg_port}/live", run.proc)
        assert ("node_load1", ()) in samples(http_get(f"http://127.0.0.1:{shared}/metrics").text)
        assert samples(http_get(f"http://127.0.0.1:{pg_port}/metrics").text)[("pg_up", ())] == 1.0
        assert samples(http_get(f"http://127.0.0.1:{shared}/redis/metrics").text)[("redis_up", ())] == 0.0
    finally:
        assert run.stop() == 0, run.log()


# ---- systemd units ------------------------------------------------------------------------------


def _units_for_verify(tmp_path: Path) -> Path:
    """A copy of deploy/systemd/ whose ExecStart names a program that exists here (verify checks it)."""
    target = shutil.which("flextime-exporter") or "/bin/true"
    out = tmp_path / "units"
    shutil.copytree(SYSTEMD_DIR, out)
    for unit in out.rglob("*"):
        if unit.is_file():
            unit.write_text(unit.read_text().replace("/usr/local/bin/flextime-exporter", target))
    return out


def _verify(units: Path, *names: str) -> subprocess.CompletedProcess:
    analyze = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not os.path.exists(analyze):
        if IN_CI:
            pytest.fail("systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    # the copy first on the unit path (trailing ':' keeps the defaults), so instances find the template
    # and its drop-ins
    return subprocess.run(
        [analyze, "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=units,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"},
    )


@pytest.mark.parametrize(
    "unit",
    [
        "flextime-exporter@node.service",
        "flextime-exporter@postgres.service",
        "flextime-exporter@redis.service",
        "flextime-exporter@scheduler.service",
        "flextime-exporter-fleet.service",
        "flextime-exporter@node.socket",
    ],
)
def test_systemd_analyze_verify_accepts_the_units(tmp_path, unit):
    units = _units_for_verify(tmp_path)
    proc = _verify(units, unit)
    ours = [l for l in (proc.stdout + proc.stderr).splitlines() if "flextime-exporter" in l]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_systemd_verify_would_catch_a_mistake(tmp_path):
    """The check above is not blind: a wrong key in a unit or its drop-in is reported."""
    units = _units_for_verify(tmp_path)
    conf = units / "flextime-exporter@node.service.d" / "host.conf"
    conf.write_text(conf.read_text() + "ProtectSystm=strict\n")
    proc = _verify(units, "flextime-exporter@node.service")
    assert "ProtectSystm" in proc.stderr and "host.conf" in proc.stderr, proc.stderr


def test_units_are_hardened():
    for path in [SYSTEMD_DIR / "flextime-exporter@.service", SYSTEMD_DIR / "flextime-exporter-fleet.service"]:
        text = path.read_text()
        settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
        for key, value in {
            "DynamicUser": "yes",
            "ProtectSystem": "strict",
            "NoNewPrivileges": "yes",
            "PrivateTmp": "yes",
            "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes",
            "ProtectControlGroups": "yes",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            "CapabilityBoundingSet": "",
            "LockPersonality": "yes",
            "MemoryDenyWriteExecute": "yes",
            "Restart": "on-failure",
            "RestartPreventExitStatus": "2",
        }.items():
            assert settings.get(key) == value, (path.name, key, settings.get(key))
        assert settings["ProtectHome"] in ("yes", "read-only")
        assert settings["SystemCallFilter"].startswith("@system-service")
        assert "EnvironmentFile=-/etc/flextime-exporter/" in text
        assert "ExecStart=/usr/local/bin/flextime-exporter " in text
    assert "ProtectHome=yes" in (SYSTEMD_DIR / "flextime-exporter@.service").read_text()
