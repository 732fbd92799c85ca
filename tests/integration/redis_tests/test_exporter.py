"""`flextime-exporter redis` beside Debian's redis_exporter 1.45, on the same servers in the same
test, and on every server version of the fixtures (Redis 6.2, Redis 7.0, Valkey 8.1; masters and
replicas).

This module also holds the helpers the other test_exporter_*.py modules import: starting our
exporter with a clean environment, reading families with their exact names and types, and a
fake Redis (a loopback listener that counts connections, records what it receives and never
answers)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import samples, start_exporter, value

from .conftest import SEED_COUNTS, SERVER_FIXTURES, RedisServer, seed_keys, start_go_redis_exporter

# The collectors `flextime-exporter redis` runs by default, whatever else registers itself.
CORE_COLLECTORS = {"info", "config", "slowlog", "latency"}

# The classes redis_exporter_last_scrape_error{err} may hold (session.error_class): bounded, no raw text.
ERROR_CLASSES = {"", "connection failed", "authentication failed", "no permission", "timeout", "loading", "error"}


# ---- helpers shared by the test_exporter_*.py modules ------------------------------------------


def start_redis_exporter(tmp_path: Path, *args: str, env: dict | None = None, **kw):
    """Our exporter (``flextime-exporter redis``) on a free loopback port. Variables of the test
    runner's environment that the exporter reads (REDIS_*, FLEXTIME_REDIS_*) are blanked (an
    empty variable counts as unset), so only ``args`` and ``env`` configure it. Passwords go in
    ``env`` or a file, never in ``args``."""
    blank = {k: "" for k in os.environ if k.startswith(("REDIS", "FLEXTIME_REDIS"))}
    return start_exporter(tmp_path, *args, exporter="redis", env={**blank, **(env or {})}, **kw)


def as_exporter_user(server: RedisServer) -> dict:
    """Environment that logs in as the fixture's ``exporter`` ACL user (redis_exporter's variables)."""
    return {"REDIS_USER": server.exporter_user, "REDIS_PASSWORD": server.exporter_password}


def write_password_file(path: Path, entries: dict[str, str]) -> str:
    """redis_exporter's --redis.password-file: a JSON object of URI -> password (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f)
    return str(path)


def scrape_path(target: str, **extra) -> str:
    return "/scrape?" + urllib.parse.urlencode({"target": target, **extra})


def get_ok(exp, path: str = "/metrics", timeout_header: float | None = None) -> str:
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(timeout_header)} if timeout_header else None
    resp = exp.get(path, headers=headers)
    assert resp.status == 200, f"{path}: HTTP {resp.status}: {resp.text[:300]}"
    return resp.text


def types(text: str) -> dict[str, str]:
    """{family name as exposed (with _total): type} from the # TYPE lines: exact names and types,
    which prometheus_client's parser would blur (it strips _total from counters)."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def helps(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.M))


def label_names(text: str) -> dict[str, tuple[str, ...]]:
    """{family name as exposed: sorted label names of its samples, without le/quantile}."""
    names = types(text)
    out: dict[str, set] = {n: set() for n in names}
    for sample, labels in samples(text):
        family = (
            sample
            if sample in names
            else next(
                (
                    sample[: -len(s)]
                    for s in ("_bucket", "_sum", "_count", "_total")
                    if sample.endswith(s) and sample[: -len(s)] in names
                ),
                None,
            )
        )
        if family is None and sample + "_total" in names:
            family = sample + "_total"
        if family is None:  # prometheus_client names a counter's samples with _total: already in names
            continue
        out[family] |= {k for k, _ in labels if k not in ("le", "quantile")}
    return {n: tuple(sorted(v)) for n, v in out.items()}


def collector_success(text: str) -> dict[str, float]:
    return {
        dict(labels)["collector"]: v
        for (name, labels), v in samples(text).items()
        if name == "redis_scrape_collector_success"
    }


def series(text: str, name: str) -> list[dict]:
    """The label sets of the samples called ``name``."""
    return [dict(labels) for (n, labels) in samples(text) if n == name]


def last_error(text: str) -> tuple[str, float]:
    (err,) = series(text, "redis_exporter_last_scrape_error")
    return err["err"], value(text, "redis_exporter_last_scrape_error")


class FakeRedis:
    """A TCP listener on 127.0.0.1 that accepts connections, counts them, records every byte it
    receives and never answers: a server that "accepts TCP and never answers", a proof that a
    refused /scrape never connects, and a witness of what the exporter would send to a host."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = bytearray()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                pass
            else:
                conn.setblocking(False)
                with self._lock:
                    self.accepted += 1
                    self._conns.append(conn)
            for conn in list(self._conns):
                try:
                    data = conn.recv(65536)
                except (BlockingIOError, OSError):
                    continue
                if data:
                    with self._lock:
                        self.received += data

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def fake_redis():
    fake = FakeRedis()
    yield fake
    fake.close()


def family_table(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{family: (type, label names)} of an exposition."""
    labels = label_names(text)
    return {n: (t, labels.get(n, ())) for n, t in types(text).items()}


# ---- 1. compatibility with Debian's redis_exporter 1.45 ----------------------------------------

# Families only one side has, by design (everything else both must expose identically).
GO_ONLY = {
    "redis_last_key_groups_scrape_duration_milliseconds": "key groups (--check-key-groups) are not implemented",
}
GO_ONLY_PREFIXES = ("go_", "process_")  # Go runtime and process metrics: ours has its own process_*
OURS_ONLY = {
    "flextime_exporter_build_info": "the fleet's build info (beside redis_exporter_build_info)",
    "flextime_exporter_series_dropped_total": "the shared runtime's duplicate-sample counter",
    "promhttp_metric_handler_requests_total": "the shared runtime's handler metrics (1.45 has none)",
    "promhttp_metric_handler_requests_in_flight": "the shared runtime's handler metrics (1.45 has none)",
    "redis_scrape_collector_success": "the shared runtime's per-collector status",
    "redis_scrape_collector_duration_seconds": "the shared runtime's per-collector status",
    "redis_commands_latencies_usec": "LATENCY HISTOGRAM, added by redis_exporter after 1.45 (same name)",
}
OURS_ONLY_PREFIXES = ("process_",)

# Where ours follows 1.69 and 1.45 differs (docs/redis.md, "redis_exporter 1.45 and 1.69"): families 1.69
# added (from INFO fields 1.45 dropped, CONFIG's client-output-buffer-limit, hz) ...
ADDED_IN_169_PREFIXES = ("redis_config_client_output_buffer_limit_", "redis_sentinel_master_setting_")
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
    "redis_client_output_buffer_limit_disconnections_total",
    "redis_client_query_buffer_limit_disconnections_total",
    "redis_acl_access_denied_auth_total",
    "redis_acl_access_denied_cmd_total",
    "redis_acl_access_denied_key_total",
    "redis_acl_access_denied_channel_total",
    "redis_expired_subkeys_total",
    "redis_evicted_scripts_total",
    "redis_pubsub_clients",
    "redis_watching_clients",
    "redis_total_watched_keys",
    "redis_total_blocking_keys",
    "redis_total_blocking_keys_on_nokey",
    "redis_mem_overhead_db_hashtable_rehashing_bytes",
}
# ... and families whose shape 1.69 changed: name -> (1.45's (type, labels) -> 1.69's)
CHANGED_IN_169 = {
    "redis_instance_info": lambda t, labels: (t, tuple(sorted((*labels, "master_replid")))),  # label added
    "redis_expired_time_cap_reached_total": lambda t, labels: ("counter", labels),  # a gauge in 1.45
}


def without_replid(text: str) -> list[dict]:
    """redis_instance_info's labels without master_replid (1.69 added it; 1.45 has none)."""
    return [{k: v for k, v in labels.items() if k != "master_replid"} for labels in series(text, "redis_instance_info")]


def compare_families(ours: str, go: str, go_version: str = "1.45") -> list[str]:
    """The differences between two expositions of the same server, as readable lines: ours against
    Debian 12's 1.45 (its differences from 1.69, which ours follows, named above)."""
    o, g = family_table(ours), family_table(go)
    if go_version == "1.45":
        g = {n: CHANGED_IN_169[n](*v) if n in CHANGED_IN_169 else v for n, v in g.items()}
        o = {n: v for n, v in o.items() if n not in ADDED_IN_169 and not n.startswith(ADDED_IN_169_PREFIXES)}
    oh, gh = helps(ours), helps(go)
    problems = []
    for name in sorted(set(g) - set(o)):
        if name not in GO_ONLY and not name.startswith(GO_ONLY_PREFIXES):
            problems.append(f"only Go has {name} {g[name]}")
    for name in sorted(set(o) - set(g)):
        if name not in OURS_ONLY and not name.startswith(OURS_ONLY_PREFIXES):
            problems.append(f"only ours has {name} {o[name]}")
    for name in sorted(set(o) & set(g)):
        if name.startswith("process_"):
            continue
        if o[name] != g[name]:
            problems.append(f"{name}: ours {o[name]} != Go {g[name]}")
        if oh.get(name) != gh.get(name):
            problems.append(f"{name}: HELP {oh.get(name)!r} != Go {gh.get(name)!r}")
    return problems


@pytest.fixture(scope="module")
def ours_redis7(redis7, tmp_path_factory):
    """Our exporter on the redis7 master as the ``exporter`` ACL user, as go_redis_exporter is."""
    exp = start_redis_exporter(
        tmp_path_factory.mktemp("ours-redis7"), f"--redis.addr=redis://{redis7.address}", env=as_exporter_user(redis7)
    )
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def replica_pair(redis7_replica, tmp_path_factory):
    """Ours and Debian's redis_exporter on the redis7 replica."""
    tmp = tmp_path_factory.mktemp("replica-pair")
    go = start_go_redis_exporter(redis7_replica, tmp)
    ours = start_redis_exporter(
        tmp, f"--redis.addr=redis://{redis7_replica.address}", env=as_exporter_user(redis7_replica)
    )
    yield ours, go
    ours.stop()
    go.stop()


def test_same_families_as_redis_exporter_on_a_master(ours_redis7, go_redis_exporter, redis7):
    seed_keys(redis7)
    ours, go = get_ok(ours_redis7), go_redis_exporter.metrics()
    shared = set(types(ours)) & set(types(go))
    assert len(shared) > 90, sorted(shared)
    for family in (
        "redis_up",
        "redis_instance_info",
        "redis_db_keys",
        "redis_commands_total",
        "redis_commands_duration_seconds_total",
        "redis_connected_slave_offset_bytes",
        "redis_config_maxclients",
        "redis_slowlog_length",
        "redis_exporter_last_scrape_error",
        "redis_latency_percentiles_usec",
    ):
        assert family in shared, family
    problems = compare_families(ours, go)
    assert not problems, "\n".join(problems)


def test_same_families_as_redis_exporter_on_a_replica(replica_pair):
    ours, go = replica_pair
    o, g = get_ok(ours), go.metrics()
    for family in (
        "redis_master_link_up",
        "redis_slave_info",
        "redis_master_last_io_seconds_ago",
        "redis_slave_repl_offset",
        "redis_master_sync_in_progress",
    ):
        assert family in types(o) and family in types(g), family
    problems = compare_families(o, g)
    assert not problems, "\n".join(problems)


def test_stable_values_agree_on_a_master(ours_redis7, go_redis_exporter, redis7):
    seed_keys(redis7)
    ours, go = get_ok(ours_redis7), go_redis_exporter.metrics()
    assert value(ours, "redis_up") == value(go, "redis_up") == 1
    for db, (keys, expiring) in SEED_COUNTS.items():
        assert value(ours, "redis_db_keys", db=f"db{db}") == value(go, "redis_db_keys", db=f"db{db}") == keys
        assert value(ours, "redis_db_keys_expiring", db=f"db{db}") == expiring
        assert value(go, "redis_db_keys_expiring", db=f"db{db}") == expiring
    # every database, the empty ones as 0, as Go pads them
    assert {d["db"]: value(ours, "redis_db_keys", **d) for d in series(ours, "redis_db_keys")} == {
        d["db"]: value(go, "redis_db_keys", **d) for d in series(go, "redis_db_keys")
    }
    for name in (
        "redis_memory_max_bytes",
        "redis_connected_slaves",
        "redis_config_maxclients",
        "redis_config_maxmemory",
        "redis_config_io_threads",
        "redis_aof_enabled",
    ):
        assert value(ours, name) == value(go, name), name
    assert value(ours, "redis_connected_slaves") == 1
    assert value(ours, "redis_config_maxclients") == int(redis7.config_get("maxclients")["maxclients"])
    assert without_replid(ours) == series(go, "redis_instance_info")
    info = series(ours, "redis_instance_info")[0]
    assert info["master_replid"] == redis7.info("replication")["master_replid"]
    assert (info["role"], info["tcp_port"], info["redis_version"]) == ("master", str(redis7.port), redis7.version)
    # the replica as the master sees it
    (link,) = series(ours, "redis_connected_slave_offset_bytes")
    assert link == {"slave_ip": "127.0.0.1", "slave_port": str(redis7.replica.port), "slave_state": "online"}
    assert series(go, "redis_connected_slave_offset_bytes") == [link]


def test_stable_values_agree_on_a_replica(replica_pair, redis7):
    seed_keys(redis7)  # and waits until the replica has them
    ours, go = replica_pair
    o, g = get_ok(ours), go.metrics()
    master = {"master_host": redis7.host, "master_port": str(redis7.port)}
    assert series(o, "redis_master_link_up") == series(g, "redis_master_link_up") == [master]
    assert value(o, "redis_master_link_up") == value(g, "redis_master_link_up") == 1
    assert series(o, "redis_slave_info") == series(g, "redis_slave_info") == [{**master, "read_only": "1"}]
    assert value(o, "redis_connected_slaves") == value(g, "redis_connected_slaves") == 0
    assert without_replid(o) == series(g, "redis_instance_info")
    assert series(o, "redis_instance_info")[0]["role"] == "slave"
    for db, (keys, _) in SEED_COUNTS.items():
        assert value(o, "redis_db_keys", db=f"db{db}") == value(g, "redis_db_keys", db=f"db{db}") == keys


# ---- 2. every server version, master and replica ----------------------------------------------


@pytest.fixture(scope="module")
def all_servers(request) -> dict[str, RedisServer]:
    """Every master and replica of the fixtures by name: redis7, redis7-replica, ..."""
    out = {}
    for name in SERVER_FIXTURES:
        master = request.getfixturevalue(name)
        out[master.name], out[master.replica.name] = master, master.replica
    return out


@pytest.fixture(scope="module")
def version_prober(all_servers, tmp_path_factory):
    """One exporter in multi-target mode for all six servers, as the ``exporter`` ACL user, with
    each server's password in the password file."""
    tmp = tmp_path_factory.mktemp("versions")
    passwords = write_password_file(
        tmp / "passwords.json", {f"redis://{s.address}": s.exporter_password for s in all_servers.values()}
    )
    allowed = ",".join(s.address for s in all_servers.values())
    exp = start_redis_exporter(
        tmp,
        "--redis.addr=",
        f"--scrape.allowed-targets={allowed}",
        f"--redis.password-file={passwords}",
        env={"REDIS_USER": "exporter"},
    )
    yield exp
    exp.stop()


def histogram_buckets(text: str, cmd: str) -> list[tuple[float, float]]:
    return sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples(text).items()
        if name == "redis_commands_latencies_usec_bucket" and dict(labels)["cmd"] == cmd
    )


@pytest.mark.parametrize("role", ["master", "replica"])
@pytest.mark.parametrize("server_name", SERVER_FIXTURES)
def test_every_collector_on_every_version(version_prober, all_servers, server_name, role):
    server = all_servers[server_name if role == "master" else f"{server_name}-replica"]
    server.acl_log_reset()
    get_ok(version_prober, scrape_path(server.address))  # the histogram has our own commands from now on
    text = get_ok(version_prober, scrape_path(server.address))
    assert value(text, "redis_up") == 1
    assert last_error(text) == ("", 0)
    success = collector_success(text)
    assert CORE_COLLECTORS <= set(success), success
    assert all(v == 1 for v in success.values()), success
    info = series(text, "redis_instance_info")[0]
    assert info["role"] == ("master" if role == "master" else "slave")
    assert info["tcp_port"] == str(server.port)
    assert value(text, "redis_config_maxclients") > 0
    assert value(text, "redis_slowlog_length") >= 0
    if role == "master":
        assert value(text, "redis_connected_slaves") == 1
        assert series(text, "redis_connected_slave_offset_bytes")[0]["slave_port"] == str(server.replica.port)
        assert "redis_master_link_up" not in types(text) and "redis_slave_info" not in types(text)
    else:
        master = {"master_host": server.master.host, "master_port": str(server.master.port)}
        assert series(text, "redis_master_link_up") == [master] and value(text, "redis_master_link_up") == 1
        assert series(text, "redis_slave_info") == [{**master, "read_only": "1"}]
        assert value(text, "redis_connected_slaves") == 0

    modern = server.version_info >= (7,)  # Redis 7+ and every Valkey (8.1 reports redis_version 7.2.4)
    assert ("redis_latency_percentiles_usec" in types(text)) == modern
    assert ("redis_commands_latencies_usec" in types(text)) == modern
    if modern:
        # Redis' own reply is cumulative (the documentation says so; checked here): counts never
        # decrease with the bound, and the last one is the command's calls unless calls took > 1 s
        reply = server.cli("LATENCY", "HISTOGRAM", "info")
        details = dict(zip(reply[1][::2], reply[1][1::2]))
        counts = [int(c) for c in details["histogram_usec"][1::2]]
        assert counts == sorted(counts) and counts[-1] == int(details["calls"]), details
        # ours passes it on as Prometheus' cumulative buckets: non-decreasing, +Inf = _count
        cmds = {d["cmd"] for d in series(text, "redis_commands_latencies_usec_count")}
        assert {"info", "slowlog|len", "latency|latest"} <= cmds, cmds
        for cmd in cmds:
            buckets = histogram_buckets(text, cmd)
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (cmd, buckets)
            assert buckets[-1][0] == float("inf")
            assert buckets[-1][1] == value(text, "redis_commands_latencies_usec_count", cmd=cmd)
        # _sum is the command's total time from INFO commandstats (as upstream redis_exporter), not 0
        assert value(text, "redis_commands_latencies_usec_sum", cmd="info") > 0
    # as the least-privileged user, on every version: not one refused command
    ours = [e for e in server.acl_log() if e.get("username") == "exporter"]
    assert not ours, ours


def test_concurrent_scrapes_of_different_collector_sets_each_get_their_own_replies(ours_redis7):
    """Scrapes of one target with different collect[] sets run at the same time (not coalesced); each
    keeps its own replies. Pruning the running scrapes compared run objects with a number (TypeError),
    so a scrape could be left reading another's state."""
    import threading

    results: list = []
    paths = [
        "/metrics?collect[]=info",
        "/metrics?collect[]=info&collect[]=config",
        "/metrics?collect[]=slowlog",
        "/metrics",
    ] * 4
    threads = [threading.Thread(target=lambda p=p: results.append((p, ours_redis7.get(p)))) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == len(paths)
    for path, resp in results:
        assert resp.status == 200, path
        assert value(resp.text, "redis_up") == 1, path
        assert "TypeError" not in ours_redis7.log()
