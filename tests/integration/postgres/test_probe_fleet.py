"""Multi-target mode at fleet scale (issue 19): /probe targets that are databases of one server share
its connections (--probe.connections-per-server) and its cluster-wide reads
(--probe.cluster-cache-seconds), and ``scope=database`` serves only the probed database's series."""

from __future__ import annotations

import threading
import time

from conftest import samples, value

from exporters.postgres.servershare import PER_DATABASE

from .test_multi_target import probe, write_config

DATABASES = ("postgres", "app1", "app2", "template1")


def _target(pg_primary, db: str) -> str:
    return f"host=127.0.0.1 port={pg_primary.port} dbname={db}"


def _fleet_exporter(exporter_factory, pg_primary, tmp_path, app: str, *flags):
    config = write_config(tmp_path, pg_primary, [f"127.0.0.1:{pg_primary.port}"])
    return exporter_factory(
        f"--config.file={config}",
        f"--postgres.application-name={app}",
        "--log.level=debug",
        *flags,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": ""},
    )


def test_probes_of_one_server_share_cluster_reads_and_a_bounded_set_of_connections(
    exporter_factory, pg_primary, tmp_path
):
    app = "flextime-fleet-test"
    exp = _fleet_exporter(
        exporter_factory,
        pg_primary,
        tmp_path,
        app,
        "--probe.connections-per-server=2",
        "--probe.cluster-cache-seconds=120",
    )
    texts = {}
    for db in DATABASES:
        resp = probe(exp, _target(pg_primary, db))
        assert resp.status == 200 and value(resp.text, "pg_up") == 1, resp.text[:500]
        texts[db] = resp.text
    log = exp.log()
    # four probes of four databases within the cache window: one read of each cluster-wide view
    for collector in ("settings", "database", "locks", "stat_database", "stat_activity", "stat_bgwriter"):
        assert log.count(f"cluster-wide read of {collector} on") == 1, collector
        for text in texts.values():
            assert value(text, "pg_scrape_collector_success", collector=collector) == 1
    assert all(value(t, "pg_settings_max_connections") == 100 for t in texts.values())
    # ... but the per-database reads are each probe's own: app1's and app2's table, not postgres'
    for db in ("app1", "app2"):
        assert value(texts[db], "pg_stat_user_tables_n_live_tup", datname=db, relname="items") >= 300
    assert not any(name == "pg_stat_user_tables_n_live_tup" for name, _ in samples(texts["postgres"]))
    assert "cluster-wide read of stat_user_tables" not in log

    # concurrent probes of the four databases: never more than 2 backends, all answered
    peak = [0]
    stop = threading.Event()

    def watch():
        while True:  # at least once, however fast the probes are
            peak[0] = max(peak[0], pg_primary.connections_from(app))
            if stop.wait(0.05):
                break

    watcher = threading.Thread(target=watch)
    watcher.start()
    results: list = []
    threads = [
        threading.Thread(target=lambda d=d: results.append(probe(exp, _target(pg_primary, d)))) for d in DATABASES * 5
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        stop.set()
        watcher.join(5)
    assert [r.status for r in results] == [200] * len(threads)
    assert all(value(r.text, "pg_up") == 1 for r in results), [l for l in exp.log().splitlines() if "ERROR" in l][:5]
    assert peak[0] <= 2  # the bound (a fast machine may finish the probes between two samples)
    assert pg_primary.connections_from(app) <= 2
    assert exp.log().count("cluster-wide read of settings on") == 1
    assert pg_primary.exporter_password not in exp.log()


def test_cluster_reads_are_fresh_again_after_the_cache_window(exporter_factory, pg_primary, tmp_path):
    exp = _fleet_exporter(
        exporter_factory, pg_primary, tmp_path, "flextime-fleet-cache", "--probe.cluster-cache-seconds=0.5"
    )
    assert value(probe(exp, _target(pg_primary, "app1")).text, "pg_up") == 1
    deadline = time.monotonic() + 20
    while exp.log().count("cluster-wide read of settings on") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.6)
        assert value(probe(exp, _target(pg_primary, "app2")).text, "pg_up") == 1


def test_scope_database_serves_only_the_probed_databases_series(exporter_factory, pg_primary, tmp_path):
    exp = _fleet_exporter(exporter_factory, pg_primary, tmp_path, "flextime-fleet-scope")
    full = probe(exp, _target(pg_primary, "app1")).text
    own = probe(exp, _target(pg_primary, "app1"), scope="database").text
    datnames = {dict(labels).get("datname") for _, labels in samples(own)} - {None}
    assert datnames == {"app1"}
    assert {dict(labels).get("datname") for _, labels in samples(full)} >= {"app1", "app2", "postgres"}
    names = {name for name, _ in samples(own)}
    assert value(own, "pg_up") == 1
    assert value(own, "pg_stat_user_tables_n_live_tup", datname="app1", relname="items") >= 300
    assert value(own, "pg_stat_database_numbackends", datname="app1") >= 0
    assert not any(n.startswith(("pg_settings_", "pg_stat_bgwriter_")) for n in names)
    assert len(list(samples(own))) < len(list(samples(full))) / 3


# every collector that reads the connected database's own views
PER_DATABASE_OFF = tuple(f"--no-collector.{name}" for name in sorted(PER_DATABASE))


def test_with_no_per_database_collector_a_warm_fleet_of_more_databases_than_connections_logs_in_once(
    exporter_factory, pg_primary, tmp_path
):
    """Four databases over one connection: a probe runs on the idle connection of another database
    instead of logging in to its own; its pg_up still says whether its own database takes connections."""
    app = "flextime-fleet-nologin"
    exp = _fleet_exporter(
        exporter_factory, pg_primary, tmp_path, app, "--probe.connections-per-server=1", *PER_DATABASE_OFF
    )

    def logins() -> int:
        return sum(
            "connection authorized" in line and f"application_name={app}" in line
            for line in pg_primary.log_text().splitlines()
        )

    for _ in range(3):
        for db in DATABASES:
            text = probe(exp, _target(pg_primary, db)).text
            assert value(text, "pg_up") == 1, text[:300]
            assert value(text, "pg_stat_database_numbackends", datname=db) >= 0
    deadline = time.monotonic() + 10
    while logins() < 1:  # the server's log is written by its logger process
        assert time.monotonic() < deadline, "no login logged"
        time.sleep(0.1)
    assert logins() == 1  # 12 probes of 4 databases: one login in all
    assert pg_primary.connections_from(app) == 1
    own = probe(exp, _target(pg_primary, "app2"), scope="database").text
    assert {dict(labels).get("datname") for _, labels in samples(own)} - {None} == {"app2"}
    # a database that is gone or closed: pg_up 0 and the reason, as a login to it would have said
    for db, reason in (
        ("nosuchdb", 'database "nosuchdb" does not exist'),
        ("template0", 'database "template0" does not accept connections'),
    ):
        text = probe(exp, _target(pg_primary, db)).text
        assert value(text, "pg_up") == 0
        assert reason in exp.log()
        assert value(probe(exp, _target(pg_primary, "app1")).text, "pg_up") == 1
    assert logins() == 1  # the lent connection survived both refusals


def test_with_per_database_collectors_a_probe_reads_on_its_own_database(exporter_factory, pg_primary, tmp_path):
    """The default collectors read the probed database's tables: a probe never runs on another one's."""
    exp = _fleet_exporter(
        exporter_factory, pg_primary, tmp_path, "flextime-fleet-own", "--probe.connections-per-server=1"
    )
    for db in ("app1", "app2", "app1"):
        text = probe(exp, _target(pg_primary, db)).text
        assert value(text, "pg_stat_user_tables_n_live_tup", datname=db, relname="items") >= 300
