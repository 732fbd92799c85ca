"""Captured server output for the redis exporter's unit tests: INFO ALL, INFO, and the CONFIG
keys redis_exporter reads, from each server and replica, plus Debian's redis_exporter's
/metrics on redis7 (see tests/data/redis/README.md).

test_capture runs the whole capture every time, into a temp dir, and checks it holds no
password; with FLEXTIME_REDIS_RECAPTURE=1 it writes tests/data/redis/ instead:

    FLEXTIME_REDIS_RECAPTURE=1 python3 -m pytest -q tests/integration/redis_tests/test_captures.py

test_saved_captures checks the files in tests/data/redis/ (no server needed)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import ROOT, parse_families, value

from .conftest import (
    CANARY_PREFIX,
    SEED_COUNTS,
    SEED_PREFIX,
    SERVER_FIXTURES,
    RedisServer,
    seed_keys,
    start_go_redis_exporter,
)

DATA = ROOT / "tests" / "data" / "redis"
RECAPTURE = os.environ.get("FLEXTIME_REDIS_RECAPTURE", "") == "1"

# The CONFIG GET * keys redis_exporter reads: databases (how many empty dbs to report as 0),
# maxmemory / maxclients / io-threads (redis_config_*), client-output-buffer-limit
# (redis_config_client_output_buffer_limit_*, newer releases), and two the design notes name
# (repl-backlog-size, maxmemory-policy). Never requirepass / masterauth: those hold passwords.
CONFIG_KEYS = (
    "databases",
    "maxmemory",
    "maxclients",
    "io-threads",
    "client-output-buffer-limit",
    "repl-backlog-size",
    "maxmemory-policy",
)
ROLES = ("master", "replica")


def _files(server_name: str, role: str) -> dict[str, str]:
    stem = f"{server_name}-{role}"
    return {"info_all": f"{stem}-info.txt", "info_default": f"{stem}-info-default.txt", "config": f"{stem}-config.json"}


def capture_server(master: RedisServer, out: Path) -> list[Path]:
    """Seed the known keys on ``master``, cause one WRONGTYPE error on it (so Errorstats and the
    failed-calls fields are not empty), then save INFO ALL, INFO and the CONFIG_KEYS of it
    and of its replica. INFO is saved byte for byte (CRLF line ends)."""
    seed_keys(master)
    with pytest.raises(Exception, match="WRONGTYPE"):
        master.cli("LLEN", f"{SEED_PREFIX}greeting")
    master.wait_replicated()
    written = []
    for server in (master, master.replica):
        names = _files(master.name, server.role)
        for kind, args in (("info_all", ("INFO", "ALL")), ("info_default", ("INFO",))):
            path = out / names[kind]
            path.write_bytes(server.raw(*args).encode())
            written.append(path)
        config = server.config_get()
        path = out / names["config"]
        path.write_text(json.dumps({k: config[k] for k in CONFIG_KEYS if k in config}, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def capture_go_exporter(redis7: RedisServer, out: Path, log_dir: Path) -> list[Path]:
    """Debian's redis_exporter (default flags, as ``exporter``) on the redis7 master and on its
    replica: one warm-up scrape, then the second saved."""
    written = []
    for server, name in (
        (redis7, "redis_exporter-redis7.prom"),
        (redis7.replica, "redis_exporter-redis7-replica.prom"),
    ):
        exp = start_go_redis_exporter(server, log_dir)
        try:
            exp.metrics()
            path = out / name
            path.write_text(exp.metrics())
            written.append(path)
        finally:
            exp.stop()
    return written


def test_capture(request, tmp_path):
    servers = [request.getfixturevalue(name) for name in SERVER_FIXTURES]
    out = DATA if RECAPTURE else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for master in servers:
        written += capture_server(master, out)
    redis7 = servers[0]
    written += capture_go_exporter(redis7, out, tmp_path)
    assert len(written) == 3 * 2 * 3 + 2

    canaries = [c for s in servers for srv in (s, s.replica) for c in srv.canaries]
    for path in written:
        text = path.read_text()
        assert path.stat().st_size > 0, path
        assert not any(c in text for c in canaries), f"a password is in {path}"
        assert CANARY_PREFIX not in text, f"a password is in {path}"
    prom = (out / "redis_exporter-redis7.prom").read_text()
    for db, (keys, expiring) in SEED_COUNTS.items():
        assert value(prom, "redis_db_keys", db=f"db{db}") == keys
        assert value(prom, "redis_db_keys_expiring", db=f"db{db}") == expiring


def test_saved_captures():
    """tests/data/redis/ holds every capture, none with a password, each from the server and
    role its name says."""
    expected = {
        "redis7": ("redis_version", "7.0."),
        "redis62": ("redis_version", "6.2."),
        "valkey81": ("valkey_version", "8.1."),
    }
    for name in SERVER_FIXTURES:
        for role in ROLES:
            files = {k: DATA / v for k, v in _files(name, role).items()}
            for path in files.values():
                assert path.is_file(), f"{path} is missing: run the capture (see this module's docstring)"
            for kind in ("info_all", "info_default"):
                raw = files[kind].read_bytes()
                assert b"\r\n" in raw, f"{files[kind]} lost its CRLF line ends"
                text = raw.decode()
                field, prefix = expected[name]
                assert re.search(rf"^{field}:{re.escape(prefix)}\d+\r$", text, re.M), files[kind]
                assert re.search(rf"^role:{'master' if role == 'master' else 'slave'}\r$", text, re.M)
                assert re.search(r"^db0:keys=\d+,expires=\d+", text, re.M), f"no keyspace in {files[kind]}"
            info_all = files["info_all"].read_text()
            assert "# Commandstats" in info_all and "# Errorstats" in info_all
            config = json.loads(files["config"].read_text())
            assert {"databases", "maxmemory", "maxclients"} <= set(config)
            assert not set(config) & {"requirepass", "masterauth"}
    for path in DATA.iterdir():
        if path.name != "README.md":  # which names the prefix
            assert CANARY_PREFIX.encode() not in path.read_bytes(), f"a password is in {path}"
    for name in ("redis_exporter-redis7.prom", "redis_exporter-redis7-replica.prom"):
        text = (DATA / name).read_text()
        assert value(text, "redis_up") == 1
        assert "redis_instance_info" in parse_families(text)
    assert (DATA / "README.md").is_file()
