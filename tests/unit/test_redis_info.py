"""exporters/redis/info.py on the INFO captured from Redis 6.2, Redis 7.0 and Valkey 8.1 (master and
replica each, tests/data/redis/): the families redis_exporter 1.69 derives from INFO, with its names,
types, label names and HELP (compared with 1.45's own /metrics on redis7, captured, and every difference
1.69 made named below; the integration tests compare with a running 1.69), and values read back from
the INFO text. Plus a property-based test that no input makes the parser or the builder raise."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.core.metrics import COUNTER, GAUGE, SUMMARY, render_openmetrics, render_text
from exporters.core.textparse import parse_text
from exporters.redis import info as contract
from exporters.redis.info import cluster_enabled, info_families, parse_info

DATA = Path(__file__).resolve().parent.parent / "data" / "redis"
SERVERS = ("redis62", "redis7", "valkey81")
ROLES = ("master", "replica")
CAPTURES = [f"{s}-{r}" for s in SERVERS for r in ROLES]
VERSIONS = {"redis62": "6.2.5", "redis7": "7.0.15", "valkey81": "7.2.4"}

# Go families that do not come from INFO (the session's and the other commands' part).
NOT_FROM_INFO = re.compile(
    r"^(go_|process_|redis_up$|redis_exporter_|redis_target_scrape_request_errors_total$"
    r"|redis_config_|redis_slowlog_|redis_last_slow_execution_duration_seconds$"
    r"|redis_last_key_groups_scrape_duration_milliseconds$)"
)
LABEL = re.compile(r'(\w+)="')

# INFO fields of the captured Redis 7.0 that 1.69 exports and 1.45 dropped (exporter.go's maps, info.go's hz)
ADDED_IN_169 = {
    "redis_async_loading",
    "redis_configured_hz",
    "redis_current_eviction_exceeded_time_ms",
    "redis_evicted_clients_total",
    "redis_eviction_exceeded_time_ms_total",
    "redis_expire_cycle_cpu_time_ms_total",
    "redis_hz",
    "redis_max_clients",
    "redis_mem_total_replication_buffers_bytes",
    "redis_memory_used_functions_bytes",
    "redis_memory_used_scripts_eval_bytes",
    "redis_memory_used_vm_eval_bytes",
    "redis_memory_used_vm_functions_bytes",
    "redis_memory_used_vm_total",
    "redis_net_repl_input_bytes_total",
    "redis_net_repl_output_bytes_total",
    "redis_number_of_functions",
    "redis_number_of_libraries",
    "redis_pubsubshard_channels",
    "redis_rdb_last_load_expired_keys",
    "redis_rdb_last_load_loaded_keys",
    "redis_rdb_saves_total",
    "redis_reply_buffer_expands_total",
    "redis_reply_buffer_shrinks_total",
}
# Families whose shape 1.69 changed: (name, 1.45's shape -> 1.69's), applied to the 1.45 capture
CHANGED_IN_169 = {
    "redis_instance_info": lambda t, h, labels: (t, h, labels | {"master_replid"}),  # label added
    "redis_expired_time_cap_reached_total": lambda t, h, labels: (COUNTER, h, labels),  # was a gauge
}


def as_169(shapes: dict) -> dict:
    return {n: CHANGED_IN_169[n](*v) if n in CHANGED_IN_169 else v for n, v in shapes.items()}


def raw(capture: str, kind: str = "info") -> str:
    return (DATA / f"{capture}-{kind}.txt").read_bytes().decode()


def families(capture: str, kind: str = "info", **kw) -> dict:
    return {f.name: f for f in info_families(parse_info(raw(capture, kind)), **kw)}


def samples(fam) -> dict[tuple, float]:
    """{(sample name, ((label, value), ...)): value} of one family."""
    return {(n, tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', b))): v for n, b, v in fam.samples}


def value(fams: dict, name: str, **labels) -> float:
    """The value of the sample ``name`` with exactly these labels."""
    want = tuple(sorted(labels.items()))
    matches = [v for (n, ls), v in samples(fams[name]).items() if n == name and tuple(sorted(ls)) == want]
    assert len(matches) == 1, (name, labels, samples(fams[name]))
    return matches[0]


def shape(fams) -> dict[str, tuple[str, str, frozenset]]:
    """name -> (type, HELP, label names) as a scrape shows them (quantile is the summary's own)."""
    out = {}
    for fam in fams:
        names = {m for n, b, _ in fam.samples for m in LABEL.findall(b)} - {"quantile"}
        out[fam.name] = (fam.type, fam.help, frozenset(names))
    return out


def info_field(capture: str, section: str, field: str) -> str:
    return parse_info(raw(capture))[section][field]


# ---- parse_info -------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_parse_info_reads_crlf_and_lf_alike(capture):
    text = raw(capture)
    assert "\r\n" in text  # captured as on the wire
    parsed = parse_info(text)
    assert parsed == parse_info(text.replace("\r\n", "\n"))
    assert parse_info(text.encode()) == parsed
    assert {"server", "clients", "memory", "replication", "cpu", "keyspace"} <= set(parsed)
    assert parsed["server"]["redis_version"] == VERSIONS[capture.split("-")[0]]
    assert parsed["server"]["os"].startswith("Linux ")  # the value keeps its spaces
    assert parsed["keyspace"]["db0"].startswith("keys=22,expires=5,avg_ttl=")
    assert all(not v.endswith("\r") for s in parsed.values() for v in s.values())


def test_parse_info_edge_cases():
    assert parse_info("") == {}
    assert parse_info("no colon here\r\n#\r\n:\r\n") == {}
    text = "loose:1\n# Server\nexecutable:/usr/bin/redis-server:x\n\n# KEYSPACE\ndb0:keys=1,expires=0\n"
    assert parse_info(text) == {
        "": {"loose": "1"},
        "server": {"executable": "/usr/bin/redis-server:x"},
        "keyspace": {"db0": "keys=1,expires=0"},
    }


# ---- the families against Go's own /metrics ---------------------------------------------------------


@pytest.mark.parametrize(
    "capture,prom",
    [("redis7-master", "redis_exporter-redis7.prom"), ("redis7-replica", "redis_exporter-redis7-replica.prom")],
)
def test_same_families_as_go(capture, prom):
    go = as_169({n: s for n, s in shape(parse_text((DATA / prom).read_text())).items() if not NOT_FROM_INFO.match(n)})
    ours = shape(parse_text(render_text(info_families(parse_info(raw(capture))))))
    assert set(ours) - ADDED_IN_169 == set(go)
    assert ADDED_IN_169 <= set(ours)
    for name in go:
        assert ours[name] == go[name], name


def test_every_info_family_of_the_reference_list_is_produced():
    """families.txt (shared/reference, its redis lines copied into tests/data/redis) is the union
    of Go's master and replica scrapes on redis7."""
    lines = DATA / "redis_exporter.families.txt"  # the redis lines of shared/reference/go-exporters/
    ref = {}
    for line in lines.read_text().splitlines():
        if line and not line.startswith("#"):
            name, typ, *labels = line.split()
            ref[name] = (typ, frozenset(labels[0].split(",")) if labels else frozenset())
    ours = {}
    for capture in ("redis7-master", "redis7-replica"):
        for name, (typ, _, labels) in shape(info_families(parse_info(raw(capture)))).items():
            ours[name] = (typ, labels)
    expected = {n: v for n, v in ref.items() if not NOT_FROM_INFO.match(n)}
    expected["redis_instance_info"] = ("gauge", expected["redis_instance_info"][1] | {"master_replid"})
    expected["redis_expired_time_cap_reached_total"] = ("counter", frozenset())
    # redis_errors_total is missing from the list: its servers had answered no command with an error
    # (it is in redis_exporter-redis7.prom, checked above)
    assert {n: v for n, v in ours.items() if n != "redis_errors_total" and n not in ADDED_IN_169} == expected


# ---- values read back from the INFO text ------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_values_match_the_info_text(capture):
    fams = families(capture)
    info = parse_info(raw(capture))
    assert value(fams, "redis_connected_clients") == float(info["clients"]["connected_clients"])
    assert value(fams, "redis_memory_used_bytes") == float(info["memory"]["used_memory"])
    assert value(fams, "redis_memory_max_bytes") == 0
    assert value(fams, "redis_uptime_in_seconds") == float(info["server"]["uptime_in_seconds"])
    assert value(fams, "redis_cpu_sys_seconds_total") == float(info["cpu"]["used_cpu_sys"])
    assert value(fams, "redis_latest_fork_seconds") == pytest.approx(float(info["stats"]["latest_fork_usec"]) / 1e6)
    assert value(fams, "redis_rdb_last_bgsave_status") == 1  # "ok"
    assert value(fams, "redis_aof_last_write_status") == 1

    # the known key set (tests/data/redis/README.md), every other db of 16 at 0
    keys = {f"db{i}": 0 for i in range(16)} | {"db0": 22, "db1": 3, "db5": 2}
    expiring = {f"db{i}": 0 for i in range(16)} | {"db0": 5, "db5": 1}
    assert {dict(ls)["db"]: v for (_, ls), v in samples(fams["redis_db_keys"]).items()} == keys
    assert {dict(ls)["db"]: v for (_, ls), v in samples(fams["redis_db_keys_expiring"]).items()} == expiring
    ttl = {dict(ls)["db"]: v for (_, ls), v in samples(fams["redis_db_avg_ttl_seconds"]).items()}
    assert set(ttl) == {"db0", "db1", "db5"}  # as Go: no avg TTL for the padded empty dbs
    assert ttl["db0"] == int(info["keyspace"]["db0"].rsplit("=", 1)[1]) / 1000

    stat = dict(p.split("=") for p in info["commandstats"]["cmdstat_set"].split(","))
    assert value(fams, "redis_commands_total", cmd="set") == float(stat["calls"])
    assert value(fams, "redis_commands_duration_seconds_total", cmd="set") == float(stat["usec"]) / 1e6
    assert value(fams, "redis_commands_rejected_calls_total", cmd="set") == float(stat["rejected_calls"])
    assert value(fams, "redis_commands_failed_calls_total", cmd="set") == float(stat["failed_calls"])
    cmds = {k[len("cmdstat_") :] for k in info["commandstats"]}
    assert {dict(ls)["cmd"] for (_, ls) in samples(fams["redis_commands_total"])} == cmds

    [(_, labels)] = samples(fams["redis_instance_info"])
    labels = dict(labels)
    assert labels["redis_version"] == VERSIONS[capture.split("-")[0]]
    assert labels["role"] == ("master" if capture.endswith("master") else "slave")
    assert labels["process_id"] == info["server"]["process_id"]
    assert labels["tcp_port"] == info["server"]["tcp_port"]
    assert labels["maxmemory_policy"] == "noeviction"
    # 1.45 reads redis_mode only; Valkey names it server_mode, so the label is empty there, as in Go
    assert labels["redis_mode"] == ("" if capture.startswith("valkey") else "standalone")


@pytest.mark.parametrize("server", SERVERS)
def test_master_side(server):
    fams = families(f"{server}-master")
    slave = dict(p.split("=") for p in info_field(f"{server}-master", "replication", "slave0").split(","))
    labels = {"slave_ip": "127.0.0.1", "slave_port": slave["port"], "slave_state": "online"}
    assert value(fams, "redis_connected_slave_offset_bytes", **labels) == float(slave["offset"])
    assert value(fams, "redis_connected_slave_lag_seconds", **labels) == float(slave["lag"])
    assert value(fams, "redis_connected_slaves") == 1
    assert value(fams, "redis_errors_total", err="WRONGTYPE") == 1
    assert value(fams, "redis_commands_failed_calls_total", cmd="llen") == 1  # the WRONGTYPE LLEN
    for name in ("redis_slave_info", "redis_master_link_up", "redis_slave_repl_offset", "redis_slave_priority"):
        assert name not in fams


@pytest.mark.parametrize("server", SERVERS)
def test_replica_side(server):
    capture = f"{server}-replica"
    fams = families(capture)
    master = {"master_host": "127.0.0.1", "master_port": info_field(capture, "replication", "master_port")}
    assert value(fams, "redis_slave_info", **master, read_only="1") == 1
    assert value(fams, "redis_master_link_up", **master) == 1
    assert value(fams, "redis_master_sync_in_progress", **master) == 0
    assert value(fams, "redis_master_last_io_seconds_ago", **master) == 0
    assert value(fams, "redis_slave_repl_offset", **master) == float(
        info_field(capture, "replication", "slave_repl_offset")
    )
    assert value(fams, "redis_slave_priority") == 100
    assert value(fams, "redis_connected_slaves") == 0
    assert "redis_connected_slave_offset_bytes" not in fams
    assert "redis_errors_total" not in fams  # nothing failed on the replicas


@pytest.mark.parametrize("server", SERVERS)
def test_version_dependent_families(server):
    fams = families(f"{server}-master")
    has_latencystats = server != "redis62"  # Latencystats is Redis 7+
    assert ("redis_latency_percentiles_usec" in fams) == has_latencystats
    if has_latencystats:
        lat = fams["redis_latency_percentiles_usec"]
        assert lat.type == SUMMARY
        info = parse_info(raw(f"{server}-master"))
        p = dict(x.split("=") for x in info["latencystats"]["latency_percentiles_usec_set"].split(","))
        stat = dict(x.split("=") for x in info["commandstats"]["cmdstat_set"].split(","))
        assert value(fams, "redis_latency_percentiles_usec", cmd="set", quantile="99.9") == float(p["p99.9"])
        assert value(fams, "redis_latency_percentiles_usec", cmd="set", quantile="50") == float(p["p50"])
        assert ("redis_latency_percentiles_usec_sum", (("cmd", "set"),)) in samples(lat)
        assert samples(lat)[("redis_latency_percentiles_usec_sum", (("cmd", "set"),))] == float(stat["usec"])
        assert samples(lat)[("redis_latency_percentiles_usec_count", (("cmd", "set"),))] == float(stat["calls"])
    # fields 1.69 does not know are dropped, numeric or not
    for gone in (
        "redis_maxclients",
        "redis_used_memory_human",
        "redis_mem_replication_backlog",
        "redis_total_system_memory_bytes",
        "redis_lazyfreed_objects",
    ):
        assert gone not in fams
    # fields 1.69 reads (1.45 did not) where the server has them
    info = parse_info(raw(f"{server}-master"))
    assert value(fams, "redis_max_clients") == float(info["clients"]["maxclients"])
    assert value(fams, "redis_hz") == float(info["server"]["hz"])
    if "rdb_saves" in info["persistence"]:  # Redis 7+
        assert value(fams, "redis_rdb_saves_total") == float(info["persistence"]["rdb_saves"])
    assert ("redis_evicted_clients_total" in fams) == ("evicted_clients" in info["stats"])
    assert ("redis_number_of_functions" in fams) == ("number_of_functions" in info["memory"])
    if server != "redis62":  # Redis 7.0 and Valkey 8.1
        assert value(fams, "redis_evicted_clients_total") == float(info["stats"]["evicted_clients"])
        assert value(fams, "redis_mem_total_replication_buffers_bytes") == float(
            info["memory"]["mem_total_replication_buffers"]
        )
    # rejected/failed calls and the main-thread CPU exist since 6.2, so on all three
    assert "redis_commands_rejected_calls_total" in fams and "redis_cpu_user_main_thread_seconds_total" in fams


@pytest.mark.parametrize("capture", CAPTURES)
def test_plain_info_fallback_has_no_commandstats(capture):
    """Plain INFO (redis_exporter's fallback when INFO ALL fails) lacks Commandstats and Latencystats."""
    fams = families(capture, "info-default")
    assert "redis_commands_total" not in fams and "redis_latency_percentiles_usec" not in fams
    assert value(fams, "redis_db_keys", db="db0") == 22


def test_types_and_quirky_names_as_go():
    fams = families("redis7-master")
    for name in (
        "redis_total_error_replies",
        "redis_total_reads_processed",
        "redis_io_threaded_reads_processed",
        "redis_dump_payload_sanitizations",
        "redis_unexpected_error_replies",
    ):
        assert fams[name].type == COUNTER and not name.endswith("_total")  # counters without _total
    for name in ("redis_migrate_cached_sockets_total", "redis_rdb_saves_total"):
        assert fams[name].type == GAUGE  # gauges with _total, as 1.69 has them
    assert fams["redis_expired_time_cap_reached_total"].type == COUNTER  # 1.69 (1.45: a gauge)
    assert fams["redis_memory_used_bytes"].help == "memory_used_bytes metric"


def test_start_time_is_now_minus_uptime_in_whole_seconds():
    fams = {f.name: f for f in info_families(parse_info("# Server\r\nuptime_in_seconds:100\r\n"), now=1000.9)}
    assert value(fams, "redis_start_time_seconds") == 900
    assert value(fams, "redis_uptime_in_seconds") == 100


def test_system_metrics_only_when_asked():
    total = float(info_field("redis7-master", "memory", "total_system_memory"))
    assert "redis_total_system_memory_bytes" not in families("redis7-master")
    fams = families("redis7-master", include_system_metrics=True)
    assert value(fams, "redis_total_system_memory_bytes") == total


def test_database_padding():
    assert len(families("redis7-master", databases=0)["redis_db_keys"].samples) == 3
    assert len(families("redis7-master", databases=32)["redis_db_keys"].samples) == 32
    fams = {f.name: f for f in info_families(parse_info("# Keyspace\ndb20:keys=7,expires=0,avg_ttl=0\n"), databases=2)}
    assert {dict(ls)["db"] for (_, ls) in samples(fams["redis_db_keys"])} == {"db0", "db1", "db20"}


def test_cluster_info():
    info = parse_info(
        "# Server\nredis_mode:cluster\n# Cluster\ncluster_enabled:1\n# Keyspace\ndb0:keys=1,expires=0,avg_ttl=0\n"
    )
    assert cluster_enabled(info) and not cluster_enabled(parse_info(raw("redis7-master")))
    cluster = (
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_pfail:0\r\ncluster_known_nodes:6\r\n"
        "cluster_stats_messages_sent:10\r\ncluster_stats_messages_ping_sent:4\r\n"
        "total_cluster_links_buffer_limit_exceeded:0\r\n"
    )
    fams = {f.name: f for f in info_families(info, cluster_info=cluster)}
    assert value(fams, "redis_cluster_state") == 1
    assert value(fams, "redis_cluster_enabled") == 1
    assert value(fams, "redis_cluster_slots_assigned") == 16384
    assert value(fams, "redis_cluster_messages_sent_total") == 10
    assert fams["redis_cluster_messages_sent_total"].type == GAUGE  # a gauge despite _total
    assert value(fams, "redis_cluster_stats_messages_ping_sent") == 4  # any cluster_* field, by prefix
    assert "redis_total_cluster_links_buffer_limit_exceeded" not in fams
    assert len(fams["redis_db_keys"].samples) == 1  # in cluster mode Go pads db0 only
    assert not any(f.name.startswith("redis_cluster_state") for f in info_families(info))  # no CLUSTER INFO given


def test_plain_field_rules():
    text = (
        "# Persistence\r\nrdb_last_bgsave_status:err\r\naof_last_bgrewrite_status:ok\r\n"
        "# Stats\r\nflextime_unknown_numeric:42\r\ninstantaneous_ops_per_sec:9\r\ndbfoo:3\r\ncmdstat_x|y:4\r\n"
        "cluster_custom:5\r\nused_memory:abc\r\nexpired_keys:7\r\nlatest_fork_usec:1500\r\n"
        "# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_BAD:count=x\r\n"
    )
    fams = {f.name: f for f in info_families(parse_info(text), databases=0)}
    assert value(fams, "redis_rdb_last_bgsave_status") == 0
    assert value(fams, "redis_aof_last_bgrewrite_status") == 1
    assert "redis_flextime_unknown_numeric" not in fams and "redis_instantaneous_ops_per_sec" not in fams
    # db*, cmdstat_* and cluster_* fields are exported by prefix alone, sanitized
    assert value(fams, "redis_dbfoo") == 3 and value(fams, "redis_cmdstat_x_y") == 4
    assert value(fams, "redis_cluster_custom") == 5
    assert "redis_memory_used_bytes" not in fams  # unparsable: left out (1.45 would say 0)
    assert value(fams, "redis_expired_keys_total") == 7 and fams["redis_expired_keys_total"].type == COUNTER
    assert value(fams, "redis_latest_fork_seconds") == 0.0015
    assert value(fams, "redis_errors_total", err="ERR") == 3 and len(fams["redis_errors_total"].samples) == 1


def test_families_are_fresh_each_call():
    info = parse_info(raw("redis7-master"))
    first, second = info_families(info), info_families(info)
    assert not {id(f) for f in first} & {id(f) for f in second}
    assert [len(f.samples) for f in first] == [len(f.samples) for f in second]


def test_the_tables():
    assert not set(contract.GAUGES) & set(contract.COUNTERS)
    names = [d.name for d in contract.METRICS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"redis_[a-z0-9_]+", n) for n in names)
    assert contract.GAUGES["used_memory"] == "memory_used_bytes"
    assert contract.GAUGES["maxmemory"] == "memory_max_bytes"
    assert contract.GAUGES["uptime_in_seconds"] == "uptime_in_seconds"


def test_renders_in_both_formats():
    fams = info_families(parse_info(raw("redis7-master")))
    text = render_text(fams)
    assert 'redis_latency_percentiles_usec{cmd="set",quantile="99.9"}' in text
    om = render_openmetrics(fams)
    assert om.endswith("# EOF\n") and "# TYPE redis_latency_percentiles_usec summary" in om


# ---- never raises -----------------------------------------------------------------------------------

CAPTURED = [raw(c) for c in CAPTURES] + [raw(c, "info-default") for c in CAPTURES]
LINEISH = st.text(
    alphabet=st.sampled_from(list("#:=,.-_|\r\n 0123456789abcdeflkpsyxo") + ["\x00", "é", "\u2028"]), max_size=40
)


@st.composite
def mutated_info(draw):
    """A captured INFO with slices deleted, junk inserted, lines duplicated, swapped or cut short."""
    lines = draw(st.sampled_from(CAPTURED)).split("\r\n")
    for _ in range(draw(st.integers(0, 8))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(("delete", "insert", "duplicate", "truncate", "replace_value", "swap")))
        if op == "delete":
            del lines[i]
        elif op == "insert":
            lines.insert(i, draw(LINEISH))
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "replace_value":
            lines[i] = lines[i].split(":", 1)[0] + ":" + draw(LINEISH)
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return draw(st.sampled_from(("\r\n", "\n"))).join(lines)


def _check_never_raises(text: str, databases: int = 16, cluster: str | None = None) -> None:
    info = parse_info(text)
    assert all(isinstance(k, str) and isinstance(v, dict) for k, v in info.items())
    assert all(isinstance(f, str) and isinstance(v, str) for s in info.values() for f, v in s.items())
    fams = info_families(info, databases=databases, include_system_metrics=True, cluster_info=cluster)
    for fam in fams:
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", fam.name)
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, _, v in fam.samples)
    render_text(fams)
    render_openmetrics(fams)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_never_raises(text):
    _check_never_raises(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_info(), st.integers(-3, 40), st.one_of(st.none(), LINEISH))
def test_mutated_captures_never_raise(text, databases, cluster):
    _check_never_raises(text, databases, cluster)


def test_non_finite_values_pass_through_as_go():
    fams = {f.name: f for f in info_families(parse_info("# Clients\nconnected_clients:inf\nblocked_clients:NaN\n"))}
    assert value(fams, "redis_connected_clients") == math.inf
    assert math.isnan(value(fams, "redis_blocked_clients"))


def test_config_captures_agree_with_the_default_padding():
    """The captured servers run with 16 databases, which is also the default when CONFIG is unavailable."""
    for server in SERVERS:
        assert json.loads((DATA / f"{server}-master-config.json").read_text())["databases"] == "16"
