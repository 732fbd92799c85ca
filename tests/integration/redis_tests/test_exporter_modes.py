"""Two connection modes against real, throwaway Debian redis-servers of this module alone:
a Unix socket (unix://path, ?db=N) and a single-node cluster (cluster-enabled yes), the latter
beside Debian's redis_exporter 1.45."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import samples, value

from .conftest import (
    READY_TIMEOUT,
    _binary_version,
    _cleanup,
    _new_server,
    _quiet_client_kwargs,
    _redis_module,
    debian_redis_binary,
    start_go_redis_exporter,
)
from .test_exporter import collector_success, family_table, get_ok, helps, start_redis_exporter

CANARY_PREFIX = "canary-redis-"
UNIX_KEYS = {0: 7, 3: 4}  # db -> keys written on the socket server


# ---- 1. Unix socket ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unix_redis():
    """Debian's redis-server listening only on a 0700 Unix socket (port 0), with a canary password
    in its 0600 config file; UNIX_KEYS written. Yields (socket path, password)."""
    redis_py = _redis_module()
    binary = debian_redis_binary()
    base = Path(tempfile.mkdtemp(prefix="flextime-unix-redis-"))
    sock = base / "redis.sock"
    password = CANARY_PREFIX + secrets.token_hex(12)
    conf = base / "server.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {sock}",
                    "unixsocketperm 700",
                    "daemonize no",
                    f"dir {base}",
                    'logfile ""',
                    f"requirepass {password}",
                    "",
                ]
            )
        )
    log_path = base / "server.log"
    proc = None
    client = None
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [str(binary), str(conf), "--save", "", "--appendonly", "no"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base,
                env={k: v for k, v in os.environ.items() if not k.startswith("REDIS")},
            )
        end = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"unix redis-server exited: {log_path.read_text()[-2000:]}")
            if sock.exists():
                try:
                    client = redis_py.Redis(
                        unix_socket_path=str(sock),
                        password=password,
                        socket_timeout=2,
                        socket_connect_timeout=2,
                        **_quiet_client_kwargs(redis_py),
                    )
                    if client.ping():
                        break
                except redis_py.RedisError:
                    client.close()
                    client = None
            if time.monotonic() > end:
                raise RuntimeError(f"unix redis-server did not answer: {log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        for db, n in UNIX_KEYS.items():
            client.execute_command("SELECT", db)
            for i in range(n):
                client.execute_command("SET", f"flextime:unix:{i}", str(i))
        client.execute_command("SELECT", 0)
        assert (sock.stat().st_mode & 0o777) == 0o700
        yield str(sock), password
    finally:
        if client is not None:
            client.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("db", [0, 3])
def test_unix_socket(unix_redis, tmp_path, db):
    path, password = unix_redis
    addr = f"unix://{path}" + (f"?db={db}" if db else "")
    exp = start_redis_exporter(tmp_path, env={"REDIS_ADDR": addr, "REDIS_PASSWORD": password})
    try:
        text = get_ok(exp)
        landing = exp.get("/")
        log = exp.log()
    finally:
        exp.stop()
    assert value(text, "redis_up") == 1, text[:2000]
    success = collector_success(text)
    assert success and all(v == 1 for v in success.values()), success
    for d, n in UNIX_KEYS.items():
        assert value(text, "redis_db_keys", db=f"db{d}") == n
    assert landing.status == 200
    assert path in landing.text, landing.text[:2000]
    assert addr in landing.text, landing.text[:2000]  # the target as configured, password-free
    # the log names no target when all is well (as for TCP); it must not hold the password either
    for where in (text, landing.text, log):
        assert password not in where


# ---- 2. cluster mode ---------------------------------------------------------------------------


def cluster_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too: a cluster node refuses a
    port above 55535, which the kernel's ephemeral range (free_port) often gives."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair below 55535 on 127.0.0.1")


@pytest.fixture(scope="module")
def cluster_redis():
    """A single-node cluster (Debian's redis-server, cluster-enabled yes) on a free loopback port,
    every slot assigned to it so cluster_state is ok; the conftest's passwords and exporter user."""
    _redis_module()
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    server = _new_server(
        "cluster", "master", binary, flavor, version, CANARY_PREFIX + secrets.token_hex(12), port=cluster_port()
    )
    with open(server.config_path, "a") as f:
        f.write(f"cluster-enabled yes\ncluster-config-file {server.base_dir / 'nodes.conf'}\n")
    try:
        server.start()
        server.cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        end = time.monotonic() + READY_TIMEOUT
        while server.info("cluster").get("cluster_enabled") != "1" or "cluster_state:ok" not in server.raw(
            "CLUSTER", "INFO"
        ):
            if time.monotonic() > end:
                raise RuntimeError(f"cluster_state not ok: {server.raw('CLUSTER', 'INFO')}")
            time.sleep(0.05)
        server.cli("SET", "flextime:cluster", "1")
        yield server
    finally:
        _cleanup(server)


# Values that may change between the two scrapes: compared by name, type and labels only.
CLUSTER_VOLATILE = (
    "redis_cluster_messages_sent_total",
    "redis_cluster_messages_received_total",
    "redis_cluster_stats_messages_",
)


def test_cluster_mode_like_redis_exporter(cluster_redis, tmp_path):
    server = cluster_redis
    go = start_go_redis_exporter(server, tmp_path)
    ours = start_redis_exporter(
        tmp_path,
        f"--redis.addr=redis://{server.address}",
        env={"REDIS_USER": server.exporter_user, "REDIS_PASSWORD": server.exporter_password},
    )
    try:
        go_text, our_text = go.metrics(), get_ok(ours)
    finally:
        ours.stop()
        go.stop()
    assert value(our_text, "redis_up") == 1
    assert collector_success(our_text)["info"] == 1
    assert value(our_text, "redis_cluster_enabled") == 1
    assert value(go_text, "redis_cluster_enabled") == 1

    def cluster(text):
        return {n: t for n, t in family_table(text).items() if n.startswith("redis_cluster_")}

    o, g = cluster(our_text), cluster(go_text)
    for name in (
        "redis_cluster_state",
        "redis_cluster_slots_assigned",
        "redis_cluster_known_nodes",
        "redis_cluster_size",
        "redis_cluster_enabled",
    ):
        assert name in g, sorted(g)
    assert o == g, {n: (o.get(n), g.get(n)) for n in set(o) | set(g) if o.get(n) != g.get(n)}
    oh, gh = helps(our_text), helps(go_text)
    assert {n: oh.get(n) for n in g} == {n: gh.get(n) for n in g}

    def values(text):
        return {
            k: v
            for k, v in samples(text).items()
            if k[0].startswith("redis_cluster_") and not k[0].startswith(CLUSTER_VOLATILE)
        }

    ov, gv = values(our_text), values(go_text)
    assert ov == gv, {k: (ov.get(k), gv.get(k)) for k in set(ov) | set(gv) if ov.get(k) != gv.get(k)}
    assert value(our_text, "redis_cluster_state") == 1
    assert value(our_text, "redis_cluster_slots_assigned") == 16384
    assert value(our_text, "redis_cluster_known_nodes") == 1
    # Go pads only db0 in cluster mode; so do we
    assert {d["db"] for (n, l) in samples(our_text) if n == "redis_db_keys" for d in [dict(l)]} == {
        d["db"] for (n, l) in samples(go_text) if n == "redis_db_keys" for d in [dict(l)]
    }
    for where in (our_text, go_text):
        assert server.password not in where and server.exporter_password not in where
