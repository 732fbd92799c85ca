"""Collectors postgres_exporter does not have: pg_stat_io (PostgreSQL 16+, 18's byte columns) and
the wait-event breakdown of active backends."""

from __future__ import annotations

import threading
import time

import psycopg

from conftest import start_exporter, value

from .test_postgres_017 import families


def _ours(server, tmp, *args):
    return start_exporter(
        tmp,
        "--postgres.application-name=flextime-beyond",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": server.exporter_dsn + "?sslmode=disable"},
    )


def test_stat_io_on_postgresql_18(pg18_primary, tmp_path):
    pg18_primary.psql("SELECT count(*) FROM items", dbname="app1")
    exp = _ours(pg18_primary, tmp_path, "--collector.stat_io")
    try:
        text = exp.get().text
    finally:
        exp.stop()
    assert value(text, "pg_scrape_collector_success", collector="stat_io") == 1
    fams = families(text)
    for name in (
        "pg_stat_io_reads_total",
        "pg_stat_io_hits_total",
        "pg_stat_io_read_bytes_total",
        "pg_stat_io_write_seconds_total",
    ):
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


BLOATED = """DROP TABLE IF EXISTS bloated;
CREATE TABLE bloated (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bloated SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
DELETE FROM bloated WHERE id % 10 <> 0;
ANALYZE bloated;
ANALYZE items;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bloatmon') THEN
  CREATE ROLE bloatmon LOGIN PASSWORD 'bloatmon-pw' IN ROLE pg_monitor, pg_read_all_data; END IF; END $$;
"""


def test_bloat_estimates_bounded_and_cached(pg_primary, tmp_path):
    """A table with 90% of its rows deleted (and no vacuum) shows ~90% table and index bloat, a fresh
    one little; the estimates are kept for cache-seconds; --collector.bloat.limit bounds the series."""
    pg_primary.psql(BLOATED, dbname="app1")
    dsn = f"postgresql://bloatmon:bloatmon-pw@127.0.0.1:{pg_primary.port}/app1?sslmode=disable"
    exp = start_exporter(
        tmp_path, "--collector.bloat", "--collector.bloat.limit=5", exporter="postgres", env={"DATA_SOURCE_NAME": dsn}
    )
    limited = start_exporter(
        tmp_path, "--collector.bloat", "--collector.bloat.limit=1", exporter="postgres", env={"DATA_SOURCE_NAME": dsn}
    )
    try:
        text = exp.get().text
        assert value(text, "pg_scrape_collector_success", collector="bloat") == 1
        table = {"datname": "app1", "schemaname": "public", "relname": "bloated"}
        assert 0.7 < value(text, "pg_bloat_table_ratio", **table) <= 1
        assert value(text, "pg_bloat_table_bytes", **table) > 1_000_000
        assert value(text, "pg_bloat_table_ratio", datname="app1", schemaname="public", relname="items") < 0.3
        assert 0.5 < value(text, "pg_bloat_index_ratio", indexrelname="bloated_pkey", **table) <= 1
        pg_primary.psql("VACUUM FULL bloated; ANALYZE bloated", dbname="app1")
        again = exp.get().text  # within --collector.bloat.cache-seconds (600): the same estimate
        assert value(again, "pg_bloat_table_bytes", **table) == value(text, "pg_bloat_table_bytes", **table)
        one = limited.get().text
        assert value(one, "pg_bloat_table_ratio", **table) < 0.3  # read after the VACUUM FULL
        assert one.count("\npg_bloat_table_bytes{") == 1 and one.count("\npg_bloat_index_bytes{") == 1
    finally:
        exp.stop()
        limited.stop()


def test_bloat_leaves_out_tables_whose_statistics_the_role_cannot_see(pg_primary, tmp_path):
    """The fixture's exporter role has pg_monitor only: pg_stats hides the columns, no estimate."""
    pg_primary.psql(BLOATED, dbname="app1")
    exp = start_exporter(
        tmp_path,
        "--collector.bloat",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn_for("app1") + "?sslmode=disable"},
    )
    try:
        text = exp.get().text
    finally:
        exp.stop()
    assert value(text, "pg_scrape_collector_success", collector="bloat") == 1
    assert "pg_bloat_table_bytes{" not in text
