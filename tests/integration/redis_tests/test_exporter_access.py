"""Who the Redis exporter talks to, as whom, and what it never shows: least privilege (the ACL of
docs/redis.md), managed Redis without CONFIG, /scrape?target= restricted to an allowlist with each
password sent only to its own address, canary passwords never shown, and redis_exporter's
environment variables."""

from __future__ import annotations

import re
import secrets
import time

import pytest

from conftest import ROOT, value

from .conftest import SERVER_FIXTURES, RedisServer
from .test_exporter import (
    CORE_COLLECTORS,
    ERROR_CLASSES,
    FakeRedis,
    as_exporter_user,
    collector_success,
    fake_redis,
    get_ok,
    last_error,
    scrape_path,
    series,
    start_redis_exporter,
    types,
    write_password_file,
)

__all__ = ["fake_redis"]  # a fixture, imported to be found here


# ---- 3. least privilege -----------------------------------------------------------------------


def documented_acl() -> list[str]:
    """The ``ACL SETUSER`` line of docs/redis.md's "Least privilege" section, as arguments, with
    ``<user>`` and ``<password>`` placeholders."""
    doc = (ROOT / "docs" / "redis.md").read_text()
    section = doc.split("## Least privilege", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^ACL SETUSER .*$", section, re.M)
    assert len(lines) == 1, f"docs/redis.md's Least privilege section needs exactly one ACL SETUSER line: {lines}"
    return lines[0].split()[2:]


def create_user(server: RedisServer, name: str, rules: list[str]) -> str:
    """An ACL user from ``rules`` (placeholders filled in); returns its password."""
    password = "canary-redis-" + secrets.token_hex(12)
    args = [f">{password}" if r == ">PASSWORD" else r for r in rules[1:]]
    assert server.cli("ACL", "SETUSER", name, *args) in (True, "OK")
    return password


def delete_user(server: RedisServer, name: str) -> None:
    server.cli("ACL", "DELUSER", name)


def refusals(server: RedisServer, user: str) -> list[dict]:
    return [e for e in server.acl_log() if e.get("username") == user]


def test_documented_acl_is_enough_on_every_version(request, tmp_path):
    """The line of docs/redis.md, as is, on Redis 6.2, 7.0 and Valkey 8.1: every collector
    succeeds and the server refuses the exporter nothing (its ACL LOG stays empty)."""
    rules = documented_acl()
    assert rules[0] == "<user>" and ">PASSWORD" in rules, rules
    user = "flextime-minimal"
    masters = [request.getfixturevalue(name) for name in SERVER_FIXTURES]
    passwords = {}
    try:
        for server in masters:
            passwords[f"redis://{server.address}"] = create_user(server, user, rules)
            server.acl_log_reset()
        exp = start_redis_exporter(
            tmp_path,
            "--redis.addr=",
            f"--redis.password-file={write_password_file(tmp_path / 'pw.json', passwords)}",
            "--scrape.allowed-targets=" + ",".join(s.address for s in masters),
            env={"REDIS_USER": user},
        )
        try:
            for server in masters:
                for _ in range(2):
                    text = get_ok(exp, scrape_path(server.address))
                    assert value(text, "redis_up") == 1, server.name
                    success = collector_success(text)
                    assert CORE_COLLECTORS <= set(success) and all(v == 1 for v in success.values()), (
                        server.name,
                        success,
                    )
                    assert value(text, "redis_config_maxclients") > 0
                assert refusals(server, user) == [], server.name
        finally:
            exp.stop()
    finally:
        for server in masters:
            delete_user(server, user)


def without_config(rules: list[str]) -> list[str]:
    out = [r for r in rules if not r.lower().startswith(("+config", "+@admin"))]
    assert len(out) == len(rules) - 1, rules
    return out


def test_user_without_config_fails_only_the_config_collector(redis7, tmp_path):
    """Managed Redis forbids CONFIG: config has success 0, logged once; the rest is served."""
    user = "flextime-noconfig"
    password = create_user(redis7, user, without_config(documented_acl()))
    try:
        exp = start_redis_exporter(
            tmp_path, f"--redis.addr=redis://{redis7.address}", env={"REDIS_USER": user, "REDIS_PASSWORD": password}
        )
        try:
            for _ in range(3):
                text = get_ok(exp)
                assert value(text, "redis_up") == 1
                assert last_error(text) == ("", 0)
                success = collector_success(text)
                assert success.pop("config") == 0
                assert success and all(v == 1 for v in success.values()), success
                assert "redis_config_maxclients" not in types(text)
                assert value(text, "redis_connected_clients") >= 1
                assert value(text, "redis_db_keys", db="db0") >= 0  # 16 databases assumed, as Go does
            log = exp.log()
        finally:
            exp.stop()
        said = [line for line in log.splitlines() if "config" in line and ("ERROR" in line or "WARN" in line)]
        assert len(said) == 1, log
        assert "NOPERM" in said[0] and password not in log
    finally:
        delete_user(redis7, user)


def test_config_command_dash_sends_no_config(redis7, tmp_path):
    """--config-command=-: no CONFIG reaches the server (a user without CONFIG is refused nothing,
    commandstats count no CONFIG call) and the config collector has no series."""
    user = "flextime-dash"
    password = create_user(redis7, user, without_config(documented_acl()))
    try:
        redis7.acl_log_reset()
        exp = start_redis_exporter(
            tmp_path,
            f"--redis.addr=redis://{redis7.address}",
            "--config-command=-",
            env={"REDIS_USER": user, "REDIS_PASSWORD": password},
        )
        try:
            get_ok(exp)  # connected
            before = redis7.info("commandstats").get("cmdstat_config|get", "calls=0")
            for _ in range(3):
                text = get_ok(exp)
                assert value(text, "redis_up") == 1
                assert collector_success(text)["config"] == 1
                assert not [n for n in types(text) if n.startswith("redis_config_")]
            after = redis7.info("commandstats").get("cmdstat_config|get", "calls=0")
        finally:
            exp.stop()
        assert before.split(",")[0] == after.split(",")[0], (before, after)
        assert refusals(redis7, user) == []
    finally:
        delete_user(redis7, user)


# ---- 5. multi-target /scrape ------------------------------------------------------------------


@pytest.fixture
def multi(redis7, redis62, valkey81, tmp_path, fake_redis):
    """--redis.addr is redis7 (exporter user, password by REDIS_PASSWORD); the password file has
    valkey81 only; allowed: valkey81, redis62, redis7 and the fake Redis (not the counter)."""
    passwords = write_password_file(tmp_path / "pw.json", {f"redis://{valkey81.address}": valkey81.exporter_password})
    allowed = ",".join((valkey81.address, redis62.address, redis7.address, fake_redis.address))
    exp = start_redis_exporter(
        tmp_path,
        f"--redis.addr=redis://{redis7.address}",
        f"--redis.password-file={passwords}",
        f"--scrape.allowed-targets={allowed}",
        "--log.level=debug",
        env=as_exporter_user(redis7),
    )
    yield exp
    exp.stop()


def test_allowed_target_is_scraped_with_its_own_password(multi, valkey81, redis7):
    text = get_ok(multi, scrape_path(valkey81.address))
    assert value(text, "redis_up") == 1
    info = series(text, "redis_instance_info")[0]
    assert info["tcp_port"] == str(valkey81.port) and info["role"] == "master"
    assert value(text, "redis_connected_slaves") == 1
    assert all(v == 1 for v in collector_success(text).values())
    assert not [n for n in types(text) if n.startswith(("process_", "flextime_exporter_", "promhttp_"))]
    # the same target as a URI, and the configured address itself (with --redis.password)
    assert value(get_ok(multi, scrape_path(f"redis://{valkey81.address}")), "redis_up") == 1
    assert value(get_ok(multi, scrape_path(f"valkey://{valkey81.address}")), "redis_up") == 1
    assert value(get_ok(multi, scrape_path(redis7.address)), "redis_up") == 1
    # /metrics is still the configured target
    own = get_ok(multi)
    assert value(own, "redis_up") == 1 and series(own, "redis_instance_info")[0]["tcp_port"] == str(redis7.port)


REFUSED = [  # target, what the 400 says
    ("127.0.0.1:{port}", "target 127.0.0.1:{port} is not allowed by --scrape.allowed-targets"),
    ("redis://127.0.0.1:{port}/0", "target 127.0.0.1:{port} is not allowed"),
    ("localhost:{redis7}", "target localhost:{redis7} is not allowed"),
    ("rediss://:{canary}@127.0.0.1:{port}", "target 127.0.0.1:{port} is not allowed"),
    ("http://127.0.0.1:{port}", "unknown scheme 'http'"),
    ("127.0.0.1:notaport", "target redis://127.0.0.1:notaport: the port is not a number"),
    ("", "the target parameter is missing"),
]


def test_refused_targets_are_400_and_never_connect(multi, redis7):
    counter = FakeRedis()  # listens on a port nobody allowed
    try:
        fill = {"port": counter.port, "redis7": redis7.port, "canary": redis7.exporter_password}
        for target, needle in REFUSED:
            resp = multi.get(scrape_path(target.format(**fill)))
            assert resp.status == 400, (target, resp.text)
            assert needle.format(**fill) in resp.text, resp.text
            assert len(resp.text.strip().splitlines()) == 1
            assert redis7.exporter_password not in resp.text
        time.sleep(0.3)
        assert counter.accepted == 0
    finally:
        counter.close()
    assert redis7.exporter_password not in multi.log()
    # counted as redis_exporter counts them, on /metrics
    assert value(get_ok(multi), "redis_target_scrape_request_errors_total") == len(REFUSED)


def test_global_password_goes_to_its_own_address_only(multi, redis62, redis7, fake_redis):
    """--redis.password belongs to --redis.addr: an allowed address without a password-file
    entry gets no password (redis_up 0, authentication failed), and a host that records what it
    receives never sees a password, nor one the request carried."""
    text = get_ok(multi, scrape_path(redis62.address))
    assert value(text, "redis_up") == 0
    assert last_error(text) == ("authentication failed", 1)
    # the password in the request is dropped (it would be the right one here)
    text = get_ok(multi, scrape_path(f"redis://:{redis62.password}@{redis62.address}"))
    assert value(text, "redis_up") == 0 and last_error(text)[0] == "authentication failed"
    text = get_ok(multi, scrape_path(f"redis://default:{redis62.password}@{redis62.address}"))
    assert value(text, "redis_up") == 0
    # the fake Redis sees what would be sent: no AUTH, no password of any kind
    for target in (fake_redis.address, f"redis://:{redis7.exporter_password}@{fake_redis.address}"):
        t = time.monotonic()
        text = get_ok(multi, scrape_path(target), timeout_header=1.5)
        assert time.monotonic() - t < 1.5
        assert value(text, "redis_up") == 0 and last_error(text) == ("timeout", 1)
    assert fake_redis.accepted >= 1
    received = bytes(fake_redis.received)
    assert b"SETNAME" in received, received  # it did talk to the host...
    for secret in (*redis7.canaries, *redis62.canaries):
        assert secret.encode() not in received, received  # ... and never sent it a password
    assert b"AUTH" not in received.upper(), received


# ---- 7. passwords never shown -----------------------------------------------------------------


def test_canary_passwords_never_shown(redis7, redis62, valkey81, tmp_path):
    """Right and wrong passwords, in the environment, a URI and a password file, with debug
    logging: no canary in any page, scrape, error, log line or label."""
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    canaries = [*redis7.canaries, *redis62.canaries, *valkey81.canaries]
    passwords = write_password_file(tmp_path / "pw.json", {f"redis://{redis62.address}": redis62.exporter_password})
    allowed = f"--scrape.allowed-targets={redis62.address},{valkey81.address}"
    good = start_redis_exporter(
        tmp_path,
        f"--redis.addr=redis://{redis7.address}",
        f"--redis.password-file={passwords}",
        allowed,
        "--log.level=debug",
        env=as_exporter_user(redis7),
    )
    bad = start_redis_exporter(
        wrong,
        "--log.level=debug",
        env={"REDIS_ADDR": f"redis://exporter:{redis7.exporter_password}-wrong@{redis7.address}"},
    )
    try:
        seen = []
        for exp in (good, bad):
            for path in ("/metrics", "/", "/health", "/ready", "/live", "/metrics?collect[]=nosuch"):
                seen.append(exp.get(path).text)
        assert value(seen[0], "redis_up") == 1
        assert value(seen[6], "redis_up") == 0 and last_error(seen[6]) == ("authentication failed", 1)
        for target in (
            redis62.address,
            valkey81.address,
            f"redis://:{valkey81.password}@{valkey81.address}",
            f"redis://exporter:{redis7.exporter_password}@127.0.0.1:1",
            f"redis://:{redis62.password}@",
        ):
            resp = good.get(scrape_path(target))
            seen.append(resp.text)
            if resp.status == 200:
                assert last_error(resp.text)[0] in ERROR_CLASSES
        assert value(seen[12], "redis_up") == 1 and value(seen[13], "redis_up") == 0
        for text in seen:
            if "redis_exporter_last_scrape_error" in text:
                assert last_error(text)[0] in ERROR_CLASSES, text
        time.sleep(0.2)
        seen += [good.log(), bad.log()]
        assert "GET /scrape?[target]" in good.log()  # the access log keeps parameter names only
        assert "authentication failed" in bad.log()
    finally:
        good.stop()
        bad.stop()
    for text in seen:
        for canary in canaries:
            assert canary not in text


def client_list(server: RedisServer) -> list[dict[str, str]]:
    """CLIENT LIST as one dict a connection (id, addr, name, user, ...)."""
    return [
        dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        for line in server.raw("CLIENT", "LIST").splitlines()
        if line
    ]


# ---- 9. redis_exporter's environment variables ------------------------------------------------


def test_redis_exporter_environment_variables(redis7, tmp_path):
    exp = start_redis_exporter(
        tmp_path,
        env={
            "REDIS_ADDR": f"redis://{redis7.address}",
            "REDIS_USER": redis7.exporter_user,
            "REDIS_PASSWORD": redis7.exporter_password,
            "REDIS_EXPORTER_CONFIG_COMMAND": "-",
            "REDIS_EXPORTER_INCLUDE_SYSTEM_METRICS": "true",
            "REDIS_EXPORTER_SET_CLIENT_NAME": "false",
            "REDIS_EXPORTER_SCRAPE_ALLOWED_TARGETS": redis7.replica.address,
            "REDIS_PASSWORD_FILE": write_password_file(
                tmp_path / "pw.json", {f"redis://{redis7.replica.address}": redis7.replica.exporter_password}
            ),
        },
    )
    try:
        text = get_ok(exp)
        assert value(text, "redis_up") == 1
        assert series(text, "redis_instance_info")[0]["tcp_port"] == str(redis7.port)
        assert "redis_config_maxclients" not in types(text)  # REDIS_EXPORTER_CONFIG_COMMAND=-
        assert value(text, "redis_total_system_memory_bytes") > 0  # REDIS_EXPORTER_INCLUDE_SYSTEM_METRICS
        # REDIS_EXPORTER_SET_CLIENT_NAME=false: no connection of ours is named
        names = [c.get("name") for c in client_list(redis7) if c.get("user") == redis7.exporter_user]
        assert names and "flextime-exporter" not in names, names
        replica = get_ok(exp, scrape_path(redis7.replica.address))
        assert value(replica, "redis_up") == 1 and value(replica, "redis_master_link_up") == 1
    finally:
        exp.stop()


def test_a_host_glob_never_matches_a_socket_path(tmp_path, redis7):
    """'*.corp.test:6379' allows host names under corp.test; unix:///…/evil.corp.test:6379 is a socket
    path that merely looks like one: HTTP 400, and the socket there sees no connection (and so no
    password). A socket is allowed only by its exact path."""
    import os
    import socket
    import tempfile
    import threading

    base = tempfile.mkdtemp(prefix="rsock-", dir="/tmp")
    os.makedirs(os.path.join(base, "x"))
    path = os.path.join(base, "x", "evil.corp.test:6379")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    passwords = write_password_file(tmp_path / "pw.json", {f"unix://{path}": redis7.exporter_password})
    exp = start_redis_exporter(
        tmp_path,
        "--redis.addr=",
        "--scrape.allowed-targets=*.corp.test:6379,*:*",
        f"--redis.password-file={passwords}",
        env=as_exporter_user(redis7),
    )
    try:
        for target in (f"unix://{path}", f"unix://{path}?db=0"):
            resp = exp.get(scrape_path(target))
            assert resp.status == 400 and "is not allowed by --scrape.allowed-targets" in resp.text, resp.text
        time.sleep(0.3)
        assert accepted == []
        # the exact path allows it (the listener then gets a connection: it is what was allowed)
        (tmp_path / "exact").mkdir()
        exact = start_redis_exporter(
            tmp_path / "exact", "--redis.addr=", "--connection-timeout=1s", f"--scrape.allowed-targets={path}"
        )
        try:
            resp = exact.get(scrape_path(f"unix://{path}"))
            assert resp.status == 200, resp.text
        finally:
            exact.stop()
    finally:
        exp.stop()
        listener.close()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "pattern,needle",
    [
        ("/run/redis/*.sock", "a socket path is matched exactly, without globs"),
        ("cache-1:63x9", "is not a port number or a glob of one"),
        ("cache 1:6379", "cannot match a host name"),
    ],
)
def test_an_allowlist_pattern_that_cannot_match_stops_start_up(tmp_path, pattern, needle):
    import subprocess

    from conftest import exporter_cmd

    proc = subprocess.run(
        exporter_cmd(
            "redis", "--redis.addr=", f"--scrape.allowed-targets={pattern}", "--web.listen-address=127.0.0.1:0"
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "--scrape.allowed-targets" in lines[0], proc.stderr


def test_a_port_glob_is_a_port_pattern(tmp_path, redis7):
    """'127.0.0.1:<first digits>*' is read as a port glob (it was read as a host pattern on port 6379)."""
    port = str(redis7.port)
    passwords = write_password_file(tmp_path / "pw.json", {f"redis://{redis7.address}": redis7.exporter_password})
    exp = start_redis_exporter(
        tmp_path,
        "--redis.addr=",
        f"--scrape.allowed-targets=127.0.0.1:{port[:-1]}*",
        f"--redis.password-file={passwords}",
        env={"REDIS_USER": redis7.exporter_user},
    )
    try:
        assert value(get_ok(exp, scrape_path(redis7.address)), "redis_up") == 1
    finally:
        exp.stop()
