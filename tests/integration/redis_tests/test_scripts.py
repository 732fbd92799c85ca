"""--script on real servers: read-only Lua scripts (EVAL_RO) beside Debian 13's redis_exporter 1.69;
scripts that write or do not compile fail only their collector and write nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, samples, value

from .conftest import SERVER_FIXTURES, RedisServer
from .test_exporter import get_ok, helps, label_names, types
from .test_key_groups import start, start_go169

KEY = "flextime:script:n"
WRITTEN = "flextime:script:written"
READ = f'return {{"answer", redis.call("GET", "{KEY}"), "pi", "3.25", "count", tostring(7)}}\n'
WRITE = f'redis.call("SET", "{WRITTEN}", "1")\nreturn {{"wrote", "1"}}\n'
BROKEN = 'return {"a", \n'
EMPTY = "return {}\n"
NOT_PAIRS = 'return {"a", "1", "b"}\n'
NOT_NUMBER = 'return {"a", "one"}\n'
INTEGER = 'return {"a", 1}\n'  # redis_exporter (redigo's StringMap) takes strings only


EVAL_RO_SERVERS = ("redis7", "valkey81")  # Redis 6.2 has no EVAL_RO: test_no_script_sent_to_redis_before_7


@pytest.fixture(params=SERVER_FIXTURES)
def server(request) -> RedisServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def scripts(tmp_path):
    """The script files by name."""
    paths = {}
    for name, body in (
        ("read", READ),
        ("write", WRITE),
        ("broken", BROKEN),
        ("empty", EMPTY),
        ("not_pairs", NOT_PAIRS),
        ("not_number", NOT_NUMBER),
        ("integer", INTEGER),
    ):
        path = tmp_path / f"{name}.lua"
        path.write_text(body)
        paths[name] = str(path)
    return paths


@pytest.fixture
def keyed(server):
    """KEY = 42 on ``server`` and no WRITTEN key; both deleted afterwards."""
    server.cli("SET", KEY, "42")
    server.cli("DEL", WRITTEN)
    yield server
    server.cli("DEL", KEY, WRITTEN)


def script_samples(text: str) -> dict:
    return {k: v for k, v in samples(text).items() if k[0].startswith("redis_script_")}


@pytest.mark.parametrize("server", EVAL_RO_SERVERS, indirect=True)
def test_read_only_script_like_redis_exporter_169(tmp_path, server, keyed, scripts):
    flag = f"--script={scripts['read']},{scripts['empty']}"
    go = start_go169(server, tmp_path, flag)
    ours = start(tmp_path, server, flag, admin=True)
    try:
        go_text, our_text = go.metrics(), get_ok(ours)
    finally:
        go.stop()
        ours.stop()
    assert value(our_text, "redis_scrape_collector_success", collector="scripts") == 1
    assert script_samples(our_text) == script_samples(go_text)
    assert value(our_text, "redis_script_values", key="answer", filename=scripts["read"]) == 42
    assert value(our_text, "redis_script_values", key="pi", filename=scripts["read"]) == 3.25
    assert value(our_text, "redis_script_result", filename=scripts["empty"]) == 2
    for name in ("redis_script_values", "redis_script_result"):
        assert types(our_text)[name] == types(go_text)[name] == "gauge"
        assert label_names(our_text)[name] == label_names(go_text)[name]
        assert helps(our_text)[name] == helps(go_text)[name]


@pytest.mark.parametrize("server", EVAL_RO_SERVERS, indirect=True)
def test_bad_scripts_fail_only_their_collector_and_write_nothing(tmp_path, server, keyed, scripts):
    bad = ("write", "broken", "not_pairs", "not_number", "integer")
    dbsize = server.cli("DBSIZE")
    # as the default user, who may write: the server's read-only mode is what stops the SET
    exp = start(tmp_path, server, "--script=" + ",".join(scripts[n] for n in ("read", *bad)), admin=True)
    try:
        resp = exp.get("/metrics")
        text = resp.text
        log = exp.log()
    finally:
        exp.stop()
    assert resp.status == 200
    assert value(text, "redis_up") == 1
    assert value(text, "redis_scrape_collector_success", collector="scripts") == 0
    assert value(text, "redis_scrape_collector_success", collector="info") == 1
    assert value(text, "redis_script_result", filename=scripts["read"]) == 1
    assert value(text, "redis_script_values", key="answer", filename=scripts["read"]) == 42
    for name in bad:
        assert value(text, "redis_script_result", filename=scripts[name]) == 0, name
        assert scripts[name] in log
    assert "Write commands are not allowed" in log
    assert server.cli("EXISTS", WRITTEN) == 0
    assert server.cli("DBSIZE") == dbsize


def test_no_script_sent_to_redis_before_7(tmp_path, redis62, scripts):
    redis62.cli("DEL", WRITTEN)
    before = redis62.info("commandstats")
    exp = start(tmp_path, redis62, f"--script={scripts['read']},{scripts['write']}", admin=True)
    try:
        text = get_ok(exp)
        log = exp.log()
    finally:
        exp.stop()
    after = redis62.info("commandstats")
    assert value(text, "redis_up") == 1
    assert value(text, "redis_scrape_collector_success", collector="scripts") == 0
    assert "no EVAL_RO" in log
    for cmd in ("cmdstat_eval", "cmdstat_evalsha"):
        assert before.get(cmd) == after.get(cmd)
    assert redis62.cli("EXISTS", WRITTEN) == 0


def test_unreadable_script_stops_startup(tmp_path):
    missing = tmp_path / "missing.lua"
    proc = subprocess.run(
        [sys.executable, "-m", "exporters", "redis", f"--script={missing}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--script" in lines[0] and str(missing) in lines[0], proc.stderr


@pytest.mark.parametrize("server", EVAL_RO_SERVERS, indirect=True)
def test_a_broken_script_is_not_the_target_down(tmp_path, server, scripts):
    """The difference from redis_exporter 1.69 by design: 1.69 reports a scrape whose script fails as
    redis_up 0 (with the server's error text as a label); ours keeps redis_up 1 and fails the scripts
    collector only."""
    flag = f"--script={scripts['broken']}"
    go = start_go169(server, tmp_path, flag)  # not the writing script: 1.69 would run it
    ours = start(tmp_path, server, flag, admin=True)
    try:
        go_text, our_text = go.metrics(), get_ok(ours)
    finally:
        go.stop()
        ours.stop()
    assert value(go_text, "redis_up") == 0
    assert value(our_text, "redis_up") == 1
    assert value(our_text, "redis_scrape_collector_success", collector="scripts") == 0
    assert (
        value(go_text, "redis_script_result", filename=scripts["broken"])
        == value(our_text, "redis_script_result", filename=scripts["broken"])
        == 0
    )
