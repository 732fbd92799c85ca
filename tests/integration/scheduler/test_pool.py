"""``database_connection_pool_size{state}`` from pg_stat_activity, read as the pg_monitor-only
``exporter`` role (canary password), with a real Prometheus evaluating the seed's
DatabaseConnectionPoolExhaustion expression on it.

The "application" is a set of connections named ``flextime-api``: idle ones, ones running
``pg_sleep``, one holding a row lock inside an open transaction and ones blocked on that lock.
Every wait is bounded; every connection is cancelled and closed at the end."""

from __future__ import annotations

import contextlib
import time

import psycopg
import pytest

from conftest import Prometheus, value

from .conftest import start_scheduler

APP = "flextime-api"
SEED_EXPR = 'database_connection_pool_size{state="waiting"} > 5'  # application.yml, verbatim
JOB = "flextime-scheduler"


def _send(conn: psycopg.Connection, sql: str) -> None:
    """Send a statement without waiting for its result (it stays running on the server)."""
    conn.pgconn.send_query(sql.encode())


def _wait_for(server, sql: str, want: str, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while (got := server.psql(sql)) != want:
        assert time.monotonic() < end, f"{sql}: {got!r}, wanted {want!r} within {timeout}s"
        time.sleep(0.05)


class App:
    def __init__(self, server) -> None:
        self.server = server
        self.dsn = server.superuser_dsn
        self.conns: list[psycopg.Connection] = []
        server.psql(
            "CREATE TABLE IF NOT EXISTS pool_lock (id int PRIMARY KEY, v int); "
            "INSERT INTO pool_lock VALUES (1, 0) ON CONFLICT DO NOTHING"
        )

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        conn = psycopg.connect(self.dsn, autocommit=autocommit, application_name=APP, connect_timeout=5)
        self.conns.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(Exception):
                conn.cancel()
        for conn in self.conns:
            with contextlib.suppress(Exception):
                conn.close()
        self.conns = []


@pytest.fixture
def app(queue_pg):
    a = App(queue_pg)
    yield a
    a.close()
    _wait_for(queue_pg, f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP}'", "0")


def _counts(exp) -> dict:
    resp = exp.get("/metrics")
    assert resp.status == 200
    return {s: value(resp.text, "database_connection_pool_size", state=s) for s in ("active", "idle", "waiting")}


def _until(exp, want: dict, timeout: float = 10) -> dict:
    end = time.monotonic() + timeout
    while (got := _counts(exp)) != want:
        assert time.monotonic() < end, f"{got} != {want} within {timeout}s"
        time.sleep(0.1)
    return got


@pytest.fixture
def stack(queue_pg, tmp_path):
    """Our exporter (pool only) and a Prometheus scraping it every second."""
    exp = start_scheduler(tmp_path, "--pool.dsn", queue_pg.exporter_dsn, "--pool.application-name", APP)
    try:
        prom = Prometheus(tmp_path, {JOB: [f"127.0.0.1:{exp.port}"]})
        try:
            yield exp, prom
        finally:
            prom.stop()
    finally:
        exp.stop()


def test_pool_states_and_the_seed_alert(stack, app, queue_pg):
    exp, prom = stack
    assert _counts(exp) == {"active": 0, "idle": 0, "waiting": 0}  # the exporter's own connection is not counted
    for _ in range(2):
        app.connect()  # idle
    for _ in range(2):
        _send(app.connect(), "SELECT pg_sleep(30)")  # active, running
    holder = app.connect(autocommit=False)
    holder.execute("UPDATE pool_lock SET v = v + 1 WHERE id = 1")  # idle in transaction, holding the row lock
    blocked = []
    for _ in range(6):
        conn = app.connect()
        _send(conn, "UPDATE pool_lock SET v = v + 1 WHERE id = 1")  # waits for the holder's row lock
        blocked.append(conn)
    _wait_for(
        queue_pg,
        f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP}' AND wait_event_type = 'Lock'",
        "6",
    )
    # idle in transaction holds its connection: it is active, not idle
    assert _until(exp, {"active": 3, "idle": 2, "waiting": 6}) == {"active": 3, "idle": 2, "waiting": 6}
    result = prom.wait(SEED_EXPR, lambda r: len(r) == 1)
    assert float(result[0]["value"][1]) == 6
    # one blocked statement cancelled: 5 wait, the alert's expression is empty
    blocked[0].cancel()
    _until(exp, {"active": 3, "idle": 3, "waiting": 5})
    prom.wait(SEED_EXPR, lambda r: r == [])
    prom.wait('database_connection_pool_size{state="waiting"}', lambda r: [float(x["value"][1]) for x in r] == [5])
    holder.rollback()  # the lock is released: the waiters run and go idle
    _until(exp, {"active": 2, "idle": 9, "waiting": 0})
    for body in (exp.get("/metrics").text, exp.get("/").text, exp.get("/health").text, exp.log()):
        assert queue_pg.exporter_password not in body


def test_pool_server_unreachable(tmp_path, queue_pg):
    dsn = queue_pg.exporter_dsn.replace(f":{queue_pg.port}/", ":1/")
    exp = start_scheduler(tmp_path, "--pool.dsn", dsn, "--pool.application-name", APP, "--connection-timeout", "2")
    try:
        resp = exp.get("/metrics")
        assert resp.status == 200
        assert value(resp.text, "scheduler_scrape_collector_success", collector="connection_pool") == 0
        assert "database_connection_pool_size{" not in resp.text
        health = exp.get("/health")
        assert health.status == 503
        for body in (resp.text, health.text, exp.get("/").text, exp.log()):
            assert queue_pg.exporter_password not in body
    finally:
        exp.stop()
