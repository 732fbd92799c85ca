"""stat_user_tables, statio_user_tables and stat_progress_vacuum on a real primary: what a user
does to a table (scans, inserts, reads, a VACUUM) shows in the values, only the DSN's database is
read, the table limit holds, and the families are 0.11.1's (with Debian's example queries.yaml)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from conftest import ROOT, exporter_cmd, free_port, parse_families, start_exporter, value

from .conftest import PgServer

APP = "flextime-exporter-tables-test"
PREFIXES = ("pg_stat_user_tables_", "pg_statio_user_tables_")


def superuser_dsn(pg: PgServer, dbname: str) -> str:
    return pg.superuser_dsn.rsplit("/", 1)[0] + "/" + dbname


def start(pg: PgServer, tmp_path_factory, dbname: str, *args: str):
    return start_exporter(
        tmp_path_factory.mktemp(f"pg-tables-{dbname}"),
        "--compat=0.11",
        f"--postgres.application-name={APP}",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg.exporter_dsn_for(dbname) + "?sslmode=disable"},
    )


@pytest.fixture(scope="module")
def on_app1(pg_primary, tmp_path_factory):
    exp = start(pg_primary, tmp_path_factory, "app1")
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def on_postgres(pg_primary, tmp_path_factory):
    exp = start(pg_primary, tmp_path_factory, "postgres")
    yield exp
    exp.stop()


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200 and value(resp.text, "pg_up") == 1
    return resp.text


def counter(text: str, name: str, **labels) -> float:
    """prometheus_client's parser names a counter's sample ``<name>_total`` even when the exposition
    (ours and 0.11.1's) writes it without the suffix."""
    return value(text, name + "_total", **labels)


ITEMS = {"datname": "app1", "schemaname": "public", "relname": "items"}


def wait_for(exp, check, timeout: float = 15.0) -> str:
    """Scrape until ``check(text)`` holds (statistics reach the server's shared stats asynchronously)."""
    end = time.monotonic() + timeout
    while True:
        text = scrape(exp)
        if check(text) or time.monotonic() > end:
            return text
        time.sleep(0.2)


def flush(conn) -> None:
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def test_collectors_succeed(on_app1, pg_primary):
    text = scrape(on_app1)
    for collector in ("stat_user_tables", "statio_user_tables", "stat_progress_vacuum", "stat_checkpointer"):
        assert value(text, "pg_scrape_collector_success", collector=collector) == 1, collector
    if pg_primary.version < 170000:
        assert "pg_stat_checkpointer_" not in text.replace('collector="stat_checkpointer"', "")


def test_scans_and_inserts_show(on_app1, pg_primary):
    before = scrape(on_app1)
    seq, ins, dels = (
        counter(before, f"pg_stat_user_tables_{c}", **ITEMS) for c in ("seq_scan", "n_tup_ins", "n_tup_del")
    )
    with psycopg.connect(superuser_dsn(pg_primary, "app1"), autocommit=True) as conn:
        conn.execute("SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off")
        for _ in range(3):
            conn.execute("SELECT count(*) FROM items").fetchone()
        conn.execute(
            "INSERT INTO items SELECT m + g, 'extra-' || g, 1 "
            "FROM (SELECT max(id) AS m FROM items) x, generate_series(1, 10) g"
        )
        # other tests count on the fixture's 300 rows: the counters keep the inserts
        conn.execute("DELETE FROM items WHERE name LIKE 'extra-%'")
        flush(conn)

    def grew(text):
        return (
            counter(text, "pg_stat_user_tables_seq_scan", **ITEMS) >= seq + 3
            and counter(text, "pg_stat_user_tables_n_tup_ins", **ITEMS) >= ins + 10
        )

    after = wait_for(on_app1, grew)
    assert counter(after, "pg_stat_user_tables_seq_scan", **ITEMS) >= seq + 3
    assert counter(after, "pg_stat_user_tables_n_tup_ins", **ITEMS) >= ins + 10
    assert counter(after, "pg_stat_user_tables_n_tup_del", **ITEMS) >= dels + 10
    assert value(after, "pg_stat_user_tables_n_live_tup", **ITEMS) > 0
    assert value(after, "pg_stat_user_tables_table_size_bytes", **ITEMS) >= 8192
    assert value(after, "pg_stat_user_tables_index_size_bytes", **ITEMS) >= 8192  # the primary key
    assert value(after, "pg_stat_user_tables_last_analyze", **ITEMS) > 1e9  # ANALYZE in the fixture
    assert value(after, "pg_stat_user_tables_last_vacuum", **ITEMS) >= 0  # 0 = never, not NaN


def test_statio_heap_hits_grow_after_reads(on_app1, pg_primary):
    hit = counter(scrape(on_app1), "pg_statio_user_tables_heap_blks_hit", **ITEMS)
    with psycopg.connect(superuser_dsn(pg_primary, "app1"), autocommit=True) as conn:
        conn.execute("SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off")
        for _ in range(3):
            conn.execute("SELECT sum(price) FROM items").fetchone()
        flush(conn)
    text = wait_for(on_app1, lambda t: counter(t, "pg_statio_user_tables_heap_blks_hit", **ITEMS) > hit)
    assert counter(text, "pg_statio_user_tables_heap_blks_hit", **ITEMS) > hit
    assert counter(text, "pg_statio_user_tables_idx_blks_hit", **ITEMS) >= 0


def test_only_the_dsn_database(on_app1, on_postgres, pg_primary):
    for family in ("pg_stat_user_tables_seq_scan", "pg_statio_user_tables_heap_blks_read"):
        on1 = parse_families(scrape(on_app1)).get(family)
        assert on1 is not None and on1.samples, family
        assert {s.labels["datname"] for s in on1.samples} == {"app1"}
        assert all(s.labels["server"] == f"127.0.0.1:{pg_primary.port}" for s in on1.samples)
        fam = parse_families(scrape(on_postgres)).get(family)
        assert not fam or {s.labels["datname"] for s in fam.samples} <= {"postgres"}, family


def test_limit_bounds_the_tables(pg_primary, exporter_factory):
    pg_primary.psql("CREATE TABLE aaa_limit_probe (id int); CREATE TABLE zzz_limit_probe (id int);", dbname="app2")
    try:
        exp = exporter_factory(
            "--compat=0.11",
            "--collector.stat_user_tables.limit=2",
            "--collector.statio_user_tables.limit=1",
            exporter="postgres",
            env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn_for("app2") + "?sslmode=disable"},
        )
        fams = parse_families(scrape(exp))
        # first by schema and table name: aaa_limit_probe, items (and never zzz_limit_probe)
        assert {s.labels["relname"] for s in fams["pg_stat_user_tables_seq_scan"].samples} == {
            "aaa_limit_probe",
            "items",
        }
        assert {s.labels["relname"] for s in fams["pg_statio_user_tables_heap_blks_hit"].samples} == {"aaa_limit_probe"}
    finally:
        pg_primary.psql("DROP TABLE aaa_limit_probe, zzz_limit_probe;", dbname="app2")


def test_limit_must_be_positive(pg_primary):
    import os
    import subprocess

    proc = subprocess.run(
        exporter_cmd(
            "postgres", f"--web.listen-address=127.0.0.1:{free_port()}", "--collector.stat_user_tables.limit=0"
        ),
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={**os.environ, "DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "--collector.stat_user_tables.limit" in proc.stderr and "Traceback" not in proc.stderr


def test_families_match_postgres_exporter_with_example_queries(on_app1, go_postgres_exporter_extended):
    o, g = parse_families(scrape(on_app1)), parse_families(go_postgres_exporter_extended.get().text)
    go_names = {n for n in g if n.startswith(PREFIXES)}
    assert len(go_names) == 19 + 8, sorted(go_names)  # 0.11.1 really ran both example queries
    assert go_names <= set(o), sorted(go_names - set(o))

    def shape(m):
        return m.type, tuple(sorted({k for s in m.samples for k in s.labels}))

    problems = [f"{n}: {shape(o[n])} != {shape(g[n])}" for n in sorted(go_names) if shape(o[n]) != shape(g[n])]
    assert not problems, problems
    # same tables, same stable values
    for family in ("pg_stat_user_tables_n_live_tup", "pg_stat_user_tables_last_analyze"):
        assert value(on_app1.get().text, family, **ITEMS) == value(
            go_postgres_exporter_extended.get().text, family, **ITEMS
        ), family


def vacuuming(text: str, relname: str, phase: str | None = None) -> bool:
    """Is a VACUUM of ``relname`` in progress (in ``phase``, when given)?"""
    fam = parse_families(text).get("pg_stat_progress_vacuum_phase")
    return bool(fam) and any(
        s.labels["relname"] == relname and (phase is None or (s.labels["phase"] == phase and s.value == 1))
        for s in fam.samples
    )


@pytest.fixture
def vacuum_probe(pg_primary):
    pg_primary.psql(
        "CREATE TABLE vacuum_probe (id int, pad text);"
        "INSERT INTO vacuum_probe SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;",
        dbname="app2",
    )
    yield "vacuum_probe"
    pg_primary.psql("DROP TABLE IF EXISTS vacuum_probe;", dbname="app2")


def test_running_vacuum_shows_its_phase(pg_primary, exporter_factory, vacuum_probe):
    """A cursor keeps a pin on the table's first page; VACUUM (FREEZE) must freeze its tuples, so it
    waits for the page's cleanup lock in phase 'scanning heap' until the cursor closes."""
    exp = exporter_factory(
        "--compat=0.11",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn_for("app2") + "?sslmode=disable"},
    )
    text = scrape(exp)
    assert value(text, "pg_scrape_collector_success", collector="stat_progress_vacuum") == 1
    errors: list = []
    with psycopg.connect(superuser_dsn(pg_primary, "app2")) as holder:
        holder.execute("DECLARE c CURSOR FOR SELECT * FROM vacuum_probe")
        holder.execute("FETCH 1 FROM c").fetchone()

        def vacuum():
            try:
                with psycopg.connect(
                    superuser_dsn(pg_primary, "app2"), autocommit=True, options="-c statement_timeout=60000"
                ) as conn:
                    conn.execute("VACUUM (FREEZE) vacuum_probe")
            except Exception as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=vacuum)
        thread.start()
        labels = {"datname": "app2", "relname": vacuum_probe}
        try:
            # it passes 'initializing' first; it waits for the pinned page in 'scanning heap'
            text = wait_for(exp, lambda t: vacuuming(t, vacuum_probe, "scanning heap"), timeout=20)
            assert value(text, "pg_stat_progress_vacuum_phase", phase="scanning heap", **labels) == 1
            assert value(text, "pg_stat_progress_vacuum_phase", phase="vacuuming heap", **labels) == 0
            phases = [
                s
                for s in parse_families(text)["pg_stat_progress_vacuum_phase"].samples
                if s.labels["relname"] == vacuum_probe
            ]
            assert len(phases) == 7 and sum(s.value for s in phases) == 1
            assert value(text, "pg_stat_progress_vacuum_heap_blks", **labels) > 1
            assert value(text, "pg_stat_progress_vacuum_index_vacuums", **labels) == 0
            dead = "num_dead_tuples" if pg_primary.version < 170000 else "num_dead_item_ids"
            assert value(text, f"pg_stat_progress_vacuum_{dead}", **labels) >= 0
            assert all(s.labels["server"] == f"127.0.0.1:{pg_primary.port}" for s in phases)
        finally:
            holder.rollback()  # closes the cursor: the VACUUM goes on
            thread.join(60)
    assert not errors, errors
    text = wait_for(exp, lambda t: not vacuuming(t, vacuum_probe), timeout=10)
    assert not vacuuming(text, vacuum_probe)
