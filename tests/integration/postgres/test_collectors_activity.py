"""stat_activity, stat_database(_conflicts) and locks on a real primary: what a user would
notice (an open transaction, commits, a held lock) shows in the values, our own session is
not counted, and the stable values are Go's postgres_exporter 0.11.1's."""

from __future__ import annotations

import math
import time

import psycopg
import pytest

from conftest import parse_families, start_exporter, value

from .conftest import PSQL_APP_NAME

APP = "flextime-exporter-activity-test"


@pytest.fixture(scope="module")
def ours(pg_primary, tmp_path_factory):
    exp = start_exporter(
        tmp_path_factory.mktemp("pg-activity"),
        "--compat=0.11",
        f"--postgres.application-name={APP}",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"},
    )
    yield exp
    exp.stop()


def superuser_dsn(pg_primary, dbname: str) -> str:
    return pg_primary.superuser_dsn.rsplit("/", 1)[0] + "/" + dbname


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200 and value(resp.text, "pg_up") == 1
    return resp.text


def counter(text: str, name: str, **labels) -> float:
    """A counter's sample: prometheus_client's parser names it ``<name>_total`` even when the
    exposition (ours and 0.11.1's) writes it without the suffix."""
    return value(text, name + "_total", **labels)


def by_labels(text: str, family: str) -> dict[tuple, float]:
    fam = parse_families(text)[family]
    return {tuple(sorted((k, v) for k, v in s.labels.items())): s.value for s in fam.samples}


def test_collectors_succeed(ours):
    text = scrape(ours)
    for collector in ("stat_activity", "stat_database", "stat_database_conflicts", "locks"):
        assert value(text, "pg_scrape_collector_success", collector=collector) == 1, collector


def test_open_transaction_shows_in_max_tx_duration(ours, pg_primary):
    with psycopg.connect(superuser_dsn(pg_primary, "app1"), application_name="held-tx") as conn:
        conn.execute("SELECT count(*) FROM items")  # opens a transaction and leaves it open
        time.sleep(2)
        text = scrape(ours)
        assert value(text, "pg_stat_activity_max_tx_duration", datname="app1", state="idle in transaction") >= 1.5
        assert value(text, "pg_stat_activity_count", datname="app1", state="idle in transaction") >= 1
        conn.rollback()
    text = scrape(ours)
    assert value(text, "pg_stat_activity_max_tx_duration", datname="app1", state="idle in transaction") == 0
    assert value(text, "pg_stat_activity_count", datname="app1", state="idle in transaction") == 0
    # every database x every state, zeros included
    for state in (
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
    ):
        assert value(text, "pg_stat_activity_count", datname="template0", state=state) == 0


def test_own_backend_is_not_counted(ours, pg_primary):
    """Our sessions are active while it scrapes; the count of active sessions in 'postgres' is
    what the superuser sees without ours (and without the helper's psql)."""
    truth_sql = (
        "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'idle') "
        "FROM pg_stat_activity WHERE datname = 'postgres' "
        f"AND application_name NOT IN ('{APP}', '{PSQL_APP_NAME}')"
    )
    seen = []
    for _ in range(10):  # an autovacuum worker may come and go between the two reads
        text = scrape(ours)
        got = (
            value(text, "pg_stat_activity_count", datname="postgres", state="active"),
            value(text, "pg_stat_activity_count", datname="postgres", state="idle"),
        )
        truth = tuple(float(x) for x in pg_primary.psql(truth_sql).split("|"))
        seen.append((got, truth))
        if got == truth:
            break
        time.sleep(0.3)
    assert seen[-1][0] == seen[-1][1], seen
    # they are there (the main connection and the one for pg_database_size), and were not counted
    assert pg_primary.connections_from(APP) == 2


def test_commits_grow_xact_commit(ours, pg_primary):
    before = counter(scrape(ours), "pg_stat_database_xact_commit", datname="app1")
    with psycopg.connect(superuser_dsn(pg_primary, "app1")) as conn:
        for _ in range(5):
            conn.execute("SELECT 1")
            conn.commit()
    # a backend's statistics reach the shared view when it disconnects (or within a second)
    deadline = time.monotonic() + 10
    while True:
        after = counter(scrape(ours), "pg_stat_database_xact_commit", datname="app1")
        if after >= before + 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after >= before + 5, (before, after)


def test_held_lock_shows_in_locks_count(ours, pg_primary):
    with psycopg.connect(superuser_dsn(pg_primary, "app1")) as conn:
        conn.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        text = scrape(ours)
        assert value(text, "pg_locks_count", datname="app1", mode="accessexclusivelock") >= 1
        conn.rollback()
    text = scrape(ours)
    assert value(text, "pg_locks_count", datname="app1", mode="accessexclusivelock") == 0


def test_shared_row_and_nulls(ours):
    text = scrape(ours)
    assert value(text, "pg_stat_database_numbackends", datid="0", datname="") == 0
    assert math.isnan(counter(text, "pg_stat_database_stats_reset", datname="template0"))  # never reset: NULL
    # 0.11.1's names: counters without _total, and the views' newer columns untyped
    assert "\n# TYPE pg_stat_database_xact_commit counter\npg_stat_database_xact_commit{" in text
    assert "\n# TYPE pg_stat_database_sessions untyped\n" in text
    assert 'datid="0"' not in "".join(  # the conflicts view has no shared row
        line for line in text.splitlines() if line.startswith("pg_stat_database_conflicts_confl_")
    )


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_stable_values_agree_with_postgres_exporter(ours, go_postgres_exporter):
    o, g = scrape(ours), go_postgres_exporter.get().text
    go_families = parse_families(g)
    # the same series (label sets) in the cross-joined and per-database families
    for family in (
        "pg_locks_count",
        "pg_stat_activity_count",
        "pg_stat_activity_max_tx_duration",
        "pg_stat_database_numbackends",
        "pg_stat_database_xact_commit",
        "pg_stat_database_conflicts_confl_lock",
    ):
        assert set(by_labels(o, family)) == set(by_labels(g, family)), family
    # template0 accepts no connections: its values stand still
    stat_database = [n for n in go_families if n.startswith("pg_stat_database_")]
    assert len(stat_database) >= 20, stat_database
    for family in stat_database + ["pg_locks_count", "pg_stat_activity_count", "pg_stat_activity_max_tx_duration"]:
        ours_t0 = {k: v for k, v in by_labels(o, family).items() if ("datname", "template0") in k}
        go_t0 = {k: v for k, v in by_labels(g, family).items() if ("datname", "template0") in k}
        assert ours_t0 and ours_t0.keys() == go_t0.keys(), family
        assert all(same(ours_t0[k], go_t0[k]) for k in go_t0), (family, ours_t0, go_t0)
    # no conflicts on a primary, in any database
    for family in [n for n in go_families if n.startswith("pg_stat_database_conflicts_")]:
        assert by_labels(o, family) == by_labels(g, family), family
    # HELP strings are 0.11.1's
    ours_families = parse_families(o)
    for family in stat_database + ["pg_locks_count", "pg_stat_activity_count", "pg_stat_activity_max_tx_duration"]:
        assert ours_families[family].documentation == go_families[family].documentation, family
