"""Bad input: one line naming the problem, exit status 2, no traceback; and --help
explains every flag."""

from __future__ import annotations

import socket
import subprocess

import pytest

from conftest import ROOT, exporter_cmd, free_port

from exporters.core.runtime import common_flags
from exporters.node import SPEC


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(exporter_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "args,needles",
    [
        (["node", "--no-such-flag"], ["--no-such-flag"]),
        (["nosuchexporter"], ["nosuchexporter"]),
        (["node", "--web.listen-address=nonsense"], ["--web.listen-address", "nonsense"]),
        (["node", "--web.listen-address=127.0.0.1:99999"], ["99999"]),
        (["node", "--web.listen-address=::1:9100"], ["brackets"]),
        (["node", "--web.max-requests=many"], ["--web.max-requests"]),
        (["node", "--path.procfs=/nonexistent/proc"], ["--path.procfs", "/nonexistent/proc"]),
        (["node", "--path.rootfs=/nonexistent/root"], ["--path.rootfs"]),
        (["node", "--collector.filesystem.mount-points-exclude=(unclosed"], ["mount-points-exclude", "(unclosed"]),
        (
            ["node", "--collector.diskstats.device-include=sd", "--collector.diskstats.device-exclude=loop"],
            ["mutually exclusive"],
        ),
        (["node", "--log.level=loud"], ["--log.level"]),
        (["node", "--web.config.file=/nonexistent/web.yml"], ["/nonexistent/web.yml"]),
        (["node", "--web.telemetry-path=metrics"], ["--web.telemetry-path"]),
    ],
)
def test_bad_input_one_line_exit_2(args, needles):
    assert_one_line_error(
        run_cli(*args, f"--web.listen-address=127.0.0.1:{free_port()}")
        if args[0] == "node" and not any("listen-address" in a for a in args)
        else run_cli(*args),
        *needles,
    )


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_cli("node", f"--web.listen-address=127.0.0.1:{port}")
    assert_one_line_error(proc, f"127.0.0.1:{port}", "in use")


def test_procfs_that_exists_but_cannot_be_read(tmp_path):
    """A procfs whose stat is not a readable file (a wrong mount, say)."""
    (tmp_path / "stat").mkdir()
    proc = run_cli("node", f"--path.procfs={tmp_path}", f"--web.listen-address=127.0.0.1:{free_port()}")
    assert_one_line_error(proc, "--path.procfs", "Is a directory")


def test_help_explains_every_flag():
    top = run_cli("--help")
    assert top.returncode == 0 and "node" in top.stdout
    proc = run_cli("node", "--help")
    assert proc.returncode == 0
    flags = [f.flag for f in (*common_flags(SPEC), *SPEC.flags)]
    for cls in SPEC.collectors:
        flags.append(f"--collector.{cls.name}")
        flags.append(f"--no-collector.{cls.name}")
        flags += [f.flag for f in cls.flags]
    missing = [f for f in flags if f not in proc.stdout]
    assert not missing, missing
    assert "FLEXTIME_NODE_WEB_LISTEN_ADDRESS" in proc.stdout


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and "flextime-exporter" in proc.stdout
