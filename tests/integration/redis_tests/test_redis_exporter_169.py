"""`flextime-exporter redis` beside today's redis_exporter 1.69 (Debian 13's) and Debian 12's 1.45, all
three on the same server at the same time: Redis 6.2, Redis 7.0 and Valkey 8.1, master and replica, and
a cluster node. Families, types, label names and HELP equal 1.69's (differences named in
compare169.py); 1.45's differences from 1.69 are named in test_exporter.py (ADDED_IN_169,
CHANGED_IN_169). The sentinel is in test_sentinel.py."""

from __future__ import annotations

import pytest

from conftest import newer_go_binary, samples, value

from .compare169 import compare_169
from .conftest import SERVER_FIXTURES, seed_keys, start_go_redis_exporter
from .test_exporter import (
    all_servers,
    as_exporter_user,
    collector_success,
    compare_families,
    get_ok,
    series,
    start_redis_exporter,
    types,
)
from .test_exporter_modes import cluster_redis  # noqa: F401  (a fixture)

__all__ = ["all_servers"]


def go169_binary() -> str:
    return newer_go_binary("prometheus-redis-exporter")


def scrape_all(*exporters) -> list[str]:
    """One scrape of each, twice, keeping the second: the errors a first scrape of one exporter causes
    (1.69's LATENCY HISTOGRAM on 6.2) are then in everyone's errorstats."""
    for exp in exporters:
        get_ok(exp)
    return [get_ok(exp) for exp in exporters]


def three_exporters(server, tmp, *args):
    """(ours, 1.69, 1.45) on ``server`` as its ``exporter`` ACL user, each with ``args``."""
    go169 = start_go_redis_exporter(server, tmp, *args, binary=go169_binary(), name="redis_exporter-1.69")
    go145 = start_go_redis_exporter(server, tmp, *args)
    ours = start_redis_exporter(tmp, f"--redis.addr=redis://{server.address}", *args, env=as_exporter_user(server))
    return ours, go169, go145


@pytest.mark.parametrize("role", ["master", "replica"])
@pytest.mark.parametrize("server_name", SERVER_FIXTURES)
def test_same_families_as_169_and_145_on_every_version(all_servers, server_name, role, tmp_path):
    server = all_servers[server_name if role == "master" else f"{server_name}-replica"]
    seed_keys(server if role == "master" else server.master)
    ours, go169, go145 = three_exporters(server, tmp_path)
    try:
        o, g169, g145 = scrape_all(ours, go169, go145)
    finally:
        for exp in (ours, go169, go145):
            exp.stop()
    assert value(o, "redis_up") == value(g169, "redis_up") == 1
    assert all(v == 1 for v in collector_success(o).values()), collector_success(o)
    problems = compare_169(o, g169)
    assert not problems, "\n".join(problems)
    problems = compare_families(o, g145)
    assert not problems, "\n".join(problems)
    # the families the issue names, where the server has the INFO field behind them
    modern = server.version_info >= (7,)
    for name in (
        "redis_exporter_build_info",
        "redis_config_client_output_buffer_limit_bytes",
        "redis_max_clients",
        *(
            (
                "redis_evicted_clients_total",
                "redis_mem_total_replication_buffers_bytes",
                "redis_memory_used_vm_functions_bytes",
                "redis_number_of_functions",
            )
            if modern
            else ()
        ),
    ):
        assert name in types(o) and name in types(g169), name
    # stable values agree with 1.69
    for name in ("redis_max_clients", "redis_config_maxclients", "redis_connected_slaves", "redis_hz"):
        assert value(o, name) == value(g169, name), name
    limits = {(d["class"], d["limit"]) for d in series(o, "redis_config_client_output_buffer_limit_bytes")}
    assert limits == {(d["class"], d["limit"]) for d in series(g169, "redis_config_client_output_buffer_limit_bytes")}
    assert ("replica" in {c for c, _ in limits}) or ("slave" in {c for c, _ in limits})
    for labels in series(o, "redis_config_client_output_buffer_limit_bytes"):
        assert value(o, "redis_config_client_output_buffer_limit_bytes", **labels) == value(
            g169, "redis_config_client_output_buffer_limit_bytes", **labels
        )
    assert series(o, "redis_instance_info") == series(g169, "redis_instance_info")


def test_same_families_as_169_on_a_cluster_node(cluster_redis, tmp_path):  # noqa: F811
    ours, go169, go145 = three_exporters(cluster_redis, tmp_path)
    try:
        o, g169, _ = scrape_all(ours, go169, go145)
    finally:
        for exp in (ours, go169, go145):
            exp.stop()
    assert value(o, "redis_cluster_enabled") == value(g169, "redis_cluster_enabled") == 1
    problems = compare_169(o, g169)
    assert not problems, "\n".join(problems)
    assert {k for k in samples(o) if k[0] == "redis_db_keys"} == {k for k in samples(g169) if k[0] == "redis_db_keys"}


@pytest.mark.parametrize("server_name", ["redis7", "valkey81"])
def test_optional_families_as_169(all_servers, server_name, tmp_path):
    """The families behind 1.69's switches, beside 1.69 with the same switches (1.45 lacks
    -include-modules-metrics): all settings, ping time, system memory, modules (none loaded: no series
    on either side)."""
    server = all_servers[server_name]
    flags = ("-include-config-metrics", "-ping-on-connect", "-include-system-metrics", "-include-modules-metrics")
    go169 = start_go_redis_exporter(server, tmp_path, *flags, binary=go169_binary(), name="redis_exporter-1.69")
    ours = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{server.address}", *flags, env=as_exporter_user(server)
    )
    try:
        o, g169 = scrape_all(ours, go169)
    finally:
        for exp in (ours, go169):
            exp.stop()
    problems = compare_169(o, g169)
    assert not problems, "\n".join(problems)
    for name in (
        "redis_config_key_value",
        "redis_config_value",
        "redis_exporter_last_scrape_ping_time_seconds",
        "redis_total_system_memory_bytes",
    ):
        assert name in types(o), name
    ours_settings = {d["key"]: d["value"] for d in series(o, "redis_config_key_value")}
    go_settings = {d["key"]: d["value"] for d in series(g169, "redis_config_key_value")}
    # the same settings, but for the password ones (1.69 redacts requirepass, masterauth and the TLS key
    # passphrases too; ours also any other *pass / *auth setting, such as Valkey's primaryauth)
    assert set(go_settings) - set(ours_settings) <= {"primaryauth"}, set(go_settings) ^ set(ours_settings)
    assert ours_settings == {k: v for k, v in go_settings.items() if k in ours_settings}
    assert value(o, "redis_total_system_memory_bytes") == value(g169, "redis_total_system_memory_bytes")
    assert server.password not in o and server.exporter_password not in o
