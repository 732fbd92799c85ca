"""Servers for the scheduler exporter's tests: a Redis 7 and a PostgreSQL of their own (so the
queues' keys and job tables never meet the other exporters' tests), started once per session.

Queues are filled and worked by the queues' own libraries (bullmq, rq from PyPI), never by
hand-written keys."""

from __future__ import annotations

import secrets

import pytest
from postgres.conftest import _cleanup as _pg_cleanup
from postgres.conftest import _start_primary, find_bin_dir
from redis_tests.conftest import CANARY_PREFIX, _binary_version, _redis_module, debian_redis_binary
from redis_tests.conftest import _cleanup as _redis_cleanup
from redis_tests.conftest import _new_server as _new_redis

from conftest import start_exporter


@pytest.fixture(scope="session")
def queue_redis():
    """Debian's Redis 7, alone, with a canary password (``queue_redis.url`` holds it)."""
    _redis_module()
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    server = _new_redis("sched-redis", "master", binary, flavor, version, CANARY_PREFIX + secrets.token_hex(12))
    try:
        server.start()
        yield server
    finally:
        _redis_cleanup(server)


@pytest.fixture(scope="session")
def queue_pg():
    """A PostgreSQL primary (15 in CI) for the SQL job table and the connection-pool metric."""
    server = _start_primary("sched-pg", find_bin_dir())
    yield server
    _pg_cleanup(server)


def start_scheduler(tmp_path, *args: str, **kw):
    """``flextime-exporter scheduler`` with ``args`` on a free loopback port (tests/conftest.py)."""
    return start_exporter(tmp_path, *args, exporter="scheduler", **kw)
