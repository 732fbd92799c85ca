"""`flextime-exporter postgres` against a real PostgreSQL, beside Debian's postgres_exporter:
same families where both have them, an honest pg_up, one connection however many scrapers,
and the password never shown."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from conftest import ROOT, exporter_cmd, free_port, parse_families, start_exporter, value

APP = "flextime-exporter-test"


def label_names(metric) -> tuple[str, ...]:
    return tuple(sorted({k for s in metric.samples for k in s.labels}))


@pytest.fixture(scope="module")
def ours(pg_primary, tmp_path_factory):
    exp = start_exporter(
        tmp_path_factory.mktemp("pg"),
        "--compat=0.11",
        f"--postgres.application-name={APP}",
        "--web.enable-openmetrics",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"},
    )
    yield exp
    exp.stop()


def test_same_families_types_and_labels_as_postgres_exporter(ours, go_postgres_exporter):
    o = parse_families(ours.get().text)
    g = parse_families(go_postgres_exporter.get().text)
    shared = [n for n in o if n in g and not n.startswith(("process_", "go_", "promhttp_"))]
    assert len(shared) > 150, len(shared)  # pg_settings_* alone are ~250
    for family in (
        "pg_up",
        "pg_static",
        "pg_database_size_bytes",
        "pg_settings_max_connections",
        "pg_settings_shared_buffers_bytes",
        "pg_exporter_last_scrape_error",
        "pg_exporter_scrapes",
    ):
        assert family in shared, family
    problems = [
        f"{n}: {o[n].type}/{label_names(o[n])} != {g[n].type}/{label_names(g[n])}"
        for n in shared
        if (o[n].type, label_names(o[n])) != (g[n].type, label_names(g[n]))
    ]
    assert not problems, problems
    settings_go = {n for n in g if n.startswith("pg_settings_")}
    settings_ours = {n for n in o if n.startswith("pg_settings_")}
    assert settings_go <= settings_ours, sorted(settings_go - settings_ours)


def test_stable_values_agree(ours, go_postgres_exporter, pg_primary):
    o, g = ours.get().text, go_postgres_exporter.get().text
    for name in (
        "pg_settings_max_connections",
        "pg_settings_shared_buffers_bytes",
        "pg_settings_checkpoint_timeout_seconds",
        "pg_settings_log_min_duration_statement_seconds",
    ):
        assert value(o, name) == value(g, name), name
    for db in ("postgres", "app1", "app2"):
        a, b = value(o, "pg_database_size_bytes", datname=db), value(g, "pg_database_size_bytes", datname=db)
        assert abs(a - b) <= 0.02 * b, db
    assert [s.labels for s in parse_families(o)["pg_static"].samples] == [
        s.labels for s in parse_families(g)["pg_static"].samples
    ]
    assert value(o, "pg_up") == 1
    assert str(pg_primary.port) in parse_families(o)["pg_static"].samples[0].labels["server"]


def test_one_connection_for_many_concurrent_scrapers(ours, pg_primary):
    """8 scrapers for 20 s: the server never sees more than 2 backends of ours."""
    stop = time.monotonic() + 20
    errors: list = []
    most = [0]

    def scraper():
        while time.monotonic() < stop:
            r = ours.get()
            if r.status != 200 or "pg_up 1" not in r.text:
                errors.append(r.status)

    threads = [threading.Thread(target=scraper) for _ in range(8)]
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        most[0] = max(most[0], pg_primary.connections_from(APP))
        time.sleep(0.5)
    for t in threads:
        t.join(30)
    assert not errors, errors[:5]
    assert 1 <= most[0] <= 2, most[0]


def test_pg_up_follows_the_server_down_and_back(exporter_factory, pg_primary):
    exp = exporter_factory(exporter="postgres", env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"})
    assert value(exp.get().text, "pg_up") == 1
    pg_primary.stop()
    try:
        t = time.monotonic()
        resp = exp.get()
        assert resp.status == 200 and time.monotonic() - t < 2
        assert value(resp.text, "pg_up") == 0
        assert value(resp.text, "pg_exporter_last_scrape_error") == 1
        assert value(resp.text, "pg_scrape_collector_success", collector="settings") == 0
        assert "pg_settings_max_connections" not in resp.text  # no stale values
        assert exp.get("/health").status == 503
    finally:
        pg_primary.start()
    resp = exp.get()  # the next scrape, no exporter restart
    assert value(resp.text, "pg_up") == 1
    assert value(resp.text, "pg_scrape_collector_success", collector="settings") == 1
    assert exp.get("/health").status == 200
    # one line for the failure, one for the recovery: not one more per collector
    lines = exp.log().splitlines()
    assert sum(" ERROR " in line for line in lines) == 1, "\n".join(lines)
    again = [line for line in lines if " INFO " in line and "again" in line]
    assert len(again) == 1 and "connected to" in again[0], "\n".join(lines)


def test_server_that_never_answers_costs_one_deadline(exporter_factory, stalling_proxy):
    exp = exporter_factory(
        exporter="postgres",
        env={"DATA_SOURCE_NAME": f"postgresql://exporter:x@127.0.0.1:{stalling_proxy.port}/postgres?sslmode=disable"},
    )
    for _ in range(2):
        t = time.monotonic()
        resp = exp.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
        assert resp.status == 200 and time.monotonic() - t < 2.0
        assert value(resp.text, "pg_up") == 0


def test_password_never_shown(exporter_factory, pg_primary):
    """A canary password, right and wrong, never reaches metrics, logs, errors or pages."""
    canary = pg_primary.exporter_password
    good = exporter_factory(
        "--log.level=debug", exporter="postgres", env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"}
    )
    wrong_dsn = pg_primary.exporter_dsn.replace(canary, canary + "-wrong") + "?sslmode=disable"
    bad = exporter_factory("--log.level=debug", exporter="postgres", env={"DATA_SOURCE_NAME": wrong_dsn})
    seen = []
    for exp in (good, bad):
        for path in ("/metrics", "/", "/health", "/ready"):
            seen.append(exp.get(path).text)
    assert value(seen[4], "pg_up") == 0  # the wrong password really failed
    seen += [good.log(), bad.log()]
    for text in seen:
        assert canary not in text
    assert "password authentication failed" in bad.log()


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"DATA_SOURCE_NAME": "host=127.0.0.1 port=notaport password=canary-secret-1 ="}, "malformed DSN"),
        ({"DATA_SOURCE_NAME": ""}, "no PostgreSQL target"),
        (
            {"DATA_SOURCE_URI": "127.0.0.1:5432/postgres", "DATA_SOURCE_PASS_FILE": "/nonexistent/pass"},
            "DATA_SOURCE_PASS_FILE",
        ),
    ],
)
def test_bad_targets_are_one_line_exit_2(env, needle):
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("DATA_SOURCE", "PG"))}
    proc = subprocess.run(
        exporter_cmd("postgres", f"--web.listen-address=127.0.0.1:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={**clean, **env},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert "canary-secret-1" not in proc.stderr


def test_dsn_from_uri_user_and_password_files(exporter_factory, pg_primary, tmp_path):
    (tmp_path / "user").write_text("exporter\n")
    (tmp_path / "pass").write_text(pg_primary.exporter_password + "\n")
    exp = exporter_factory(
        exporter="postgres",
        env={
            "DATA_SOURCE_URI": f"127.0.0.1:{pg_primary.port}/postgres?sslmode=disable",
            "DATA_SOURCE_USER_FILE": str(tmp_path / "user"),
            "DATA_SOURCE_PASS_FILE": str(tmp_path / "pass"),
        },
    )
    assert value(exp.get().text, "pg_up") == 1


def test_missing_permission_fails_one_collector_once_and_the_rest_is_served(exporter_factory, pg_primary):
    """A role without pg_monitor: pg_ls_waldir() is refused. Only the wal collector fails
    (the other queries of the same pipelined batch still answer), and the log says so once."""
    pg_primary.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plainmon') THEN "
        "CREATE ROLE plainmon LOGIN PASSWORD 'plainmon-pw'; END IF; END $$"
    )
    exp = exporter_factory(
        exporter="postgres",
        env={
            "DATA_SOURCE_NAME": f"postgresql://plainmon:plainmon-pw@127.0.0.1:{pg_primary.port}/postgres?sslmode=disable"
        },
    )
    for _ in range(3):
        text = exp.get().text
        assert value(text, "pg_up") == 1
        assert value(text, "pg_scrape_collector_success", collector="wal") == 0
        for name in ("settings", "database", "stat_database", "stat_bgwriter", "locks"):
            assert value(text, "pg_scrape_collector_success", collector=name) == 1, name
    assert value(text, "pg_exporter_last_scrape_error") == 1
    assert exp.log().count("collector wal failed") == 1
    assert "permission denied" in exp.log().lower() or "InsufficientPrivilege" in exp.log()


def test_openmetrics_output_passes_the_strict_parser(ours):
    """Prometheus may negotiate OpenMetrics; the strict parser refuses, e.g., a NaN counter
    (stats_reset of the shared pg_stat_database row is NULL)."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    resp = ours.get(headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    names = {f.name for f in text_string_to_metric_families(resp.text)}
    assert {"pg_up", "pg_stat_database_xact_commit", "pg_settings_max_connections"} <= names


def test_database_sizes_are_cached_for_cache_seconds(exporter_factory, pg_primary):
    """Sizes are reused for --collector.database.cache-seconds: a new database shows at the next read."""
    name = "cache_probe_" + str(pg_primary.port)

    def sized(text: str) -> set[str]:
        return {s.labels["datname"] for s in parse_families(text)["pg_database_size_bytes"].samples}

    exp = exporter_factory(
        "--collector.database.cache-seconds=3",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"},
    )
    read_at = time.monotonic()
    first = exp.get().text
    assert value(first, "pg_database_size_bytes", datname="postgres") > 0
    pg_primary.psql(f"CREATE DATABASE {name}")
    try:
        cached = exp.get().text
        if time.monotonic() - read_at < 2.5:  # still inside the 3 s: the sizes of the first read
            assert name not in sized(cached) and "postgres" in sized(cached)
        deadline = time.monotonic() + 10
        while name not in sized(exp.get().text) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert value(exp.get().text, "pg_database_size_bytes", datname=name) > 0
    finally:
        pg_primary.psql(f"DROP DATABASE {name}")
