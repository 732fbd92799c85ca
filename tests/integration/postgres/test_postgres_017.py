"""`flextime-exporter postgres` beside today's postgres_exporter (0.17.1, Debian 13's) and Debian 12's
0.11.1, every collector of both on, on PostgreSQL 15 (primary and replica) and 18: the same
families, types and label names as 0.17.1 (by default) or 0.11.1 (``--compat=0.11``), each
difference named below with its reason; every flag of both ``--help`` outputs accepted."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from conftest import (
    ROOT,
    exporter_cmd,
    free_port,
    newer_go_binary,
    require_program,
    samples,
    start_exporter,
    start_go_exporter,
    value,
)

from .conftest import _clean_env

GO_011 = "prometheus-postgres-exporter"
# every collector 0.17.1 has that is off by default there
GO_017_OFF = (
    "database_wraparound",
    "long_running_transactions",
    "postmaster",
    "process_idle",
    "stat_activity_autovacuum",
    "stat_checkpointer",
    "stat_statements",
    "stat_wal_receiver",
    "statio_user_indexes",
    "xlog_location",
)
# ours that are off by default (every collector on), and our own beyond postgres_exporter
OURS_OFF = (
    "database_wraparound",
    "long_running_transactions",
    "process_idle",
    "stat_activity_autovacuum",
    "stat_statements",
    "stat_wal_receiver",
    "statio_user_indexes",
    "xlog_location",
)
APP = "flextime-017-test"
IDLE_APP = "flextime-idle-client"

# Families only one side serves, and why. Everything else must match in type and label names.
OURS_ONLY = {
    "pg_replication_lag": "the old example queries.yaml's name of pg_replication_lag_seconds, kept for its alerts",
    "pg_stat_user_tables_index_size_bytes": "ours: size_bytes split into indexes and table",
    "pg_stat_user_tables_table_size_bytes": "ours: size_bytes split into indexes and table",
    "flextime_exporter_build_info": "ours: the exporter's own build info",
    "flextime_exporter_series_dropped_total": "ours: duplicate series dropped",
    "pg_stat_checkpointer_num_done_total": "PostgreSQL 18's new pg_stat_checkpointer column (0.17.1 predates it)",
    "pg_stat_checkpointer_slru_written_total": "PostgreSQL 18's new pg_stat_checkpointer column (0.17.1 predates it)",
}
OURS_ONLY_011 = {
    **OURS_ONLY,
    # 0.11.1 had no such collectors; ours serve them under both label sets (with server under 0.11)
    "pg_database_connection_limit": "0.17's collector, also under --compat=0.11",
    "pg_postmaster_start_time_seconds": "on by default here (0.11.1: only from its example queries.yaml)",
    "pg_replication_is_replica": "0.17's replication collector (0.11.1: queries.yaml's pg_replication_lag only)",
    "pg_replication_lag_seconds": "0.17's replication collector",
    "pg_replication_last_replay_seconds": "0.17's replication collector",
    "pg_roles_connection_limit": "0.17's roles collector",
    "pg_wal_segments": "0.17's wal collector",
    "pg_wal_size_bytes": "0.17's wal collector",
    "pg_replication_slot_slot_current_wal_lsn": "0.17's replication_slot collector",
    "pg_replication_slot_slot_confirmed_flush_lsn": "0.17's replication_slot collector",
    "pg_replication_slot_slot_is_active": "0.17's replication_slot collector",
    "pg_replication_slot_safe_wal_size_bytes": "0.17's replication_slot collector",
    "pg_replication_slot_wal_status": "0.17's replication_slot collector",
    "pg_stat_wal_receiver_": "0.17's stat_wal_receiver collector",
    "pg_process_idle_seconds": "0.17's process_idle (0.11.1: only from its example queries.yaml)",
    "pg_stat_user_tables_": "0.11.1: only from its example queries.yaml",
    "pg_statio_user_tables_": "0.11.1: only from its example queries.yaml",
    "pg_statio_user_indexes_": "0.17's statio_user_indexes collector",
    "pg_database_wraparound_": "0.17's database_wraparound collector",
    "pg_long_running_": "0.17's long_running_transactions collector",
    "pg_stat_statements_": "0.17's stat_statements collector",
}
GO_ONLY = {
    "go_": "the Go runtime",
    "promhttp_": "ours: promhttp_* are served too, but not in this per-target comparison",
}


def families(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{family: (type, sorted label names)} from the exposition text as written (``_total`` kept,
    histograms by their family name, ``le`` left out)."""
    out: dict[str, list] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            out[name] = [typ, set()]
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
            name = m.group(1)
            if name not in out:
                name = re.sub(r"_(bucket|sum|count)$", "", name)
            fam = out.setdefault(name, ["untyped", set()])
            fam[1].update(k for k in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or "") if k != "le")
    return {n: (t, tuple(sorted(labels))) for n, (t, labels) in out.items()}


def _named(name: str, table: dict) -> bool:
    return any(name == k or (k.endswith("_") and name.startswith(k)) for k in table)


def compare(ours: str, go: str, ours_only: dict, go_only: dict | None = None) -> list[str]:
    """The differences not named in ``ours_only`` / ``go_only`` (process_* of both are compared too)."""
    o, g = families(ours), families(go)
    go_only = {**GO_ONLY, **(go_only or {})}
    problems = [
        f"{n}: ours {o[n]} != go {g[n]}"
        for n in o.keys() & g.keys()
        if o[n] != g[n] and not n.startswith(("process_", "promhttp_"))
    ]
    problems += [
        f"{n}: only ours"
        for n in o.keys() - g.keys()
        if not _named(n, ours_only) and not n.startswith(("process_", "promhttp_"))
    ]
    problems += [
        f"{n}: only go"
        for n in g.keys() - o.keys()
        if not _named(n, go_only) and not n.startswith(("process_", "promhttp_"))
    ]
    return sorted(problems)


def _go(binary: str, server, tmp: Path, *args: str, dbname: str = "app1"):
    env = _clean_env(tmp)
    env["DATA_SOURCE_NAME"] = server.exporter_dsn_for(dbname) + "?sslmode=disable"
    return start_go_exporter(binary, *args, log_path=tmp / "go.log", env=env)


def _ours(server, tmp: Path, *args: str, dbname: str = "app1"):
    return start_exporter(
        tmp,
        f"--postgres.application-name={APP}",
        *args,
        exporter="postgres",
        env={"DATA_SOURCE_NAME": server.exporter_dsn_for(dbname) + "?sslmode=disable"},
    )


def _prepare(primary) -> None:
    """What makes every family appear: pg_stat_statements in app1 (the DSN's database), a slot
    with max_slot_wal_keep_size (safe_wal_size), a database connection limit."""
    primary.psql(
        "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'; SELECT pg_reload_conf(); "
        "ALTER DATABASE app2 CONNECTION LIMIT 7"
    )
    if primary.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'") == "1":
        primary.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname="app1")
    end = time.monotonic() + 10
    while primary.psql("SELECT count(*) FROM pg_replication_slots WHERE safe_wal_size IS NOT NULL") == "0":
        assert time.monotonic() < end, "max_slot_wal_keep_size not in effect"
        time.sleep(0.1)


def _wal_received(replica) -> None:
    """Write WAL on the primary until the replica's receiver has reported a position back
    (pg_stat_wal_receiver.latest_end_lsn is NULL until then, and both exporters skip the row)."""
    end = time.monotonic() + 20
    while replica.psql("SELECT count(*) FROM pg_stat_wal_receiver WHERE latest_end_lsn IS NOT NULL") == "0":
        assert time.monotonic() < end, "the replica's WAL receiver reports no position"
        replica.primary.psql("SELECT pg_switch_wal(); CHECKPOINT")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def idle_client(pg_primary):
    """A client session left idle in app1 (pg_process_idle_seconds, stat_activity's application_name)."""
    with psycopg.connect(
        pg_primary.superuser_dsn.rsplit("/", 1)[0] + "/app1", application_name=IDLE_APP, autocommit=True
    ) as conn:
        conn.execute("SELECT 1")
        yield conn


def _side_by_side(server, tmp_path_factory, *extra: str):
    """(ours, 0.17.1's, ours --compat=0.11, 0.11.1's) texts, each exporter with every collector on."""
    g17 = _go(
        newer_go_binary(GO_011),
        server,
        tmp_path_factory.mktemp("go17"),
        *[f"--collector.{c}" for c in GO_017_OFF],
        *extra,
    )
    g11 = _go(require_program(GO_011), server, tmp_path_factory.mktemp("go11"), *extra)
    o17 = _ours(server, tmp_path_factory.mktemp("o17"), *[f"--collector.{c}" for c in OURS_OFF], *extra)
    o11 = _ours(
        server, tmp_path_factory.mktemp("o11"), *[f"--collector.{c}" for c in OURS_OFF], "--compat=0.11", *extra
    )
    try:
        texts = []
        for exp in (o17, g17, o11, g11):
            exp.get()  # the first scrape of a Go exporter learns the server version
            resp = exp.get()
            assert resp.status == 200 and value(resp.text, "pg_up") == 1
            texts.append(resp.text)
        return texts
    finally:
        for exp in (o17, g17, o11, g11):
            exp.stop()


@pytest.fixture(scope="module")
def pg15(pg_primary, pg_replica, idle_client, tmp_path_factory):
    _prepare(pg_primary)
    return _side_by_side(pg_primary, tmp_path_factory)


def test_pg15_primary_families_types_and_labels_as_0_17_1(pg15):
    ours, go17, _, _ = pg15
    assert compare(ours, go17, OURS_ONLY) == []
    # the new families are really there (not merely absent on both sides)
    for name in (
        "pg_process_idle_seconds",
        "pg_replication_slot_slot_current_wal_lsn",
        "pg_replication_slot_safe_wal_size_bytes",
        "pg_replication_slot_wal_status",
        "pg_database_connection_limit",
        "pg_stat_database_active_time_seconds_total",
        "pg_stat_user_tables_size_bytes",
        "pg_statio_user_tables_heap_blocks_read",
        "postgres_exporter_build_info",
        "pg_stat_statements_calls_total",
    ):
        assert name in families(ours), name


def test_pg15_primary_families_under_compat_0_11_as_0_11_1(pg15):
    _, _, ours, go11 = pg15
    assert compare(ours, go11, OURS_ONLY_011, {"postgres_exporter_build_info": "compared below"}) == []
    assert families(ours)["postgres_exporter_build_info"] == families(go11)["postgres_exporter_build_info"]


def test_pg15_values_of_the_new_collectors(pg15, pg_primary):
    ours, go17, _, _ = pg15
    assert (
        value(ours, "pg_database_connection_limit", datname="app2")
        == 7
        == value(go17, "pg_database_connection_limit", datname="app2")
    )
    slot = {"slot_name": "flextime_replica", "slot_type": "physical"}
    assert value(ours, "pg_replication_slot_slot_is_active", **slot) == 1
    assert value(ours, "pg_replication_slot_wal_status", wal_status="reserved", **slot) == 1
    # max_slot_wal_keep_size (1 GiB) plus what is left of the current segment
    assert 0 < value(ours, "pg_replication_slot_safe_wal_size_bytes", **slot) <= 2 * 1024**3
    assert value(ours, "pg_replication_slot_slot_current_wal_lsn", **slot) > 0
    idle = {"state": "idle", "application_name": IDLE_APP}
    assert value(ours, "pg_process_idle_seconds_count", **idle) == 1
    assert value(ours, "pg_process_idle_seconds_bucket", le="+Inf", **idle) == 1
    assert (
        value(
            ours,
            "pg_stat_activity_count",
            datname="app1",
            state="idle",
            usename="postgres",
            application_name=IDLE_APP,
            backend_type="client backend",
            wait_event_type="Client",
            wait_event="ClientRead",
            server=f"127.0.0.1:{pg_primary.port}",
        )
        == 1
    )


def _series(text: str, name: str) -> dict[tuple, float]:
    return {labels: v for (n, labels), v in samples(text).items() if n == name}


def test_pg15_same_series_and_stable_values_as_0_17_1(pg15):
    """Beyond names and labels: the same label sets (databases, modes, roles, tables, slots) and, where
    they stand still, the same values."""
    ours, go17, _, _ = pg15
    for name in (
        "pg_locks_count",
        "pg_database_size_bytes",
        "pg_stat_database_numbackends",
        "pg_stat_user_tables_seq_scan_total",
        "pg_statio_user_tables_heap_blocks_read_total",
        "pg_replication_slot_wal_status",
        "pg_replication_slot_slot_current_wal_lsn",
    ):
        assert set(_series(ours, name)) == set(_series(go17, name)) and _series(ours, name), name
    for name in (
        "pg_database_connection_limit",
        "pg_roles_connection_limit",
        "pg_replication_slot_slot_is_active",
        "pg_stat_database_xact_commit_total",
    ):
        o, g = _series(ours, name), _series(go17, name)
        if name == "pg_stat_database_xact_commit_total":  # template0 takes no connections: it stands still
            o, g = ({k: v for k, v in d.items() if ("datname", "template0") in k} for d in (o, g))
        assert o == g and o, name


def test_pg15_replica_as_0_17_1(pg_replica, idle_client, tmp_path_factory):
    _wal_received(pg_replica)
    ours, go17, ours11, go11 = _side_by_side(pg_replica, tmp_path_factory)
    assert compare(ours, go17, OURS_ONLY) == []
    assert compare(ours11, go11, OURS_ONLY_011, {"postgres_exporter_build_info": "0.11.1 has no tags label"}) == []
    receiver = {"slot_name": "flextime_replica", "status": "streaming", "upstream_host": "127.0.0.1"}
    assert value(ours, "pg_scrape_collector_success", collector="stat_wal_receiver") == 1
    # a counter without _total: prometheus_client's parser would rename it, so read the line
    m = re.search(
        r'^pg_stat_wal_receiver_latest_end_lsn\{upstream_host="127.0.0.1",slot_name="flextime_replica",'
        r'status="streaming"\} (\d+)$',
        ours,
        re.M,
    )
    assert m and int(m.group(1)) > 0, [line for line in ours.splitlines() if "wal_receiver" in line]
    assert (
        value(ours, "pg_stat_wal_receiver_received_tli", **receiver)
        == value(go17, "pg_stat_wal_receiver_received_tli", **receiver)
        == 1
    )
    assert value(ours, "pg_replication_is_replica") == 1


def test_pg18_primary_and_replica_as_0_17_1(pg18_primary, pg18_replica, tmp_path_factory):
    _prepare(pg18_primary)
    _wal_received(pg18_replica)
    for server in (pg18_primary, pg18_replica):
        ours, go17, ours11, go11 = _side_by_side(server, tmp_path_factory)
        assert compare(ours, go17, OURS_ONLY) == [], server.name
        assert "pg_stat_checkpointer_num_timed_total" in families(ours)
        # 0.11.1 predates PostgreSQL 17: it reads pg_stat_bgwriter's moved columns and fails there
        problems = compare(
            ours11,
            go11,
            {
                **OURS_ONLY_011,
                "pg_stat_checkpointer_": "0.11.1 has none",
                "pg_stat_bgwriter_": "0.11.1's bgwriter fails on 17+",
            },
            {"postgres_exporter_build_info": "0.11.1 has no tags label"},
        )
        assert [p for p in problems if "pg_stat_database_conflicts_confl_active_logicalslot" not in p] == [], (
            server.name
        )


def test_disable_default_metrics_and_settings_as_0_17_1(pg_primary, tmp_path_factory):
    for flag in ("--disable-default-metrics", "--disable-settings-metrics"):
        ours, go17, ours11, go11 = _side_by_side(pg_primary, tmp_path_factory, flag)
        assert compare(ours, go17, OURS_ONLY) == [], flag
        no_tags = {"postgres_exporter_build_info": "0.11.1 has no tags label"}
        assert compare(ours11, go11, OURS_ONLY_011, no_tags) == [], flag
    assert "pg_settings_" not in ours and "pg_static" in ours


def test_constant_labels_on_every_series(pg_primary, tmp_path_factory):
    """--constantLabels: on every series of the target (postgres_exporter 0.17.1 puts them only on
    its built-in maps' families, pg_settings_* and pg_up)."""
    exp = _ours(pg_primary, tmp_path_factory.mktemp("cl"), "--constantLabels=env=prod,team=db")
    try:
        text = exp.get().text
    finally:
        exp.stop()
    target = [line for line in text.splitlines() if line.startswith("pg_")]
    assert len(target) > 300
    assert [line for line in target if 'env="prod",team="db"' not in line] == []
    assert value(text, "pg_up", env="prod", team="db") == 1


def test_metric_prefix(pg_primary, tmp_path_factory):
    exp = _ours(pg_primary, tmp_path_factory.mktemp("mp"), "--metric-prefix=pgsql")
    try:
        text = exp.get().text
    finally:
        exp.stop()
    assert value(text, "pgsql_up") == 1 and value(text, "pgsql_settings_max_connections") == 100
    assert [line for line in text.splitlines() if line.startswith("pg_")] == []


@pytest.mark.parametrize(
    "flag,needle",
    [
        ("--constantLabels=foo", "expected label=value"),
        ("--constantLabels=1x=y", "not a valid label name"),
        ("--constantLabels=datname=x", "already used"),
        ("--metric-prefix=1-x", "not a metric name prefix"),
        ("--compat=0.14", "--compat"),
    ],
)
def test_bad_whole_exporter_flags_are_one_line_exit_2(flag, needle):
    proc = subprocess.run(
        exporter_cmd(
            "postgres",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            flag,
            "--dsn=postgresql://exporter@127.0.0.1:1/postgres",
        ),
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_dumpmaps_prints_the_maps_and_exits():
    proc = subprocess.run(exporter_cmd("postgres", "--dumpmaps"), capture_output=True, text=True, timeout=20, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"^  pg_stat_activity_count +GAUGE +datname,state,usename,application_name,backend_type,"
        r"wait_event_type,wait_event,server$",
        proc.stdout,
        re.M,
    ), proc.stdout[:2000]
    assert re.search(r"^  pg_locks_count +GAUGE +datname,mode$", proc.stdout, re.M)
    old = subprocess.run(
        exporter_cmd("postgres", "--dumpmaps", "--compat=0.11"), capture_output=True, text=True, timeout=20, cwd=ROOT
    ).stdout
    assert re.search(r"^  pg_locks_count +GAUGE +datname,mode,server$", old, re.M)


# --- every flag of both --help outputs -------------------------------------------------------------

# Flags that come from another part of the project (a generic web flag of every exporter, built by
# the web helper): left out here until it lands.
FROM_WEB_HELPER = {"--web.systemd-socket"}
# Flags that end the process at once, tested on their own
EXITING = {"--help", "--version", "--dumpmaps"}


def help_flags(binary: str) -> dict[str, str | None]:
    """{flag: None for a switch, else its shown default} from a Go exporter's --help."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20)
    flags = {}
    for m in re.finditer(r"^ {2,6}(?:-\w, )?(--[\w.-]+)(?:=(\S*))?", out.stdout + out.stderr, re.M):
        flags[m.group(1)] = m.group(2)
    return flags


def test_every_flag_of_both_help_outputs(pg_primary, tmp_path):
    flags = {**help_flags(require_program(GO_011)), **help_flags(newer_go_binary(GO_011))}
    assert len(flags) >= 35, flags  # 39: 20 of 0.11.1, 37 of 0.17.1
    queries = tmp_path / "queries.yaml"
    queries.write_text(
        "pg_flag_test:\n  query: SELECT 1 AS one\n  metrics:\n    - one:\n        usage: GAUGE\n"
        "        description: one\n"
    )
    (tmp_path / "web.yml").write_text("{}\n")
    (tmp_path / "pg.yml").write_text("auth_modules: {}\n")
    port = free_port()
    values = {
        "--web.listen-address": f"127.0.0.1:{port}",
        "--web.config.file": str(tmp_path / "web.yml"),
        "--config.file": str(tmp_path / "pg.yml"),
        "--extend.query-path": str(queries),
        "--constantLabels": "env=flagtest",
        "--exclude-databases": "app2",
        "--include-databases": "app1,postgres",
        "--log.level": "info",
        "--log.format": "logfmt",
        "--metric-prefix": "pg",
        "--web.telemetry-path": "/metrics",
    }
    args = []
    for flag, default in sorted(flags.items()):
        if flag in FROM_WEB_HELPER | EXITING:
            continue
        args.append(flag if default is None else f"{flag}={values[flag]}")
    assert "--collector.process_idle" in args and "--collector.bgwriter" in args and "--dumpmaps" not in args
    log = tmp_path / "ours.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen(
            exporter_cmd("postgres", *args),
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "DATA_SOURCE_NAME": pg_primary.exporter_dsn + "?sslmode=disable"},
        )
    try:
        from conftest import http_get, wait_http

        wait_http(f"http://127.0.0.1:{port}/live", proc)
        text = http_get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.terminate()
        proc.wait(10)
    assert value(text, "pg_up", env="flagtest") == 1, log.read_text()
    assert value(text, "pg_flag_test_one", env="flagtest", server=f"127.0.0.1:{pg_primary.port}") == 1
    for collector in (
        "process_idle",
        "replication_slot",
        "stat_wal_receiver",
        "xlog_location",
        "stat_activity_autovacuum",
        "stat_bgwriter",
        "statio_user_indexes",
        "database_wraparound",
    ):
        assert value(text, "pg_scrape_collector_success", collector=collector, env="flagtest") == 1, collector
    assert (
        "pg_settings_" not in text and "pg_static" not in text
    )  # --disable-settings-metrics, --disable-default-metrics


def test_version_flag():
    proc = subprocess.run(exporter_cmd("postgres", "--version"), capture_output=True, text=True, timeout=20, cwd=ROOT)
    assert proc.returncode == 0 and "version" in proc.stdout


@pytest.mark.parametrize(
    "args,on,off",
    [
        (("--no-collector.bgwriter",), (), ("stat_bgwriter",)),  # 0.11.1's name of the collector
        (
            ("--disable-default-metrics",),
            ("locks", "stat_database", "settings"),
            ("stat_activity", "stat_archiver", "replication_slots", "stat_replication", "stat_database_conflicts"),
        ),
        (("--disable-default-metrics", "--compat=0.11"), ("settings", "database"), ("locks", "stat_database")),
        (("--disable-default-metrics", "--collector.stat_activity"), ("stat_activity",), ("stat_archiver",)),
        (("--disable-settings-metrics",), ("stat_activity",), ("settings",)),
    ],
)
def test_flags_choose_the_collectors(pg_primary, tmp_path, args, on, off):
    exp = _ours(pg_primary, tmp_path, *args)
    try:
        text = exp.get().text
    finally:
        exp.stop()
    ran = {m for m in re.findall(r'^pg_scrape_collector_success\{collector="(\w+)"\}', text, re.M)}
    assert set(on) <= ran and not set(off) & ran, sorted(ran)
