"""CLIENT LIST on real servers: redis_exporter 1.69's per-client families (--export-client-list,
--export-client-port) beside Debian 13's 1.69, and our low-cardinality totals (clients per name,
idle clients)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

from conftest import ROOT, samples, value

from .conftest import SERVER_FIXTURES, RedisServer
from .test_exporter import get_ok, helps, label_names, series, types
from .test_key_groups import start, start_go169

PER_CLIENT = (
    "redis_connected_client_info",
    "redis_connected_client_output_buffer_memory_usage_bytes",
    "redis_connected_client_total_memory_consumed_bytes",
    "redis_connected_client_created_at_timestamp",
    "redis_connected_client_idle_since_timestamp",
    "redis_connected_client_channel_subscriptions_count",
    "redis_connected_client_pattern_matching_subscriptions_count",
    "redis_connected_client_query_buffer_length_bytes",
    "redis_connected_client_query_buffer_free_space_bytes",
    "redis_connected_client_output_buffer_length_bytes",
    "redis_connected_client_output_list_length",
)
NEWER_FIELDS = (
    "redis_connected_client_shard_channel_subscriptions_count",  # Redis 7.0.3+, Valkey
    "redis_connected_client_shard_channel_watched_keys",
)  # Redis 7.4+, Valkey 8


@pytest.fixture(params=SERVER_FIXTURES)
def server(request) -> RedisServer:
    return request.getfixturevalue(request.param)


@contextlib.contextmanager
def idle_clients(server: RedisServer, names: dict[str, int]):
    """Connections named as ``names`` says (name -> how many; "" for unnamed), open and idle."""
    clients = []
    try:
        for name, n in names.items():
            for _ in range(n):
                c = server.client()
                if name:
                    c.client_setname(name)
                else:
                    c.ping()
                clients.append(c)
        yield clients
    finally:
        for c in clients:
            c.close()


def client_value(text: str, family: str, cid: str) -> float:
    """The sample of ``family`` for client id ``cid`` (its label ``name`` clashes with value()'s argument)."""
    (v,) = [v for (n, labels), v in samples(text).items() if n == family and dict(labels)["id"] == cid]
    return v


def by_name(text: str) -> dict[str, float]:
    return {
        dict(labels)["name"]: v for (n, labels), v in samples(text).items() if n == "redis_connected_clients_by_name"
    }


def client_families(text: str) -> set[str]:
    return {n for n in types(text) if n.startswith("redis_connected_client_")}


def test_client_list_like_redis_exporter_169(tmp_path, server):
    with idle_clients(server, {"flextime-test-client": 1}):
        go = start_go169(server, tmp_path, "--export-client-list")  # both as the default user: CLIENT LIST
        ours = start(tmp_path, server, "--export-client-list", admin=True)
        try:
            go_text, our_text = go.metrics(), get_ok(ours)
        finally:
            go.stop()
            ours.stop()
    assert value(our_text, "redis_scrape_collector_success", collector="clients") == 1
    assert client_families(our_text) == client_families(go_text)
    assert set(PER_CLIENT) <= client_families(our_text)
    for name in client_families(go_text):
        assert types(our_text)[name] == types(go_text)[name] == "gauge", name
        assert label_names(our_text)[name] == label_names(go_text)[name], name
        assert helps(our_text)[name] == helps(go_text)[name], name
    assert "port" not in label_names(our_text)["redis_connected_client_info"]

    def test_client(text):
        (info,) = [s for s in series(text, "redis_connected_client_info") if s["name"] == "flextime-test-client"]
        return info

    ours_info, go_info = test_client(our_text), test_client(go_text)
    assert ours_info == go_info and ours_info["host"] == "127.0.0.1"
    cid = ours_info["id"]
    for name in (
        "redis_connected_client_channel_subscriptions_count",
        "redis_connected_client_output_list_length",
        "redis_connected_client_output_buffer_length_bytes",
    ):
        assert client_value(our_text, name, cid) == client_value(go_text, name, cid), name
    created = client_value(our_text, "redis_connected_client_created_at_timestamp", cid)
    assert abs(created - client_value(go_text, "redis_connected_client_created_at_timestamp", cid)) <= 2
    assert abs(created - time.time()) < 120


def test_client_port_label(tmp_path, redis7):
    with idle_clients(redis7, {"flextime-test-client": 1}) as (c,):
        addr = c.client_info()["addr"]
        exp = start(tmp_path, redis7, "--export-client-list", "--export-client-port", admin=True)
        try:
            text = get_ok(exp)
        finally:
            exp.stop()
    (info,) = [s for s in series(text, "redis_connected_client_info") if s["name"] == "flextime-test-client"]
    assert info["port"] == addr.rsplit(":", 1)[1]


def test_client_totals_by_name_and_idle(tmp_path, server):
    names = {"pool-a": 5, "pool-b": 3, "": 2}
    with idle_clients(server, names) as clients:
        ids = {c.client_id() for c in clients}
        end = time.monotonic() + 20
        while True:  # until every one of them has been idle two seconds or more (Redis counts whole seconds)
            lines = [
                ln for ln in server.raw("CLIENT", "LIST").splitlines() if int(ln.split("id=")[1].split(" ")[0]) in ids
            ]
            if all(int(ln.split(" idle=")[1].split(" ")[0]) >= 2 for ln in lines):
                break
            assert time.monotonic() < end, lines
            time.sleep(0.2)
        exp = start(tmp_path, server, "--export-client-names", "--client-idle-threshold-seconds=2,86400", admin=True)
        narrow = start(tmp_path, server, "--export-client-names", "--client-names.max=1", admin=True)
        try:
            text, narrow_text = get_ok(exp), get_ok(narrow)
            everyone = len(server.raw("CLIENT", "LIST").splitlines())
        finally:
            exp.stop()
            narrow.stop()
    assert value(text, "redis_scrape_collector_success", collector="clients") == 1
    names_ = by_name(text)
    assert names_["pool-a"] == 5 and names_["pool-b"] == 3
    assert names_["flextime-exporter"] >= 1
    assert names_[""] >= 2  # ours, and the fixtures' own unnamed admin connection
    idle2 = value(text, "redis_client_connections_idle", threshold_seconds="2")
    assert 10 <= idle2 < everyone  # ours, and not the exporter's own connection (it just ran CLIENT LIST)
    assert value(text, "redis_client_connections_idle", threshold_seconds="86400") == 0
    assert not client_families(text)  # no per-client series without --export-client-list
    # bounded: one name (the largest), the rest summed
    narrow_by = by_name(narrow_text)
    assert set(narrow_by) == {"pool-a", "_other"}
    assert narrow_by["pool-a"] == 5 and narrow_by["_other"] >= 3 + 2 + 1  # pool-b, unnamed, the exporter


def test_no_client_list_by_default(tmp_path, redis7):
    def client_list_calls():
        stat = redis7.info("commandstats").get("cmdstat_client|list", "calls=0,")  # "calls=3,usec=..."
        return int(stat.split("calls=")[1].split(",")[0])

    before = client_list_calls()
    exp = start(tmp_path, redis7, "--client-idle-threshold-seconds=0")  # 0: off, as in redis_exporter's #1162
    try:
        text = get_ok(exp)
        get_ok(exp)
    finally:
        exp.stop()
    assert client_list_calls() == before
    assert not client_families(text) and "redis_connected_clients_by_name" not in types(text)


def test_help_warns_of_the_cardinality():
    out = subprocess.run(
        [sys.executable, "-m", "exporters", "redis", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    flat = " ".join(out.split())
    at = flat.index("--export-client-list")
    assert "WARNING: one series per connection" in flat[at : at + 400]
    at = flat.index("--export-client-port")
    assert "WARNING" in flat[at : at + 300]
