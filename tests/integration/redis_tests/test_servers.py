"""The Redis/Valkey fixtures are what they claim: the right server versions on loopback, the
admin password required, a read-only ``exporter`` ACL user, a linked replica, a restart on the
same port, and Debian's redis_exporter scraping redis7 as ``exporter``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import value

from .conftest import SCRATCH_DB, SEED_COUNTS, SERVER_FIXTURES, RedisServer, seed_keys
from .conftest import _redis_module as _redis  # redis-py, or skip (laptop) / fail (CI) without it

EXPECTED = {"redis7": ("redis", (7, 0)), "redis62": ("redis", (6, 2)), "valkey81": ("valkey", (8, 1))}


@pytest.fixture(params=SERVER_FIXTURES)
def server(request) -> RedisServer:
    """Each master in turn (its replica is ``server.replica``)."""
    return request.getfixturevalue(request.param)


def test_versions_and_addresses(server: RedisServer):
    flavor, major_minor = EXPECTED[server.name]
    for s in (server, server.replica):
        assert (s.flavor, s.version_info[:2]) == (flavor, major_minor)
        info = s.info("server")
        own_version = info["valkey_version"] if flavor == "valkey" else info["redis_version"]
        assert own_version == s.version
        assert info["tcp_port"] == str(s.port)
        assert s.address == f"127.0.0.1:{s.port}" and s.host == "127.0.0.1"
        assert s.url == f"redis://:{s.password}@{s.address}"
        assert s.exporter_url == f"redis://exporter:{s.exporter_password}@{s.address}"
        assert s.password.startswith("canary-redis-") and s.exporter_password.startswith("canary-redis-")
        config = s.config_get()
        assert (config["bind"], config["save"], config["appendonly"]) == ("127.0.0.1", "", "no")


def test_ping_needs_the_admin_password(server: RedisServer):
    redis_py = _redis()
    for s in (server, server.replica):
        assert s.cli("PING") is True
        with s.client(password=None) as anonymous, pytest.raises(redis_py.AuthenticationError):
            anonymous.ping()
        with s.client(password="not-the-password") as wrong, pytest.raises(redis_py.AuthenticationError):
            wrong.ping()
        with s.client(username="default", password=s.password) as admin:
            assert admin.ping() is True


def test_exporter_user_reads_but_cannot_write(server: RedisServer):
    redis_py = _redis()
    for s in (server, server.replica):
        s.acl_log_reset()
        with s.exporter_client() as c:
            assert "redis_version" in c.info("all")
            assert c.config_get("maxmemory") == {"maxmemory": "0"}
            assert isinstance(c.execute_command("SLOWLOG", "LEN"), int)
            assert c.execute_command("DBSIZE") >= 0
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                c.set("flextime:test:forbidden", "1")
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                c.execute_command("CONFIG", "SET", "maxmemory", "1")
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                c.execute_command("FLUSHALL")
        assert s.cli("EXISTS", "flextime:test:forbidden") == 0
        # the three refusals above and nothing else (logging in needed no other command)
        denied = {(e["username"], e["reason"], e["object"]) for e in s.acl_log()}
        assert {obj for _, _, obj in denied} <= {"set", "config", "config|set", "flushall"}, denied
        assert len(denied) == 3 and all(u == "exporter" and r == "command" for u, r, _ in denied), denied


def test_replica_follows_master(server: RedisServer):
    replica = server.replica
    assert server.role == "master" and replica.role == "replica" and replica.master is server
    master_info = server.info("replication")
    assert master_info["role"] == "master" and master_info["connected_slaves"] == "1"
    info = replica.info("replication")
    assert info["role"] == "slave"
    assert info["master_link_status"] == "up"
    assert (info["master_host"], info["master_port"]) == ("127.0.0.1", str(server.port))

    key = f"flextime:test:replicated:{server.name}"
    with server.client(db=SCRATCH_DB) as m, replica.client(db=SCRATCH_DB) as r:
        m.set(key, "from-master")
        try:
            server.wait_replicated()
            assert r.get(key) == "from-master"
            with pytest.raises(_redis().exceptions.ReadOnlyError):
                r.set(key, "on-the-replica")
        finally:
            m.delete(key)


def test_passwords_stay_off_command_lines(server: RedisServer):
    for s in (server, server.replica):
        cmdline = Path(f"/proc/{s.proc.pid}/cmdline").read_bytes().decode()
        assert s.password not in cmdline and s.exporter_password not in cmdline
        assert s.config_path.stat().st_mode & 0o077 == 0


def test_stop_then_start_on_the_same_port(server: RedisServer):
    redis_py = _redis()
    port = server.port
    server.stop()
    try:
        assert not server.is_running()
        with server.client(socket_connect_timeout=1) as c, pytest.raises(redis_py.ConnectionError):
            c.ping()
    finally:
        server.start()
    assert server.port == port and server.is_running()
    assert server.cli("PING") is True
    assert server.info("server")["tcp_port"] == str(port)
    # start() waited for the replica to resync to the restarted (empty) master
    assert server.replica.info("replication")["master_link_status"] == "up"
    key = f"flextime:test:after-restart:{server.name}"
    with server.client(db=SCRATCH_DB) as m, server.replica.client(db=SCRATCH_DB) as r:
        m.set(key, "1")
        try:
            server.wait_replicated()
            assert r.get(key) == "1"
        finally:
            m.delete(key)


def test_go_redis_exporter_scrapes_redis7(go_redis_exporter, redis7: RedisServer):
    counts = seed_keys(redis7)
    redis7.acl_log_reset()
    text = go_redis_exporter.metrics()
    assert value(text, "redis_up") == 1
    assert value(text, "redis_connected_slaves") == 1
    assert value(text, "redis_instance_info", role="master", tcp_port=str(redis7.port)) == 1
    for db, (keys, expiring) in counts.items():
        assert value(text, "redis_db_keys", db=f"db{db}") == keys
        assert value(text, "redis_db_keys_expiring", db=f"db{db}") == expiring
    # its default scrape needed nothing the exporter ACL leaves out
    denied = [e for e in redis7.acl_log() if e.get("username") == "exporter"]
    assert denied == [], denied
    for canary in redis7.canaries:
        assert canary not in text and canary not in go_redis_exporter.log()
    assert counts == SEED_COUNTS
