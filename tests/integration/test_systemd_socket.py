"""--web.systemd-socket: socket activation with the real systemd-socket-activate, which binds a loopback
port and execs the exporter with the socket as descriptor 3 (LISTEN_PID/LISTEN_FDS), as a .socket unit does."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ROOT, exporter_cmd, free_port, require_program, stop_process, value, wait_http


def activate(tmp_path, exporter: str, *args: str, env: dict | None = None):
    program = require_program("systemd-socket-activate")
    port = free_port()
    log = open(tmp_path / f"{exporter}.log", "w")
    proc = subprocess.Popen(
        [program, "-l", f"127.0.0.1:{port}", "--fdname=web", *exporter_cmd(exporter), "--web.systemd-socket", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return proc, port


@pytest.mark.parametrize(
    "exporter,args,metric",
    [
        ("node", ("--collector.disable-defaults", "--collector.loadavg"), "node_load1"),
        ("redis", ("--redis.addr=redis://127.0.0.1:1",), "redis_up"),
    ],
)
def test_scrape_through_the_passed_socket(tmp_path, exporter, args, metric):
    """Every exporter takes the flag: the first connection starts it (systemd-socket-activate execs it on the
    first connection) and that very request is answered."""
    proc, port = activate(tmp_path, exporter, *args)
    try:
        wait_http(f"http://127.0.0.1:{port}/live", proc)
        from conftest import http_get

        text = http_get(f"http://127.0.0.1:{port}/metrics").text
        value(text, metric)  # present
        assert "flextime_exporter_build_info" in text
        log = (tmp_path / f"{exporter}.log").read_text()
        assert f"listening on systemd socket 127.0.0.1:{port} (web)" in log
    finally:
        stop_process(proc)


def test_without_passed_sockets_it_refuses_to_start(tmp_path):
    proc = subprocess.run(
        exporter_cmd("node", "--web.systemd-socket"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--web.systemd-socket: no sockets passed by systemd" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sockets_meant_for_another_process_are_refused(tmp_path):
    proc = subprocess.run(
        exporter_cmd("node", "--web.systemd-socket"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LISTEN_PID": "1", "LISTEN_FDS": "1"},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "meant for pid 1" in proc.stderr
