""" "connection failed" says why: the log line and /health carry the cause (refused, timeout, wrong
password, max clients), once per change; the metric keeps its short class
(redis_exporter_last_scrape_error{err}), so no new series appears per cause."""

from __future__ import annotations

import secrets
import socket

import pytest

from conftest import free_port

from .conftest import _binary_version, _cleanup, _new_server, _redis_module, debian_redis_binary
from .test_exporter import get_ok, last_error, start_redis_exporter


@pytest.fixture(scope="module")
def causes_redis():
    """A Redis 7 of this module alone: the max-clients case changes its maxclients."""
    _redis_module()
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    server = _new_server("causes", "master", binary, flavor, version, "canary-redis-" + secrets.token_hex(12))
    try:
        server.start()
        yield server
    finally:
        _cleanup(server)


def scrape_down(exp, times: int = 3) -> tuple[str, str]:
    """Scrape ``times`` times (redis_up 0 each); the error class, and the exporter's error lines."""
    for _ in range(times):
        text = get_ok(exp, timeout_header=3)
        err, val = last_error(text)
        assert val == 1, text
    lines = [line for line in exp.log().splitlines() if "cannot scrape" in line]
    return err, "\n".join(lines)


def test_refused(tmp_path):
    port = free_port()
    exp = start_redis_exporter(tmp_path, f"--redis.addr=redis://127.0.0.1:{port}")
    try:
        err, lines = scrape_down(exp)
        health = exp.get("/health")
    finally:
        exp.stop()
    assert err == "connection failed"
    assert lines.count("connection failed (connection refused)") == 1, lines  # once, not per scrape
    assert health.status == 503 and "connection refused" in health.text


def test_timeout(tmp_path):
    with socket.socket() as silent:  # accepts (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        exp = start_redis_exporter(
            tmp_path, f"--redis.addr=redis://127.0.0.1:{silent.getsockname()[1]}", "--connection-timeout=1s"
        )
        try:
            err, lines = scrape_down(exp, times=2)
        finally:
            exp.stop()
    assert err == "timeout" and lines.count(": timeout") == 1, lines


def test_wrong_password(causes_redis, tmp_path):
    wrong = "canary-wrong-" + secrets.token_hex(8)
    exp = start_redis_exporter(tmp_path, f"--redis.addr=redis://{causes_redis.address}", env={"REDIS_PASSWORD": wrong})
    try:
        err, lines = scrape_down(exp)
        log = exp.log()
    finally:
        exp.stop()
    assert err == "authentication failed"
    assert lines.count("authentication failed (wrong user name or password)") == 1, lines
    assert wrong not in log and causes_redis.password not in log


def test_max_clients(causes_redis, tmp_path):
    exp = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{causes_redis.address}", env={"REDIS_PASSWORD": causes_redis.password}
    )
    before = causes_redis.config_get("maxclients")["maxclients"]
    causes_redis.cli("CONFIG", "SET", "maxclients", "1")  # the admin connection is the one
    try:
        err, lines = scrape_down(exp)
    finally:
        causes_redis.cli("CONFIG", "SET", "maxclients", before)
        exp.stop()
    assert err == "connection failed"
    assert lines.count("connection failed (max number of clients reached)") == 1, lines
