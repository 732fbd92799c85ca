"""The per-database fan-out (--auto-discover-databases) on a real primary: the tables of every
database appear with their datname, include/exclude choose the databases, a database whose
CONNECT is revoked fails alone (the others are served, pg_up stays 1), the exporter never holds
more than --postgres.fanout-connections backends besides the session's own under 8 concurrent
scrapers, and the password shows nowhere."""

from __future__ import annotations

import secrets
import threading
import time

import psycopg
import pytest

from conftest import parse_families, value

from .conftest import PgServer

PREFIX = "fo_" + secrets.token_hex(3)  # our own databases: other tests share the server
DATABASES = tuple(f"{PREFIX}_{c}" for c in "abcde")
# the session's own backends (on the DSN's database): with the fan-out on, only its main connection
# (the second one for pg_database_size() is not opened then, session.py); the fan-out's come on top,
# at most its bound: 1 + 3 = 4 per target by default
SESSION_BACKENDS = 1


def table_of(db: str) -> str:
    return f"t_{db}"


@pytest.fixture(scope="module")
def databases(pg_primary: PgServer):
    """Five databases, each with one table (named after it) with an index and a few rows;
    dropped at the end even while a connection is left on them."""
    pg_primary.psql("".join(f"CREATE DATABASE {db};\n" for db in DATABASES))
    try:
        for db in DATABASES:
            pg_primary.psql(
                f"CREATE TABLE {table_of(db)} (id int PRIMARY KEY, v text);\n"
                f"INSERT INTO {table_of(db)} SELECT g, 'x' FROM generate_series(1, 10) g;\n"
                f"ANALYZE {table_of(db)};\n",
                dbname=db,
            )
        yield DATABASES
    finally:
        pg_primary.psql("".join(f"DROP DATABASE IF EXISTS {db} WITH (FORCE);\n" for db in DATABASES))


def fanout_backends(pg: PgServer, app: str) -> int:
    return int(
        pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND datname <> 'postgres'")
    )


def start(exporter_factory, pg: PgServer, app: str, *args: str, env: dict | None = None):
    return exporter_factory(
        "--compat=0.11",
        f"--postgres.application-name={app}",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg.exporter_dsn_for("postgres") + "?sslmode=disable", **(env or {})},
    )


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200, resp.text
    assert value(resp.text, "pg_up") == 1
    return resp.text


def tables_by_db(text: str, family: str = "pg_stat_user_tables_n_live_tup") -> dict[str, set[str]]:
    fam = parse_families(text).get(family)
    out: dict[str, set[str]] = {}
    for s in fam.samples if fam else ():
        out.setdefault(s.labels["datname"], set()).add(s.labels["relname"])
    return out


def test_tables_of_every_database(exporter_factory, pg_primary, databases):
    exp = start(
        exporter_factory,
        pg_primary,
        "flextime-fanout-every",
        "--auto-discover-databases",
        "--collector.statio_user_indexes",
    )
    text = scrape(exp)
    for collector in ("stat_user_tables", "statio_user_tables", "statio_user_indexes"):
        assert value(text, "pg_scrape_collector_success", collector=collector) == 1, collector
    for family in ("pg_stat_user_tables_n_live_tup", "pg_statio_user_tables_heap_blks_hit"):
        seen = tables_by_db(text, family)
        for db in databases:
            assert seen.get(db) == {table_of(db)}, (family, db, seen.get(db))
        # the fixture's databases too (other tests may add tables there: lag_probe)
        assert "items" in seen.get("app1", set()) and seen.get("app2") is not None
    fams = parse_families(text)
    rows = [s for s in fams["pg_stat_user_tables_n_live_tup"].samples if s.labels["datname"] == databases[0]]
    assert rows[0].value > 0 and rows[0].labels["server"] == f"127.0.0.1:{pg_primary.port}"
    # statio_user_indexes has datname only in fan-out mode: each database's primary key apart
    idx = {(s.labels["datname"], s.labels["indexrelname"]) for s in fams["pg_statio_user_indexes_idx_blks_hit"].samples}
    assert {(db, f"{table_of(db)}_pkey") for db in databases} <= idx
    assert all("server" in s.labels for s in fams["pg_statio_user_indexes_idx_blks_hit"].samples)


def test_include_and_exclude(exporter_factory, pg_primary, databases):
    a, b, c = databases[:3]
    exp = start(
        exporter_factory,
        pg_primary,
        "flextime-fanout-exclude",
        "--auto-discover-databases",
        f"--exclude-databases={a}, {b}",
    )
    seen = tables_by_db(scrape(exp))
    assert a not in seen and b not in seen and c in seen and "app1" in seen
    # include restricts to its names; a name in both lists is left out (postgres_exporter's rule)
    exp = start(
        exporter_factory,
        pg_primary,
        "flextime-fanout-include",
        "--auto-discover-databases",
        f"--include-databases={a},{b}",
        f"--exclude-databases={b}",
    )
    assert set(tables_by_db(scrape(exp))) == {a}
    # postgres_exporter's environment variables
    exp = start(
        exporter_factory,
        pg_primary,
        "flextime-fanout-env",
        env={
            "PG_EXPORTER_AUTO_DISCOVER_DATABASES": "true",
            "PG_EXPORTER_INCLUDE_DATABASES": f"{c},app1",
            "PG_EXPORTER_EXCLUDE_DATABASES": "app1",
        },
    )
    assert set(tables_by_db(scrape(exp))) == {c}
    # without auto-discover: the DSN's database only (postgres has no user tables)
    exp = start(exporter_factory, pg_primary, "flextime-fanout-off", f"--include-databases={a}")
    assert tables_by_db(scrape(exp)) == {}


def test_revoked_database_fails_alone(exporter_factory, pg_primary, databases):
    revoked = databases[1]
    pg_primary.psql(f"REVOKE CONNECT ON DATABASE {revoked} FROM PUBLIC")
    try:
        exp = start(
            exporter_factory,
            pg_primary,
            "flextime-fanout-revoked",
            "--auto-discover-databases",
            "--postgres.fanout-connections=2",
        )
        for _ in range(2):  # the failure is stable, scrape after scrape
            text = scrape(exp)
            assert value(text, "pg_scrape_collector_success", collector="stat_user_tables") == 0
            assert value(text, "pg_scrape_collector_success", collector="statio_user_tables") == 0
            assert value(text, "pg_scrape_collector_success", collector="database") == 1
            seen = tables_by_db(text)
            assert revoked not in seen
            assert all(seen.get(db) == {table_of(db)} for db in databases if db != revoked), seen
            assert "items" in seen.get("app1", set())  # other tests may add tables there (lag_probe)
        page = exp.get("/").text
        assert revoked in page and "permission denied" in page  # the landing page names the database
        log = exp.log()
        assert revoked in log and "permission denied" in log
        assert log.count("collector stat_user_tables failed") == 1  # logged once, not every scrape
        health = exp.get("/health").text
        for output in (text, page, log, health):
            assert pg_primary.exporter_password not in output
    finally:
        pg_primary.psql(f"GRANT CONNECT ON DATABASE {revoked} TO PUBLIC")
    # granted again: the next scrape reads it
    text = scrape(exp)
    assert value(text, "pg_scrape_collector_success", collector="stat_user_tables") == 1
    assert tables_by_db(text).get(revoked) == {table_of(revoked)}


def test_backends_stay_within_the_bound_under_8_scrapers(exporter_factory, pg_primary, databases):
    app, bound = "flextime-fanout-bound", 2
    exp = start(
        exporter_factory,
        pg_primary,
        app,
        "--auto-discover-databases",
        f"--postgres.fanout-connections={bound}",
        "--collector.statio_user_indexes",
    )
    scrape(exp)
    n_other = int(
        pg_primary.psql(
            "SELECT count(*) FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres'"
        )
    )
    assert n_other > bound  # more databases than connections: they must take turns
    stop = time.monotonic() + 4
    results: list[tuple[int, bool]] = []
    errors: list[str] = []

    def scraper() -> None:
        while time.monotonic() < stop:
            try:
                resp = exp.get(timeout=15)
                ok = (
                    resp.status == 200
                    and value(resp.text, "pg_scrape_collector_success", collector="stat_user_tables") == 1
                )
                results.append((resp.status, ok))
            except Exception as exc:  # reported below, never a hang
                errors.append(repr(exc))

    # (backends on the DSN's database: the session's own; on any other: the fan-out's)
    sampled: list[tuple[int, int]] = []
    with psycopg.connect(pg_primary.superuser_dsn, autocommit=True, application_name="fanout-test-sampler") as conn:
        threads = [threading.Thread(target=scraper) for _ in range(8)]
        for t in threads:
            t.start()
        while time.monotonic() < stop + 0.5:
            sampled.append(
                conn.execute(
                    "SELECT count(*) FILTER (WHERE datname = 'postgres'), count(*) FILTER (WHERE datname <> 'postgres') "
                    "FROM pg_stat_activity WHERE application_name = %s",
                    (app,),
                ).fetchone()
            )
            time.sleep(0.005)
        for t in threads:
            t.join(20)
    assert not errors, errors[:3]
    assert results and all(status == 200 and ok for status, ok in results), results[:5]
    session, fanout = max(s for s, _ in sampled), max(f for _, f in sampled)
    assert fanout <= bound, sampled
    assert fanout >= 1  # the fan-out did run while sampled
    assert session <= SESSION_BACKENDS, sampled
    assert max(s + f for s, f in sampled) <= SESSION_BACKENDS + bound
    # after the scrapes the fan-out has closed its connections, but for the costliest databases'
    # (at most bound - 1 kept, fanout.py): with more databases than the bound, never all of them
    end = time.monotonic() + 5
    while fanout_backends(pg_primary, app) > bound - 1 and time.monotonic() < end:
        time.sleep(0.05)
    assert fanout_backends(pg_primary, app) <= bound - 1


def test_concurrent_scrapes_of_different_collectors_share_kept_connections(exporter_factory, pg_primary, databases):
    """Two databases within the bound keep their connections; scrapes that do not coalesce
    (different collect[]) take turns on them instead of waiting for a slot until the deadline."""
    app, (a, b) = "flextime-fanout-kept", databases[:2]
    exp = start(
        exporter_factory,
        pg_primary,
        app,
        "--auto-discover-databases",
        "--postgres.fanout-connections=2",
        f"--include-databases={a},{b}",
    )
    scrape(exp)
    stop = time.monotonic() + 3
    outcomes: list[str] = []

    def scraper(collector: str) -> None:
        while time.monotonic() < stop:
            try:
                resp = exp.get(f"/metrics?collect[]={collector}", timeout=15)
                ok = resp.status == 200 and value(resp.text, "pg_scrape_collector_success", collector=collector) == 1
                outcomes.append("ok" if ok else resp.text[-300:])
            except Exception as exc:  # reported below, never a hang
                outcomes.append(repr(exc))

    pids: set[int] = set()
    with psycopg.connect(pg_primary.superuser_dsn, autocommit=True, application_name="fanout-test-sampler") as conn:
        threads = [threading.Thread(target=scraper, args=(c,)) for c in ("stat_user_tables", "statio_user_tables") * 4]
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            pids.update(
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname <> 'postgres'", (app,)
                )
            )
            time.sleep(0.01)
        for t in threads:
            t.join(20)
    assert outcomes and all(o == "ok" for o in outcomes), [o for o in outcomes if o != "ok"][:3]
    assert len(pids) == 2, pids  # the two kept connections, none opened meanwhile


def test_a_query_error_in_one_database_fails_only_that_query(exporter_factory, pg_primary, databases):
    """Issue 16: a lock timeout (pg_total_relation_size waits on a table someone holds exclusively)
    fails the stat_user_tables query of that database; the other queries of its pipeline (statio)
    are still served from it, and the other databases are unaffected."""
    locked = databases[2]
    holder = psycopg.connect(pg_primary.superuser_dsn.rsplit("/", 1)[0] + f"/{locked}")
    try:
        holder.execute(f"LOCK TABLE {table_of(locked)} IN ACCESS EXCLUSIVE MODE")  # held until rollback
        exp = start(
            exporter_factory,
            pg_primary,
            "flextime-fanout-locked",
            "--auto-discover-databases",
            "--postgres.lock-timeout=0.3",
        )
        for _ in range(2):
            text = scrape(exp)
            assert value(text, "pg_scrape_collector_success", collector="stat_user_tables") == 0
            assert value(text, "pg_scrape_collector_success", collector="statio_user_tables") == 1
            statio = tables_by_db(text, "pg_statio_user_tables_heap_blks_read")
            assert statio.get(locked) == {table_of(locked)}  # its other query still answered
            seen = tables_by_db(text)
            assert locked not in seen and all(seen.get(db) == {table_of(db)} for db in databases if db != locked)
        log = exp.log()
        assert log.count("collector stat_user_tables failed") == 1 and "lock timeout" in log
    finally:
        holder.rollback()
        holder.close()
