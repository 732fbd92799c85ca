"""The PostgreSQL fixtures are what they claim: the ground truth the exporter tests rely on."""

from __future__ import annotations

import socket
import time

import psycopg
import pytest

from conftest import value

from .conftest import APP_TABLE_ROWS, REPLICA_APP_NAME, REPLICA_SLOT


def test_exporter_role_logs_in_with_its_password(pg_primary):
    assert pg_primary.exporter_password.startswith("canary-pw-")
    assert pg_primary.exporter_dsn == (
        f"postgresql://exporter:{pg_primary.exporter_password}@127.0.0.1:{pg_primary.port}/postgres"
    )
    with psycopg.connect(pg_primary.exporter_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery(), current_user").fetchone() == (False, "exporter")
        assert conn.info.server_version == pg_primary.version >= 100000
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_primary.exporter_dsn.replace(pg_primary.exporter_password, "wrong"), connect_timeout=5)


def test_exporter_role_is_least_privilege(pg_primary):
    attrs = pg_primary.psql(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
        "(SELECT string_agg(g.rolname, ',') FROM pg_auth_members m "
        " JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) "
        "FROM pg_roles r WHERE rolname = 'exporter'"
    )
    assert attrs == "f|f|f|f|f|pg_monitor"
    assert pg_primary.psql("SELECT count(*) FROM items", dbname="app1") == str(APP_TABLE_ROWS)
    assert pg_primary.psql("SELECT count(*) FROM items", dbname="app2") == str(APP_TABLE_ROWS)
    with psycopg.connect(pg_primary.exporter_dsn_for("app1"), connect_timeout=5) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM items LIMIT 1")


def test_exporter_role_sees_other_sessions_states(pg_primary):
    with psycopg.connect(pg_primary.superuser_dsn, application_name="other-session", autocommit=True) as other:
        other.execute("SELECT 42")
        with psycopg.connect(pg_primary.exporter_dsn, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT usename, state, query FROM pg_stat_activity WHERE application_name = 'other-session'"
            ).fetchall()
        assert rows == [("postgres", "idle", "SELECT 42")]
        assert pg_primary.connections_from("other-session") == 1
    deadline = time.monotonic() + 5
    while pg_primary.connections_from("other-session") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pg_primary.connections_from("other-session") == 0


def test_connections_are_logged_with_pid_and_application_name(pg_primary):
    with psycopg.connect(pg_primary.exporter_dsn, application_name="log-probe") as conn:
        pid = conn.info.backend_pid
    log = pg_primary.log_text()
    assert f"[{pid}]" in log
    assert "connection authorized: user=exporter database=postgres application_name=log-probe" in log
    assert pg_primary.exporter_password not in log


def test_replica_streams_from_primary(pg_primary, pg_replica):
    assert pg_replica.port != pg_primary.port
    assert pg_replica.psql("SELECT pg_is_in_recovery()") == "t"
    assert (
        pg_primary.psql(f"SELECT state FROM pg_stat_replication WHERE application_name = '{REPLICA_APP_NAME}'")
        == "streaming"
    )
    assert pg_primary.psql(f"SELECT active FROM pg_replication_slots WHERE slot_name = '{REPLICA_SLOT}'") == "t"
    with psycopg.connect(pg_replica.exporter_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def test_replica_replay_pause_and_catch_up(pg_primary, pg_replica):
    probe = "SELECT to_regclass('public.replication_probe') IS NOT NULL"
    pg_replica.pause_replay()
    try:
        pg_primary.psql("CREATE TABLE replication_probe (id int)")
        time.sleep(0.5)
        assert pg_replica.psql(probe) == "f"
        with pytest.raises(TimeoutError):
            pg_primary.wait_caught_up(timeout=0.5)
    finally:
        pg_replica.resume_replay()
    pg_primary.wait_caught_up()
    assert pg_replica.psql(probe) == "t"
    pg_primary.psql("DROP TABLE replication_probe")
    pg_primary.wait_caught_up()


def test_stalling_proxy_accepts_and_stays_silent(stalling_proxy):
    with socket.create_connection(("127.0.0.1", stalling_proxy.port), timeout=2) as s:
        s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # an SSLRequest, which a server answers at once
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)
    assert stalling_proxy.accepted == 1


def test_go_exporter_is_up(go_postgres_exporter, pg_primary):
    text = go_postgres_exporter.get().text
    assert value(text, "pg_up") == 1
    assert pg_primary.exporter_password not in text


def test_stop_and_start_keep_the_port(pg_primary):
    port = pg_primary.port
    pg_primary.stop()
    assert not pg_primary.is_running()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    pg_primary.start()
    assert pg_primary.port == port
    with psycopg.connect(pg_primary.exporter_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_go_exporter_recovers_after_primary_restart(go_postgres_exporter, pg_primary):
    assert value(go_postgres_exporter.get().text, "pg_up") == 1
    pg_primary.stop()
    try:
        assert value(go_postgres_exporter.get().text, "pg_up") == 0
    finally:
        pg_primary.start()
    assert value(go_postgres_exporter.get().text, "pg_up") == 1
