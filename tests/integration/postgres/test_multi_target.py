"""Several targets: comma-separated DSNs on /metrics, and /probe?target=&auth_module= restricted
to the targets --config.file allows, against a real PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import ROOT, exporter_cmd, free_port, parse_families, samples, value

from .conftest import EXPORTER_ROLE

APP = "flextime-probe-test"


def write_config(tmp_path, pg_primary, allowed: list[str]) -> str:
    (tmp_path / "pg-password").write_text(pg_primary.exporter_password + "\n")
    allowed_yaml = "\n".join(f"    - {a!r}" for a in allowed)
    path = tmp_path / "postgres_exporter.yml"
    path.write_text(f"""auth_modules:
  monitoring:
    type: userpass
    userpass:
      username: {EXPORTER_ROLE}
      password_file: {tmp_path / "pg-password"}
    options:
      sslmode: disable
  wrong:
    type: userpass
    userpass:
      username: {EXPORTER_ROLE}
      password: "{pg_primary.exporter_password}-wrong"
probe:
  allowed_targets:
{allowed_yaml}
""")
    return str(path)


class ConnectionCounter:
    """A listener that counts the connections made to it: proof that a refused probe never even
    connects. A TCP port on loopback by default, or ``unix_path``: a Unix socket."""

    def __init__(self, unix_path: str | None = None) -> None:
        if unix_path is None:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(unix_path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def counter():
    c = ConnectionCounter()
    yield c
    c.close()


@pytest.fixture
def prober(exporter_factory, pg_primary, tmp_path, counter):
    """An exporter with no DSN at all: /probe only, allowed to reach the test server (by IP and port)
    and the counting listener's port under a name pattern that the IP does not match."""
    config = write_config(tmp_path, pg_primary, [f"127.0.0.1:{pg_primary.port}", f"counter-*.invalid:{counter.port}"])
    return exporter_factory(
        f"--config.file={config}",
        f"--postgres.application-name={APP}",
        "--log.level=debug",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": ""},
    )


def probe(exp, target: str, auth_module: str | None = "monitoring", **extra):
    query = {"target": target, **({"auth_module": auth_module} if auth_module else {}), **extra}
    return exp.get("/probe?" + urllib.parse.urlencode(query))


def test_probe_serves_an_allowed_target_with_the_auth_modules_credentials(prober, pg_primary):
    target = f"127.0.0.1:{pg_primary.port}/postgres"
    resp = probe(prober, target)
    assert resp.status == 200, resp.text
    assert value(resp.text, "pg_up") == 1
    server = f"127.0.0.1:{pg_primary.port}"
    assert value(resp.text, "pg_settings_max_connections", server=server) == 100
    assert value(resp.text, "pg_scrape_collector_success", collector="stat_database") == 1
    families = parse_families(resp.text)
    assert not any(name.startswith(("process_", "flextime_exporter_", "promhttp_")) for name in families)
    # the connections are kept (the session's two: main and slow lane): probing again opens no more
    held = pg_primary.connections_from(APP)
    for _ in range(3):
        assert value(probe(prober, target).text, "pg_up") == 1
    assert pg_primary.connections_from(APP) == held <= 2
    # a full URI and key=value forms name the same kind of target
    uri = probe(prober, f"postgresql://127.0.0.1:{pg_primary.port}/app1")
    assert value(uri.text, "pg_up") == 1
    keyvalue = probe(prober, f"host=127.0.0.1 port={pg_primary.port} dbname=app2")
    assert value(keyvalue.text, "pg_up") == 1
    # the exporter's own /metrics has no target of its own, but serves its process metrics
    own = prober.get()
    assert own.status == 200 and "process_resident_memory_bytes" in own.text and "pg_up" not in own.text


def test_collect_filters_a_probe(prober, pg_primary):
    resp = prober.get(
        "/probe?"
        + urllib.parse.urlencode(
            {"target": f"127.0.0.1:{pg_primary.port}", "auth_module": "monitoring", "collect[]": "settings"}
        )
    )
    collectors = {
        dict(labels)["collector"] for (name, labels) in samples(resp.text) if name == "pg_scrape_collector_success"
    }
    assert collectors == {"settings"}


@pytest.mark.parametrize(
    "target,auth_module,needle",
    [
        ("127.0.0.1:{other}", "monitoring", "127.0.0.1:{other} is not in probe.allowed_targets"),
        ("localhost:{pg}", "monitoring", "localhost:{pg} is not in probe.allowed_targets"),
        ("postgresql://127.0.0.1:{pg},127.0.0.1:{other}/postgres", "monitoring", "127.0.0.1:{other} is not in"),
        ("host=127.0.0.1 port={pg} hostaddr=127.0.0.1", "monitoring", "'hostaddr' is not allowed in a probe target"),
        ("host=127.0.0.1 port={pg} service=prod", "monitoring", "'service' is not allowed"),
        ("127.0.0.1:{pg}", "nosuchmodule", "unknown auth_module 'nosuchmodule' (configured: monitoring, wrong)"),
        ("", "monitoring", "the target parameter is missing"),
        ("host=127.0.0.1 port", "monitoring", "malformed DSN"),
    ],
)
def test_refused_probes_are_400_and_never_connect(prober, pg_primary, counter, target, auth_module, needle):
    fill = {"other": counter.port, "pg": pg_primary.port}
    resp = probe(prober, target.format(**fill), auth_module)
    assert resp.status == 400, resp.text
    assert needle.format(**fill) in resp.text
    assert pg_primary.exporter_password not in resp.text
    time.sleep(0.3)
    assert counter.accepted == 0


def test_allowlist_patterns_are_names_not_addresses(prober, counter):
    """'counter-*.invalid:PORT' is allowed by its glob: the exporter then tries to resolve the
    name (and fails: .invalid never resolves), so the probe is served with pg_up 0 and still
    nothing reaches the listener."""
    resp = probe(prober, f"counter-1.invalid:{counter.port}")
    assert resp.status == 200 and value(resp.text, "pg_up") == 0
    assert counter.accepted == 0


def test_wrong_credentials_give_pg_up_0_and_no_password_anywhere(prober, pg_primary):
    resp = probe(prober, f"127.0.0.1:{pg_primary.port}", "wrong")
    assert resp.status == 200 and value(resp.text, "pg_up") == 0
    texts = [resp.text, prober.get("/").text, prober.get("/health").text, prober.get().text]
    refused = probe(prober, f"127.0.0.1:{pg_primary.port}", "nosuchmodule")
    texts += [refused.text, prober.log()]
    for text in texts:
        assert pg_primary.exporter_password not in text
    assert "password authentication failed" in prober.log()


def test_password_in_the_target_itself_is_used_but_never_logged(prober, pg_primary):
    """No auth module: the DSN in ``target`` carries the password; the debug access log keeps
    only the parameter names of the request."""
    target = (
        f"postgresql://{EXPORTER_ROLE}:{pg_primary.exporter_password}@127.0.0.1:{pg_primary.port}/app2?sslmode=disable"
    )
    resp = probe(prober, target, None)
    assert value(resp.text, "pg_up") == 1
    assert pg_primary.exporter_password not in resp.text
    time.sleep(0.2)
    log = prober.log()
    assert '"GET /probe?[target]" 200' in log
    assert pg_primary.exporter_password not in log


def test_several_dsns_share_metrics_each_with_its_server_label(exporter_factory, pg_primary):
    """One target up, one down: each has its own pg_up and collector status, told apart by server."""
    dead = free_port()
    up_dsn = pg_primary.exporter_dsn + "?sslmode=disable"
    down_dsn = f"postgresql://{EXPORTER_ROLE}:{pg_primary.exporter_password}@127.0.0.1:{dead}/postgres?sslmode=disable"
    exp = exporter_factory(exporter="postgres", env={"DATA_SOURCE_NAME": f"{up_dsn},{down_dsn}"})
    text = exp.get().text
    up, down = f"127.0.0.1:{pg_primary.port}", f"127.0.0.1:{dead}"
    assert value(text, "pg_up", server=up) == 1
    assert value(text, "pg_up", server=down) == 0
    assert value(text, "pg_scrape_collector_success", server=up, collector="settings") == 1
    assert value(text, "pg_scrape_collector_success", server=down, collector="settings") == 0
    assert value(text, "pg_settings_max_connections", server=up) == 100
    assert value(text, "flextime_exporter_series_dropped_total") == 0
    health = exp.get("/health")
    assert health.status == 503 and f"postgresql://exporter@127.0.0.1:{dead}/postgres" in health.text
    assert pg_primary.exporter_password not in health.text + exp.get("/").text + exp.log()


@pytest.mark.parametrize(
    "config,needle",
    [
        ("auth_modules: [a, b]\n", "auth_modules must be a mapping"),
        ("auth_modules:\n  m:\n    type: token\n", "auth module 'm': type must be 'userpass'"),
        (
            "auth_modules:\n  m:\n    type: userpass\n    userpass:\n      username: u\n      password_file: /nonexistent/pw\n",
            "userpass.password_file /nonexistent/pw",
        ),
        ("probe:\n  allowed_targets: db:5432\n", "probe.allowed_targets must be a list"),
        ("probes: {}\n", "unknown key 'probes'"),
        ("auth_modules: {\n", "not valid YAML"),
    ],
)
def test_bad_config_file_is_one_line_exit_2(tmp_path, config, needle):
    path = tmp_path / "bad.yml"
    path.write_text(config)
    proc = subprocess.run(
        exporter_cmd("postgres", f"--config.file={path}", f"--web.listen-address=127.0.0.1:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATA_SOURCE", "PG"))},
            "DATA_SOURCE_NAME": "host=127.0.0.1",
        },
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(path) in lines[0], proc.stderr


def test_a_host_glob_never_matches_a_socket_path(exporter_factory, pg_primary, tmp_path):
    """'*.corp.test:5432' allows host names under corp.test; a target whose host is a directory named
    like one (key=value or %2F-escaped URI form) is a Unix socket, and no host glob may let it through:
    HTTP 400, and the listener on that socket sees no connection (no password sent to it)."""
    import tempfile

    base = tempfile.mkdtemp(prefix="pgsock-", dir="/tmp")  # short: a socket path has ~108 bytes
    evil = os.path.join(base, "x", "evil.corp.test")
    os.makedirs(evil)
    # where libpq looks when host is a directory: whoever listens there would get the auth module's password
    listener = ConnectionCounter(os.path.join(evil, ".s.PGSQL.5432"))
    try:
        config = write_config(tmp_path, pg_primary, ["*.corp.test:5432", "*:*"])
        exp = exporter_factory(
            f"--config.file={config}", "--log.level=debug", exporter="postgres", env={"DATA_SOURCE_NAME": ""}
        )
        for target in (
            f"host={evil} port=5432 dbname=postgres",
            "postgresql://" + urllib.parse.quote(evil, safe="") + ":5432/postgres",
            f"postgresql:///postgres?host={urllib.parse.quote(evil, safe='')}&port=5432",
        ):
            resp = probe(exp, target)
            assert resp.status == 400, (target, resp.text)
            assert "is not in probe.allowed_targets" in resp.text
        time.sleep(0.3)
        assert listener.accepted == 0
        assert pg_primary.exporter_password not in exp.log()
    finally:
        listener.close()
        subprocess.run(["rm", "-rf", base], check=False)


def test_a_socket_directory_is_allowed_only_by_its_exact_path(exporter_factory, pg_primary, tmp_path):
    """A socket directory named exactly in the allowlist is probed over its socket; its parent or a
    sibling directory is refused."""
    config = write_config(tmp_path, pg_primary, [str(pg_primary.socket_dir)])
    exp = exporter_factory(f"--config.file={config}", exporter="postgres", env={"DATA_SOURCE_NAME": ""})
    resp = probe(exp, f"host={pg_primary.socket_dir} port={pg_primary.port} dbname=postgres")
    assert resp.status == 200 and value(resp.text, "pg_up") == 1, resp.text
    for other in (os.path.dirname(str(pg_primary.socket_dir)), str(pg_primary.socket_dir) + "-other"):
        refused = probe(exp, f"host={other} port={pg_primary.port} dbname=postgres")
        assert refused.status == 400, refused.text


@pytest.mark.parametrize(
    "pattern,needle",
    [
        ("/tmp/*/sockets", "a socket path is matched exactly, without globs"),
        ("db-1.internal:54x2", "is not a port number or a glob of one"),
        ("db-1.internal:70000", "is not a port number or a glob of one"),
        ("db 1.internal:5432", "cannot match a host name"),
        ("fd00::1:5432", "write an IPv6 address in brackets"),
    ],
)
def test_an_allowlist_pattern_that_cannot_match_stops_start_up(tmp_path, pg_primary, pattern, needle):
    config = write_config(tmp_path, pg_primary, [pattern])
    proc = subprocess.run(
        exporter_cmd("postgres", f"--config.file={config}", "--web.listen-address=127.0.0.1:0"),
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DATA_SOURCE_NAME": ""},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "probe.allowed_targets" in lines[0], proc.stderr


def _distinct_targets(pg_primary) -> list[str]:
    """Four distinct probe targets of the one test server (the pool keys a target by its whole DSN)."""
    return [f"host=127.0.0.1 port={pg_primary.port} dbname={db}" for db in ("postgres", "app1", "app2", "template1")]


def _await(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_idle_probe_targets_close_on_a_timer_and_concurrent_probes_after_expiry_all_answer(
    exporter_factory, pg_primary, tmp_path
):
    """--probe.idle-timeout: with no probe at all, the idle targets' connections close on time (the
    timer, not the next request, closes them); then 24 concurrent probes of the expired targets all
    answer 200 (they raced in the expiry: HTTP 500 and a traceback with the DSN in the log), and no log
    line holds the password or an ERROR."""
    app = "flextime-expiry-test"
    config = write_config(tmp_path, pg_primary, [f"127.0.0.1:{pg_primary.port}"])
    exp = exporter_factory(
        f"--config.file={config}",
        f"--postgres.application-name={app}",
        "--log.level=debug",
        "--probe.idle-timeout=3",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": ""},
    )
    targets = _distinct_targets(pg_primary)
    for target in targets:
        assert value(probe(exp, target).text, "pg_up") == 1
    assert pg_primary.connections_from(app) > 0
    _await(lambda: pg_primary.connections_from(app) == 0, what="idle probe targets to close with no probe")
    assert exp.log().count("closed: not probed for 3s") == len(targets)

    results: list = []
    threads = [threading.Thread(target=lambda t=t: results.append(probe(exp, t))) for t in targets * 6]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status for r in results] == [200] * len(threads)
    assert all(value(r.text, "pg_up") == 1 for r in results)
    log = exp.log()
    assert pg_primary.exporter_password not in log
    assert " ERROR " not in log and "Traceback" not in log


def test_probe_pool_bound_is_a_setting(exporter_factory, pg_primary, tmp_path):
    """--probe.max-targets=2: four targets probed in turn leave only the two most recent with connections."""
    app = "flextime-bound-test"
    config = write_config(tmp_path, pg_primary, [f"127.0.0.1:{pg_primary.port}"])
    exp = exporter_factory(
        f"--config.file={config}",
        f"--postgres.application-name={app}",
        "--probe.max-targets=2",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": ""},
    )
    for target in _distinct_targets(pg_primary)[:4]:
        assert value(probe(exp, target).text, "pg_up") == 1
    _await(lambda: pg_primary.connections_from(app) <= 2 * 2, what="the pool to close targets beyond its bound")
    assert exp.log().count("closed: more than 2 probe targets") == 2
