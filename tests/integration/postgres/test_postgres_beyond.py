"""Collectors postgres_exporter does not have: pg_stat_io (PostgreSQL 16+, 18's byte columns) and
the wait-event breakdown of active backends."""

from __future__ import annotations

import threading
import time

import psycopg

from conftest import start_exporter, value

from .test_postgres_017 import families


def _ours(server, tmp, *args):
    return start_exporter(tmp, "--postgres.application-name=flextime-beyond", *args, exporter="postgres",
                          env={"DATA_SOURCE_NAME": server.exporter_dsn + "?sslmode=disable"})


def test_stat_io_on_postgresql_18(pg18_primary, tmp_path):
    pg18_primary.psql("SELECT count(*) FROM items", dbname="app1")
    exp = _ours(pg18_primary, tmp_path, "--collector.stat_io")
    try:
        text = exp.get().text
    finally:
        exp.stop()
    assert value(text, "pg_scrape_collector_success", collector="stat_io") == 1
    fams = families(text)
    for name in ("pg_stat_io_reads_total", "pg_stat_io_hits_total", "pg_stat_io_read_bytes_total",
                 "pg_stat_io_write_seconds_total"):
        assert fams[name] == ("counter", ("backend_type", "context", "object")), name
    client = {"backend_type": "client backend", "object": "relation", "context": "normal"}
    assert value(text, "pg_stat_io_hits_total", **client) > 0
    assert value(text, "pg_stat_io_read_bytes_total", **client) >= 0
    # PostgreSQL 18's WAL rows (object "wal"), which 16 and 17 do not have
    assert 'object="wal"' in text


def test_stat_io_on_postgresql_15_fails_alone_and_logs_once(pg_primary, tmp_path):
    exp = _ours(pg_primary, tmp_path, "--collector.stat_io")
    try:
        for _ in range(3):
            resp = exp.get()
            assert resp.status == 200 and value(resp.text, "pg_up") == 1
            assert value(resp.text, "pg_scrape_collector_success", collector="stat_io") == 0
            assert value(resp.text, "pg_scrape_collector_success", collector="stat_database") == 1
        assert exp.log().count("collector stat_io failed") == 1
        assert "needs PostgreSQL 16 or later" in exp.log()
    finally:
        exp.stop()


def test_wait_events_of_active_backends(pg_primary, tmp_path):
    exp = _ours(pg_primary, tmp_path, "--collector.wait_events")
    conn = psycopg.connect(pg_primary.superuser_dsn, autocommit=True, application_name="flextime-sleeper")

    def sleep() -> None:
        try:
            conn.execute("SELECT pg_sleep(20)")
        except psycopg.errors.QueryCanceled:  # the cancel at the end
            pass

    sleeper = threading.Thread(target=sleep, daemon=True)
    try:
        sleeper.start()
        end = time.monotonic() + 15
        while True:
            text = exp.get().text
            if 'wait_event="PgSleep"' in text or time.monotonic() > end:
                break
            time.sleep(0.1)
        assert value(text, "pg_wait_event_active_backends", wait_event_type="Timeout", wait_event="PgSleep") == 1
        assert families(text)["pg_wait_event_active_backends"] == ("gauge", ("wait_event", "wait_event_type"))
    finally:
        conn.cancel()
        sleeper.join(10)
        conn.close()
        exp.stop()
