"""The collectors that are off by default (stat_statements, long_running_transactions,
database_wraparound, statio_user_indexes) on a real primary: switched on they report what a user
does, the statement text stays hidden unless asked for (and is cut to the length), the
statement limit holds, a missing extension is one clear failure, and a default exporter has none
of their families."""

from __future__ import annotations

import time

import psycopg
import pytest

from conftest import IN_CI, parse_families, samples, start_exporter, value

from .conftest import PgServer


def missing(reason: str) -> None:
    """Skip on a laptop whose PostgreSQL lacks the extension; CI installs it, so fail there."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


APP = "flextime-exporter-optional-test"
ON = (
    "--collector.stat_statements",
    "--collector.long_running_transactions",
    "--collector.database_wraparound",
    "--collector.statio_user_indexes",
)
FAMILIES = ("pg_stat_statements_", "pg_long_running_transactions", "pg_database_wraparound_", "pg_statio_user_indexes_")
INDEX = "items_name_idx"
# a distinctive statement whose normalised text (constants become $1) is longer than 120 characters
MARKER = (
    "SELECT count(*) AS flextime_optional_marker_column_with_a_long_name_"
    "that_makes_the_statement_text_longer_than_one_hundred_and_twenty_characters "
    "FROM items WHERE id > 0"
)


def superuser_dsn(pg: PgServer, dbname: str) -> str:
    return pg.superuser_dsn.rsplit("/", 1)[0] + "/" + dbname


def start(pg: PgServer, tmp_path_factory, dbname: str, *args: str):
    return start_exporter(
        tmp_path_factory.mktemp(f"pg-optional-{dbname}"),
        "--compat=0.11",
        f"--postgres.application-name={APP}",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg.exporter_dsn_for(dbname) + "?sslmode=disable"},
    )


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200 and value(resp.text, "pg_up") == 1
    return resp.text


def has_stat_statements(pg: PgServer) -> bool:
    return pg.psql("SHOW shared_preload_libraries") == "pg_stat_statements"


@pytest.fixture(scope="module")
def app1(pg_primary):
    """app1 with pg_stat_statements, an index on items(name) that has been read, and MARKER run 5 times
    (all idempotent: the server is shared by the whole session)."""
    if not has_stat_statements(pg_primary):
        missing("this PostgreSQL build has no pg_stat_statements (Debian: postgresql-contrib)")
    pg_primary.psql(
        f"CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\nCREATE INDEX IF NOT EXISTS {INDEX} ON items (name);\n",
        dbname="app1",
    )
    with psycopg.connect(superuser_dsn(pg_primary, "app1"), autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT id FROM items WHERE name = 'item-7'").fetchall()
        for _ in range(5):
            conn.execute(MARKER).fetchall()
        queryid = conn.execute(
            "SELECT queryid::text, query FROM pg_stat_statements "
            "WHERE query LIKE '%flextime_optional_marker%' AND query NOT LIKE '%pg_stat_statements%'"
        ).fetchall()
    assert len(queryid) == 1, queryid
    return queryid[0]


@pytest.fixture(scope="module")
def optional(pg_primary, app1, tmp_path_factory):
    exp = start(
        pg_primary,
        tmp_path_factory,
        "app1",
        *ON,
        "--collector.long_running_transactions.threshold=1",
        "--collector.stat_statements.limit=1000",
    )
    yield exp
    exp.stop()


def test_stat_statements_counts_calls_without_text(optional, app1):
    queryid, text = app1
    out = scrape(optional)
    assert value(out, "pg_scrape_collector_success", collector="stat_statements") == 1
    labels = {"queryid": queryid, "datname": "app1", "user": "postgres"}
    assert value(out, "pg_stat_statements_calls_total", **labels) >= 5
    assert value(out, "pg_stat_statements_rows_total", **labels) >= 5
    assert value(out, "pg_stat_statements_seconds_total", **labels) > 0
    for name in ("block_read_seconds_total", "block_write_seconds_total"):
        assert value(out, f"pg_stat_statements_{name}", **labels) >= 0
    fams = parse_families(out)
    fam = fams["pg_stat_statements_calls"]
    assert fam.type == "counter" and set(fam.samples[0].labels) == {"user", "datname", "queryid", "server"}
    assert "pg_stat_statements_query_id" not in fams
    assert "flextime_optional_marker" not in out


def test_stat_statements_query_text_truncated(pg_primary, app1, tmp_path_factory):
    queryid, text = app1
    assert len(text) > 120
    exp = start(
        pg_primary,
        tmp_path_factory,
        "app1",
        "--collector.stat_statements",
        "--collector.stat_statements.include_query",
        "--collector.stat_statements.limit=1000",
    )
    short = start(
        pg_primary,
        tmp_path_factory,
        "app1",
        "--collector.stat_statements",
        "--collector.stat_statements.include_query",
        "--collector.stat_statements.query_length=40",
        "--collector.stat_statements.limit=1000",
    )
    try:
        for e, length in ((exp, 120), (short, 40)):
            out = scrape(e)
            found = [
                dict(labels)
                for (n, labels), v in samples(out).items()
                if n == "pg_stat_statements_query_id" and dict(labels)["queryid"] == queryid and v == 1
            ]
            assert [f["query"] for f in found] == [text[:length]], found
            assert len(found[0]["query"]) == length and set(found[0]) == {"queryid", "query", "server"}
    finally:
        exp.stop()
        short.stop()


def test_stat_statements_limit(pg_primary, app1, tmp_path_factory):
    exp = start(
        pg_primary, tmp_path_factory, "app1", "--collector.stat_statements", "--collector.stat_statements.limit=2"
    )
    try:
        fams = parse_families(scrape(exp))
        assert len(fams["pg_stat_statements_calls"].samples) == 2
    finally:
        exp.stop()


def test_stat_statements_without_extension_fails_clearly(pg_primary, tmp_path_factory):
    exp = start(pg_primary, tmp_path_factory, "app2", "--collector.stat_statements")
    try:
        for _ in range(3):
            out = scrape(exp)
            assert value(out, "pg_scrape_collector_success", collector="stat_statements") == 0
        assert "pg_stat_statements_calls" not in parse_families(out)
        lines = [l for l in exp.log().splitlines() if "collector stat_statements failed" in l]
        assert len(lines) == 1 and "pg_stat_statements extension is not installed" in lines[0], lines
    finally:
        exp.stop()


def test_long_running_transaction(pg_primary, optional):
    out = scrape(optional)
    assert value(out, "pg_scrape_collector_success", collector="long_running_transactions") == 1
    assert value(out, "pg_long_running_transactions") == 0
    with psycopg.connect(superuser_dsn(pg_primary, "app2")) as conn:  # not autocommit: the SELECT opens a transaction
        conn.execute("SELECT 1").fetchall()
        time.sleep(1.5)
        out = scrape(optional)
        conn.rollback()
    assert value(out, "pg_long_running_transactions") >= 1
    assert value(out, "pg_long_running_transactions_oldest_timestamp_seconds") >= 1.5
    fams = parse_families(out)
    assert set(fams["pg_long_running_transactions"].samples[0].labels) == {"server"}


def test_wraparound_ages(optional):
    out = scrape(optional)
    assert value(out, "pg_scrape_collector_success", collector="database_wraparound") == 1
    assert value(out, "pg_database_wraparound_age_datfrozenxid_seconds", datname="app1") > 0
    assert value(out, "pg_database_wraparound_age_datminmxid_seconds", datname="app1") >= 0
    assert "template0" not in {
        s.labels["datname"] for s in parse_families(out)["pg_database_wraparound_age_datfrozenxid_seconds"].samples
    }


def test_index_block_counters(optional):
    out = scrape(optional)
    assert value(out, "pg_scrape_collector_success", collector="statio_user_indexes") == 1
    labels = {"schemaname": "public", "relname": "items", "indexrelname": INDEX}
    read = value(out, "pg_statio_user_indexes_idx_blks_read_total", **labels)
    hit = value(out, "pg_statio_user_indexes_idx_blks_hit_total", **labels)
    assert read + hit > 0
    fam = parse_families(out)["pg_statio_user_indexes_idx_blks_hit"]
    assert fam.type == "counter" and set(fam.samples[0].labels) == {"schemaname", "relname", "indexrelname", "server"}
    assert value(out, "pg_statio_user_indexes_idx_blks_hit_total", indexrelname="items_pkey") >= 0


def test_default_exporter_has_none(pg_primary, app1, tmp_path_factory):
    exp = start(pg_primary, tmp_path_factory, "app1")
    try:
        out = scrape(exp)
        names = set(parse_families(out)) | {n for n, _ in samples(out)}
        assert not [n for n in names if n.startswith(FAMILIES)]
        collectors = {s.labels["collector"] for s in parse_families(out)["pg_scrape_collector_success"].samples}
        assert not collectors & {
            "stat_statements",
            "long_running_transactions",
            "database_wraparound",
            "statio_user_indexes",
        }
    finally:
        exp.stop()


def test_stat_statements_on_pg18(pg18_primary, tmp_path_factory):
    """PostgreSQL 17 renamed blk_read_time to shared_blk_read_time: the 17+ query works on 18."""
    if not has_stat_statements(pg18_primary):
        missing("this PostgreSQL build has no pg_stat_statements (Debian: postgresql-contrib)")
    pg18_primary.psql("SELECT 1")
    exp = start_exporter(
        tmp_path_factory.mktemp("pg18-optional"),
        "--compat=0.11",
        *ON,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg18_primary.exporter_dsn + "?sslmode=disable"},
    )
    try:
        out = scrape(exp)
        for name in ("stat_statements", "long_running_transactions", "database_wraparound", "statio_user_indexes"):
            assert value(out, "pg_scrape_collector_success", collector=name) == 1, name
        fams = parse_families(out)
        assert fams["pg_stat_statements_calls"].samples
        assert fams["pg_stat_statements_block_read_seconds"].samples
    finally:
        exp.stop()


@pytest.mark.parametrize(
    "flag,left_out",
    [
        ("--collector.stat_statements.exclude_users=postgres, nobody", ("user", "postgres")),
        ("--collector.stat_statements.exclude_databases=app1", ("datname", "app1")),
    ],
)
def test_stat_statements_excluded_users_and_databases(pg_primary, app1, tmp_path_factory, flag, left_out):
    """postgres_exporter 0.19's exclude flags: the statements of those users / databases are not read
    (also not counted against the limit). app1 holds statements of both users (the exporter's own)."""
    label, excluded = left_out
    with psycopg.connect(pg_primary.exporter_dsn_for("app1") + "?sslmode=disable", autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM pg_stat_activity").fetchall()  # a statement of user exporter
    on = ("--collector.stat_statements", "--collector.stat_statements.limit=1000")
    kept = start(pg_primary, tmp_path_factory, "app1", *on)
    exp = start(pg_primary, tmp_path_factory, "app1", *on, flag)
    try:
        before, after = scrape(kept), scrape(exp)
    finally:
        kept.stop()
        exp.stop()

    def values_of(text: str) -> set[str]:
        return {s.labels[label] for s in parse_families(text)["pg_stat_statements_calls"].samples}

    assert excluded in values_of(before)
    assert excluded not in values_of(after) and values_of(after), values_of(after)
    assert value(after, "pg_scrape_collector_success", collector="stat_statements") == 1
