"""Issue 16 on a real primary: a query that fails inside the pipeline (a statement timeout, a user
query that runs past the scrape deadline) fails only its collector, is logged once at the default
level, and the exporter keeps its backend (no new connection every scrape)."""

from __future__ import annotations

from conftest import start_exporter, value

APP = "flextime-hardening-pipeline"
SLOW_QUERY = """\
pg_slow:
  query: "SELECT pg_sleep({seconds}) AS ignored, 1 AS one"
  metrics:
    - ignored:
        usage: "DISCARD"
    - one:
        usage: "GAUGE"
        description: "one"
"""


def _backends(pg) -> set[str]:
    return set(pg.psql(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APP}'").split())


def _start(pg, tmp_path, *args):
    return start_exporter(
        tmp_path,
        f"--postgres.application-name={APP}",
        "--no-collector.stat_activity_autovacuum",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg.exporter_dsn + "?sslmode=disable"},
    )


def _check_isolated(exp, pg, headers=None):
    pids = None
    for _ in range(3):
        resp = exp.get(headers=headers)
        assert resp.status == 200 and value(resp.text, "pg_up") == 1
        assert value(resp.text, "pg_scrape_collector_success", collector="user_queries") == 0
        failed = [
            line
            for line in resp.text.splitlines()
            if line.startswith("pg_scrape_collector_success{") and line.endswith(" 0")
        ]
        assert len(failed) == 1, failed  # only the slow query's collector
        assert value(resp.text, "pg_stat_database_xact_commit_total", datname="postgres") > 0
        now = _backends(pg)
        assert pids is None or now == pids, "a new backend after the failing query"
        pids = now
    assert exp.log().count("user query pg_slow failed") == 1


def test_statement_timeout_fails_only_its_collector(pg_primary, tmp_path):
    path = tmp_path / "queries.yaml"
    path.write_text(SLOW_QUERY.format(seconds=3))
    exp = _start(pg_primary, tmp_path, f"--extend.query-path={path}", "--postgres.statement-timeout=0.5")
    try:
        _check_isolated(exp, pg_primary)
        assert "statement timeout" in exp.log()
    finally:
        exp.stop()


def test_query_past_the_scrape_deadline_is_cancelled_and_the_backend_kept(pg_primary, tmp_path):
    path = tmp_path / "queries.yaml"
    path.write_text(SLOW_QUERY.format(seconds=30))
    exp = _start(pg_primary, tmp_path, f"--extend.query-path={path}")
    try:
        _check_isolated(exp, pg_primary, headers={"X-Prometheus-Scrape-Timeout-Seconds": "4"})
        # the server was asked to cancel it: no pg_sleep(30) left running after the scrapes
        assert (
            pg_primary.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                f"'{APP}' AND state = 'active' AND query LIKE '%pg_sleep%'"
            )
            == "0"
        )
    finally:
        exp.stop()


ROTATING = "flextime_rotating"  # a role of its own: without pg_monitor, and its password rotated


def test_rotated_password_file_needs_no_restart(pg_primary, tmp_path):
    """DATA_SOURCE_PASS_FILE is read again when it changes: after the password is rotated on the server
    and in the file, the next connection uses the new one (no restart), and neither password is logged.
    The role has no pg_monitor: one warning says the activity metrics undercount."""
    first, second = "first-Secret-4711", "second-Secret-0815"
    pg_primary.psql(f"DROP ROLE IF EXISTS {ROTATING}; CREATE ROLE {ROTATING} LOGIN PASSWORD '{first}'")
    secret = tmp_path / "pass"
    secret.write_text(first + "\n")
    env = {
        "DATA_SOURCE_URI": f"{pg_primary.host}:{pg_primary.port}/postgres?sslmode=disable",
        "DATA_SOURCE_USER": ROTATING,
        "DATA_SOURCE_PASS_FILE": str(secret),
        "DATA_SOURCE_NAME": "",
    }
    exp = start_exporter(tmp_path, f"--postgres.application-name={APP}", exporter="postgres", env=env)
    try:
        for _ in range(2):
            assert value(exp.get().text, "pg_up") == 1
        pg_primary.psql(f"ALTER ROLE {ROTATING} PASSWORD '{second}'")
        rotated = tmp_path / "pass.new"
        rotated.write_text(second + "\n")
        rotated.replace(secret)  # as a secret mount updates it: a new file in its place
        pg_primary.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROTATING}'")
        for _ in range(3):  # the kept connection is gone: the next one logs in with the new password
            assert value(exp.get().text, "pg_up") == 1
    finally:
        exp.stop()
        pg_primary.psql(f"DROP ROLE IF EXISTS {ROTATING}")
    log = exp.log()
    assert first not in log and second not in log
    assert log.count("is not a member of pg_monitor") == 1
    assert log.count("DATA_SOURCE_PASS_FILE") == 0 and log.count(f"{secret} changed") == 1
