"""--is-cluster against a real three-primary Redis Cluster (Debian's redis-server, slots split in
three): key checks across slots, each key read from the primary owning its slot, beside Debian 13's
redis_exporter 1.69; and /discover-cluster-nodes (redis_exporter 1.70's endpoint and format)."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from conftest import samples, value

from .conftest import READY_TIMEOUT, _binary_version, _cleanup, _new_server, _redis_module, debian_redis_binary
from .test_exporter import get_ok, start_redis_exporter
from .test_exporter_modes import CANARY_PREFIX, cluster_port, cluster_redis  # noqa: F401 (a fixture)
from .test_key_groups import start_go169

PREFIX = "flextime:cl:"
RANGES = ((0, 5460), (5461, 10922), (10923, 16383))
N_KEYS = 30


@pytest.fixture(scope="module")
def cluster():
    """Three primaries, each serving a third of the slots, all knowing each other (cluster_state:ok);
    one admin password for all (the exporter logs in to every primary with the target's)."""
    redis_py = _redis_module()
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    password = CANARY_PREFIX + secrets.token_hex(12)
    nodes = []
    try:
        for i in range(3):
            node = _new_server(f"cluster3-{i}", "master", binary, flavor, version, password, port=cluster_port())
            with open(node.config_path, "a") as f:
                f.write(
                    f"cluster-enabled yes\ncluster-config-file {node.base_dir / 'nodes.conf'}\n"
                    "cluster-node-timeout 5000\n"
                )
            node.start()
            nodes.append(node)
        for node, (lo, hi) in zip(nodes, RANGES):
            node.cli("CLUSTER", "ADDSLOTSRANGE", str(lo), str(hi))
        for node in nodes[1:]:
            nodes[0].cli("CLUSTER", "MEET", node.host, str(node.port))
        end = time.monotonic() + 3 * READY_TIMEOUT
        while not all(
            "cluster_state:ok" in n.raw("CLUSTER", "INFO") and "cluster_known_nodes:3" in n.raw("CLUSTER", "INFO")
            for n in nodes
        ):
            if time.monotonic() > end:
                raise RuntimeError("cluster not ok: " + " | ".join(n.raw("CLUSTER", "INFO") for n in nodes))
            time.sleep(0.1)
        assert redis_py  # the module is there
        yield nodes
    finally:
        _cleanup(*nodes)


def owner(nodes, key: str):
    from redis.crc import key_slot

    slot = key_slot(key.encode())
    return next(n for n, (lo, hi) in zip(nodes, RANGES) if lo <= slot <= hi)


@pytest.fixture
def keyed(cluster):
    """N_KEYS lists PREFIX + 'k:<i>' of i+1 items and a string PREFIX + 'single', each written on the
    primary owning its slot; at least one key on every primary. Deleted afterwards."""
    keys = {f"{PREFIX}k:{i}": i + 1 for i in range(N_KEYS)}
    for key, n in keys.items():
        owner(cluster, key).cli("RPUSH", key, *range(n))
    owner(cluster, f"{PREFIX}single").cli("SET", f"{PREFIX}single", "hello")
    assert {owner(cluster, k).port for k in keys} == {n.port for n in cluster}
    try:
        yield keys
    finally:
        for key in (*keys, f"{PREFIX}single"):
            owner(cluster, key).cli("DEL", key)


def start(tmp_path, node, *flags):
    return start_redis_exporter(
        tmp_path, *flags, env={"REDIS_ADDR": f"redis://{node.address}", "REDIS_PASSWORD": node.password}
    )


def sizes(text: str) -> dict[str, float]:
    return {
        dict(labels)["key"]: v
        for (n, labels), v in samples(text).items()
        if n == "redis_key_size" and dict(labels)["key"].startswith(PREFIX)
    }


def test_key_checks_across_slots(tmp_path, cluster, keyed):
    singles = ",".join([f"{PREFIX}single", *list(keyed)[:6]])
    flags = ["--is-cluster", f"--check-keys={PREFIX}k:*", f"--check-single-keys={singles}", f"--count-keys={PREFIX}*"]
    ours = start(tmp_path, cluster[1], *flags)
    go = start_go169(cluster[1], tmp_path, *flags)
    try:
        text = get_ok(ours)
        again = get_ok(ours)
        go_text = go.metrics()
    finally:
        ours.stop()
        go.stop()
    assert value(text, "redis_scrape_collector_success", collector="keys") == 1
    # every key of the glob, from all three primaries, with its own size
    expected = {**keyed, f"{PREFIX}single": 5}
    assert sizes(text) == expected
    assert sizes(again) == expected
    assert value(text, "redis_keys_count", db="db0", key=f"{PREFIX}*") == N_KEYS + 1
    # 1.69 reads single keys through its cluster client too (MOVED followed): the same sizes; its glob
    # SCAN sees the keys of one node only, so ours has more keys, never other sizes
    go_sizes = sizes(go_text)
    for key in singles.split(","):
        assert go_sizes[key] == expected[key], key
    assert set(go_sizes) <= set(expected) and all(go_sizes[k] == expected[k] for k in go_sizes)


def test_no_new_connections_per_scrape(tmp_path, cluster, keyed):
    exp = start(tmp_path, cluster[0], "--is-cluster", f"--check-keys={PREFIX}k:*")

    def received():
        return [int(n.info("stats")["total_connections_received"]) for n in cluster]

    try:
        get_ok(exp)
        before = received()
        for _ in range(3):
            assert len(sizes(get_ok(exp))) == N_KEYS
        after = received()
    finally:
        exp.stop()
    assert after == before  # one kept connection per primary


def test_discover_cluster_nodes(tmp_path, cluster):
    exp = start(tmp_path, cluster[2], "--is-cluster")
    plain = start(tmp_path, cluster[2])
    try:
        resp = exp.get("/discover-cluster-nodes")
        refused = plain.get("/discover-cluster-nodes")
    finally:
        exp.stop()
        plain.stop()
    assert resp.status == 200, resp.text
    assert resp.headers.get("Content-Type", "").startswith("application/json")
    doc = json.loads(resp.text)
    assert len(doc) == 1 and doc[0]["labels"] == {}
    assert sorted(doc[0]["targets"]) == sorted(f"redis://{n.address}" for n in cluster)
    assert resp.text.startswith('[\n  {\n    "targets": [\n      "redis://')  # Go's MarshalIndent layout
    assert cluster[0].password not in resp.text
    assert refused.status == 400
    assert "only available on a redis cluster" in refused.text


def test_probe_follows_only_allowed_nodes(tmp_path, cluster, keyed):
    """/scrape?target= of a cluster node: the other primaries are connected to only when
    --scrape.allowed-targets allows them, each with its own password-file entry."""
    from .test_exporter import scrape_path, write_password_file

    passwords = write_password_file(tmp_path / "passwords.json", {f"redis://{n.address}": n.password for n in cluster})
    flags = ["--is-cluster", f"--check-keys={PREFIX}k:*", f"--redis.password-file={passwords}"]
    narrow = start_redis_exporter(tmp_path, "--redis.addr=", f"--scrape.allowed-targets={cluster[0].address}", *flags)
    wide = start_redis_exporter(tmp_path, "--redis.addr=", "--scrape.allowed-targets=127.0.0.1:*", *flags)

    def received():
        return [int(n.info("stats")["total_connections_received"]) for n in cluster]

    try:
        before = received()
        narrow_text = get_ok(narrow, scrape_path(cluster[0].address))
        after = received()
        log = narrow.log()
        wide_text = get_ok(wide, scrape_path(cluster[0].address))
    finally:
        narrow.stop()
        wide.stop()
    assert after[1:] == before[1:]  # not even a connection to the nodes not allowed
    assert value(narrow_text, "redis_scrape_collector_success", collector="keys") == 0
    on_first = {k: n for k, n in keyed.items() if owner(cluster, k) is cluster[0]}
    assert sizes(narrow_text) == on_first
    assert f"cluster node {cluster[1].address} is not allowed by --scrape.allowed-targets" in log
    assert value(wide_text, "redis_scrape_collector_success", collector="keys") == 1
    assert sizes(wide_text) == keyed
    for text in (narrow_text, wide_text, log):
        assert cluster[0].password not in text


def test_discover_on_a_single_node_cluster_and_169_has_no_endpoint(tmp_path, cluster_redis):  # noqa: F811
    """The existing single-node cluster fixture: the endpoint lists its one node. redis_exporter 1.69 has
    no such endpoint (1.70 added it): the one difference of this module from 1.69, by design."""
    ours = start(tmp_path, cluster_redis, "--is-cluster")
    go = start_go169(cluster_redis, tmp_path, "--is-cluster")
    try:
        resp = ours.get("/discover-cluster-nodes")
        go_resp = go.get("/discover-cluster-nodes")
    finally:
        ours.stop()
        go.stop()
    assert resp.status == 200
    assert json.loads(resp.text) == [{"targets": [f"redis://{cluster_redis.address}"], "labels": {}}]
    assert go_resp.status != 200 or "targets" not in go_resp.text


def test_discover_when_the_node_is_down(tmp_path):
    from conftest import free_port

    exp = start_redis_exporter(tmp_path, "--is-cluster", env={"REDIS_ADDR": f"redis://127.0.0.1:{free_port()}"})
    try:
        resp = exp.get("/discover-cluster-nodes")
        metrics = exp.get("/metrics")
    finally:
        exp.stop()
    assert resp.status == 500
    assert resp.text.startswith("Couldn't connect to redis cluster: connection failed")
    assert metrics.status == 200
