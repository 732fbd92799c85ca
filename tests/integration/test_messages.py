"""The command line's messages have one shape: ``flextime-exporter <sub>: error: <message>`` on one
line with exit status 2, one "Did you mean" format, addresses as the user wrote them."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from conftest import ROOT, exporter_cmd, free_port, missing

PREFIX = re.compile(r"^flextime-exporter( [a-z]+)*: error: ")


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(exporter_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args,prefix",
    [
        (["node", "--no-such-flag"], "flextime-exporter node: error: "),  # click's usage error
        (["node", "--web.telemetry-path=metrics"], "flextime-exporter node: error: "),  # our ConfigError
        (["redis", "--redis.addr=ftp://x"], "flextime-exporter redis: error: "),
        (["scheduler", "--web.telemetry-path=x"], "flextime-exporter scheduler: error: "),
        (["fleet", "--config=/nonexistent/fleet.yml"], "flextime-exporter fleet: error: "),
        (["rules", "check", "/nonexistent/rules.yml"], "flextime-exporter rules check: error: "),
        (["nosuchcommand"], "flextime-exporter: error: "),
    ],
)
def test_one_error_prefix_everywhere(args, prefix):
    line = one_error_line(
        run_cli(
            *args,
            *([f"--web.listen-address=127.0.0.1:{free_port()}"] if args[0] in ("node", "redis", "scheduler") else []),
        )
    )
    assert line.startswith(prefix), line


@pytest.mark.parametrize(
    "args,hint",
    [
        (["nod"], "Did you mean 'node'?"),
        (["rules", "chek"], "Did you mean 'check'?"),
        (["node", "--web.listen-adress=:1"], "Did you mean '--web.listen-address'?"),
        (["node", "--colector.cpu"], "Did you mean '--collector.cpu', '--collector.cpufreq' or '--no-collector.cpu'?"),
    ],
)
def test_one_did_you_mean_format(args, hint):
    line = one_error_line(run_cli(*args))
    assert hint in line, line
    assert "one of" not in line and "(Did" not in line, line


@pytest.mark.parametrize(
    "family,host,shown",
    [
        (socket.AF_INET, "127.0.0.1", "127.0.0.1:{port}"),
        (socket.AF_INET6, "::1", "[::1]:{port}"),
    ],
)
def test_port_in_use_is_host_colon_port(family, host, shown):
    with socket.socket(family) as s:
        try:
            s.bind((host, 0))
        except OSError:
            missing(f"no {host} on this machine")
        s.listen()
        port = s.getsockname()[1]
        line = one_error_line(run_cli("node", f"--web.listen-address={shown.format(port=port)}"))
    assert line == f"flextime-exporter node: error: cannot listen on {shown.format(port=port)}: address already in use"


@pytest.mark.parametrize("how", ["--dsn", "DATA_SOURCE_NAME"])
def test_postgres_dsn_with_a_bad_port_stops_start_up(how):
    """libpq reads the port only when it connects: without a check at start-up the exporter would
    serve pg_up 0 forever. One line, exit 2, the password nowhere."""
    dsn = "postgresql://u:s3cret-pw@host:notaport/db"
    listen = f"--web.listen-address=127.0.0.1:{free_port()}"
    if how == "--dsn":
        proc = run_cli("postgres", f"--dsn={dsn}", listen)
    else:
        import os

        proc = subprocess.run(
            exporter_cmd("postgres", listen),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env={**os.environ, "DATA_SOURCE_NAME": dsn},
        )
    line = one_error_line(proc)
    assert line.startswith(f"flextime-exporter postgres: error: {how}: malformed DSN "), line
    assert "'notaport'" in line and "s3cret-pw" not in line, line
