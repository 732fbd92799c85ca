"""Shared fixtures: free loopback ports, our exporter as a real process, and the
real reference programs (Debian's node_exporter, promtool, prometheus).

A missing program skips its tests on a developer's laptop, but with CI=true it
fails them: CI installs everything (.ci/run), so a skip there would hide a gap."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporters.node.diskstats import DEFAULT_DEVICE_EXCLUDE
from exporters.node.filesystem import DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(*names: str) -> str:
    """The path of the first of ``names`` on PATH; skip (laptop) or fail (CI) without it."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(f"{' or '.join(names)} is not installed (apt-get install it, or run .ci/run)")


def missing(message: str) -> None:
    """Something this machine lacks (a program, IPv6 loopback): skip on a laptop, fail in CI."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        data = self.body
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data.decode()


def http_get(url: str, headers: dict | None = None, timeout: float = 15.0, context=None) -> Response:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return Response(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read())


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 20.0, context=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if http_get(url, timeout=2, context=context).status < 500:  # 503: still starting
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass
class Exporter:
    """A running ``flextime-exporter`` process."""

    proc: subprocess.Popen
    port: int
    scheme: str = "http"
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def get(self, path: str = "/metrics", headers: dict | None = None, **kw) -> Response:
        return http_get(self.base + path, headers, **kw)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def exporter_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "exporters", *args]


def start_exporter(
    tmp_path: Path,
    *args: str,
    exporter: str = "node",
    scheme: str = "http",
    env: dict | None = None,
    context=None,
    wait_path: str = "/live",
    preexec_fn=None,
) -> Exporter:
    port = free_port()
    log_path = tmp_path / f"exporter-{port}.log"
    logf = open(log_path, "w")
    proc = subprocess.Popen(
        exporter_cmd(exporter, f"--web.listen-address=127.0.0.1:{port}", *args),
        stdout=logf,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    exp = Exporter(proc, port, scheme, log_path)
    try:
        wait_http(f"{scheme}://127.0.0.1:{port}{wait_path}", proc, context=context)
    except Exception:
        exp.stop()
        raise RuntimeError(f"exporter did not start: {log_path.read_text()}") from None
    return exp


@pytest.fixture
def exporter_factory(tmp_path):
    started: list[Exporter] = []

    def factory(*args: str, **kw) -> Exporter:
        exp = start_exporter(tmp_path, *args, **kw)
        started.append(exp)
        return exp

    yield factory
    for exp in started:
        exp.stop()


@pytest.fixture(scope="session")
def node_exporter_ours(tmp_path_factory):
    """Our host exporter with default flags, shared by the read-only tests."""
    exp = start_exporter(tmp_path_factory.mktemp("ours"))
    yield exp
    exp.stop()


def start_go_exporter(
    binary: str,
    *args: str,
    log_path: Path,
    env: dict | None = None,
    wait_path: str = "/metrics",
    cls: type = Exporter,
    **fields,
) -> Exporter:
    """A Go reference exporter (Debian's node, postgres or redis exporter) on a free loopback port,
    its output in ``log_path``; the log is in the error when it does not come up."""
    port = free_port()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", *args],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log_path.parent,
        )
    exp = cls(proc, port, log_path=log_path, **fields)
    try:
        wait_http(f"http://127.0.0.1:{port}{wait_path}", proc)
    except Exception:
        exp.stop()
        raise RuntimeError(f"{Path(binary).name} did not start: {log_path.read_text()}") from None
    return exp


@pytest.fixture(scope="session")
def node_exporter_go(tmp_path_factory):
    """Today's node_exporter (Debian 13's 1.9), the reference we are a drop-in for, on this host."""
    binary = newer_go_binary("prometheus-node-exporter")
    exp = start_go_exporter(
        binary,
        # Debian patches its defaults; give it upstream's (ours) so both see the same set
        f"--collector.diskstats.device-exclude={DEFAULT_DEVICE_EXCLUDE}",
        f"--collector.filesystem.mount-points-exclude={DEFAULT_MOUNT_POINTS_EXCLUDE}",
        f"--collector.filesystem.fs-types-exclude={DEFAULT_FS_TYPES_EXCLUDE}",
        "--collector.netdev.device-exclude=",
        log_path=tmp_path_factory.mktemp("go") / "node_exporter.log",
    )
    yield exp
    exp.stop()


def parse_families(text: str) -> dict:
    """Parse exposition text with prometheus_client's parser (an independent reader
    of the format): {family name: Metric}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {m.name: m for m in text_string_to_metric_families(text)}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label pairs): value} of an exposition text."""
    out = {}
    for fam in parse_families(text).values():
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels) -> float:
    """The one sample ``name{labels}`` of an exposition; fails the test when absent."""
    found = [
        v for (n, l), v in samples(text).items() if n == name and all(dict(l).get(k) == w for k, w in labels.items())
    ]
    assert found, f"no sample {name}{labels} in the scrape"
    assert len(found) == 1, f"{len(found)} samples match {name}{labels}"
    return found[0]


class Prometheus:
    """A real Prometheus (Debian's) on a free loopback port, scraping and evaluating every
    second: ``jobs`` maps a job name to its ``host:port`` targets (or use with_config() for a
    whole config file). Stop it with stop()."""

    def __init__(self, directory: Path, jobs: dict[str, list[str]] | None = None, config: Path | None = None) -> None:
        binary = require_program("prometheus")
        directory.mkdir(parents=True, exist_ok=True)
        if config is None:
            scrape = "".join(
                f"  - job_name: {job}\n    static_configs: [{{targets: {targets!r}}}]\n"
                for job, targets in (jobs or {}).items()
            )
            config = directory / "prometheus.yml"
            config.write_text(
                "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
                f"scrape_configs:\n{scrape or '  []'}"
            )
        port = free_port()
        self._log = open(directory / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{self.base}/-/ready", self.proc, timeout=30)
        except BaseException:
            self.stop()
            raise

    @classmethod
    def with_config(cls, directory: Path, config: Path) -> "Prometheus":
        return cls(directory, config=config)

    def api(self, path: str) -> dict:
        """GET /api/v1/<path>: its ``data`` (fails the test when the status is not success)."""
        import json

        body = json.loads(http_get(f"{self.base}/api/v1/{path}").body)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list:
        """The instant query's result list (fails the test on a query error)."""
        import json
        import urllib.parse

        body = json.loads(http_get(f"{self.base}/api/v1/query?query={urllib.parse.quote(expr)}").body)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait(self, expr: str, predicate=bool, timeout: float = 20.0) -> list:
        """Evaluate until predicate(result) holds; fail after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            assert time.monotonic() < end, f"{expr}: {result} did not satisfy the condition within {timeout}s"
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def newer_go_binary(package: str) -> str:
    """Today's upstream Go exporter (Debian 13's build of ``package``, e.g. ``prometheus-node-exporter``
    1.9), unpacked without installing by tests/tools/newer_go_exporters.py; skip on a laptop without
    network, fail in CI."""
    sys.path.insert(0, str(ROOT / "tests" / "tools"))
    try:
        import newer_go_exporters

        return str(newer_go_exporters.binary(package))
    except Exception as exc:  # no network, no apt: a laptop
        message = f"cannot fetch Debian 13's {package}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        sys.path.remove(str(ROOT / "tests" / "tools"))


@pytest.fixture(scope="session")
def node_fixture_tree(tmp_path_factory) -> Path:
    """node_exporter's recorded hardware (tests/data/node-fixtures), unpacked once: proc/, sys/, udev/data/."""
    root = tmp_path_factory.mktemp("node-fixtures")
    for name in ("proc", "sys", "udev"):
        subprocess.run(
            ["tar", "xzf", str(ROOT / "tests" / "data" / "node-fixtures" / f"{name}.tar.gz"), "-C", str(root)],
            check=True,
        )
    return root
