"""Every flag of redis_exporter 1.69 and 1.45, read from both binaries' ``-help`` at run time, given to
ours in Go's single-dash spelling in one start; and what the flags that are about the exporter itself
do: --namespace, --redis-only-metrics, --ping-on-connect, --include-config-metrics with
--redact-config-metrics, --debug, --log-format, --basic-auth-*, --tls-server-*, /-/reload."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time

import pytest
from test_webconfig import PKI, pki  # noqa: F401  (pki is a fixture: a throwaway CA, server and client certs)

from conftest import (
    ROOT,
    exporter_cmd,
    free_port,
    http_get,
    newer_go_binary,
    require_program,
    samples,
    stop_process,
    value,
)

from .conftest import seed_keys
from .test_exporter import (
    as_exporter_user,
    collector_success,
    get_ok,
    last_error,
    series,
    start_redis_exporter,
    types,
    write_password_file,
)

OTHER_HELPER_FLAGS: set[str] = set()  # flags of 1.69 still being built elsewhere: none


def go_flags(binary: str) -> dict[str, str]:
    """{flag name: Go type ("string", "int", "bool")} from ``binary -help``."""
    out = subprocess.run([binary, "-help"], capture_output=True, text=True, timeout=20)
    flags = dict(re.findall(r"^  -(\S+)(?: (\w+))?$", out.stderr + out.stdout, re.M))
    assert len(flags) > 30, out.stderr[:2000]
    return {name: kind or "bool" for name, kind in flags.items()}


@pytest.fixture(scope="module")
def both_help_outputs() -> dict[str, str]:
    old = go_flags(require_program("prometheus-redis-exporter"))
    new = go_flags(newer_go_binary("prometheus-redis-exporter"))
    assert set(old) - set(new) == set(), "1.45 had a flag 1.69 dropped: it must be accepted too"
    return {**old, **new}


def https_get(url: str, pki: PKI, auth: tuple[str, str] | None = None, cert: str | None = "client"):  # noqa: F811
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()} if auth else None
    return http_get(url, headers, context=pki.client(cert))


def test_every_flag_of_both_help_outputs_in_go_spelling(both_help_outputs, redis7, pki, tmp_path):  # noqa: F811
    seed_keys(redis7)
    port = free_port()
    password_file = write_password_file(
        tmp_path / "passwords.json", {f"redis://{redis7.address}": redis7.exporter_password}
    )
    script = tmp_path / "read-only.lua"
    script.write_text('return {"seed_keys", tostring(#redis.call("KEYS", "flextime:seed:*"))}\n')
    values = {  # a value for each flag that takes one (booleans are given as -flag or -flag=false)
        "redis.addr": f"redis://{redis7.address}",
        "redis.user": redis7.exporter_user,
        "redis.password": "",
        "redis.password-file": password_file,
        "namespace": "flexns",
        "check-keys": "db0=flextime:seed:str:*",
        "check-single-keys": "db0=flextime:seed:greeting",
        "check-streams": "db0=flextime:seed:stream*",
        "check-single-streams": "db0=flextime:seed:stream",
        "count-keys": "db0=flextime:seed:*",
        "check-keys-batch-size": "100",
        "config-command": "CONFIG",
        "connection-timeout": "5s",
        "log-format": "json",
        "tls-ca-cert-file": pki.path("ca.crt"),
        "tls-client-cert-file": pki.path("client.crt"),
        "tls-client-key-file": pki.path("client.key"),
        "tls-server-cert-file": pki.path("server.crt"),
        "tls-server-key-file": pki.path("server.key"),
        "tls-server-ca-cert-file": pki.path("ca.crt"),
        "tls-server-min-version": "TLS1.2",
        "basic-auth-username": "scraper",
        "basic-auth-password": "scrape-secret",
        "web.listen-address": f"127.0.0.1:{port}",
        "web.telemetry-path": "/redis-metrics",
        "check-key-groups": "^(flextime):",
        "max-distinct-key-groups": "50",
        "script": str(script),
    }
    false_spelled = {"set-client-name", "redact-config-metrics"}  # default true: -flag=false, Go's spelling
    args = []
    for name, kind in sorted(both_help_outputs.items()):
        if name in OTHER_HELPER_FLAGS or name == "version":  # -version exits: below
            continue
        if kind == "bool":
            args.append(f"-{name}=false" if name in false_spelled else f"-{name}")
        else:
            assert name in values, f"no test value for -{name} ({kind}): a new flag?"
            args += [f"-{name}", values[name]] if name in ("redis.addr", "namespace") else [f"-{name}={values[name]}"]
    log = open(tmp_path / "ours.log", "w")
    env = {"REDIS_PASSWORD": "", "REDIS_USER": "", "REDIS_ADDR": "", "REDIS_PASSWORD_FILE": ""}
    proc = subprocess.Popen(
        exporter_cmd("redis", *args), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env}
    )
    try:
        url = f"https://127.0.0.1:{port}/redis-metrics"
        end = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "ours.log").read_text()
            try:
                resp = https_get(url, pki, ("scraper", "scrape-secret"))
                break
            except OSError:
                assert time.monotonic() < end, (tmp_path / "ours.log").read_text()
                time.sleep(0.1)
        assert resp.status == 200, resp.text[:500]
        text = resp.text
        names = types(text)
        assert names and all(n.startswith("flexns_") for n in names), sorted(n for n in names if "flexns_" not in n)
        assert value(text, "flexns_up") == 1
        success = {
            dict(k[1])["collector"]: v for k, v in samples(text).items() if k[0] == "flexns_scrape_collector_success"
        }
        # every flag at once asks for what this server and the fixture's minimal ACL user cannot give;
        # only those collectors fail, the rest is served
        cannot = {
            "tile38": "a Redis is not Tile38 (-is-tile38)",
            "keys": "-is-cluster on a server that is no cluster node (CLUSTER SLOTS not granted)",
            "clients": "-export-client-list: CLIENT LIST is not granted to the minimal ACL user",
            "scripts": "-script: EVAL_RO is not granted to the minimal ACL user",
        }
        assert {c for c, v in success.items() if v == 0} == set(cannot), success
        # (the key checks' families are left out: -is-cluster fails the keys collector here, above)
        for family in (
            "flexns_exporter_last_scrape_ping_time_seconds",
            "flexns_config_key_value",
            "flexns_config_client_output_buffer_limit_bytes",
        ):
            assert family in names, family
        assert "flexns_exporter_build_info" not in names  # -redis-only-metrics
        assert not any(k.startswith(("process_", "promhttp_", "flextime_")) for k in names)
        assert redis7.password not in text and redis7.exporter_password not in text
        # TLS with client certificates and basic auth are both required
        assert https_get(url, pki).status == 401
        assert https_get(url, pki, ("scraper", "wrong")).status == 401
        with pytest.raises(OSError):
            https_get(url, pki, ("scraper", "scrape-secret"), cert=None)
        with pytest.raises(OSError):
            http_get(f"http://127.0.0.1:{port}/redis-metrics", timeout=3)
        # -set-client-name=false: none of the server's clients is named by us
        assert "flextime-exporter" not in redis7.cli("CLIENT", "LIST")
    finally:
        stop_process(proc)
        log.close()
    lines = (tmp_path / "ours.log").read_text().splitlines()
    assert lines and all(json.loads(line)["message"] for line in lines)  # -log-format json
    assert any(json.loads(line)["level"] == "DEBUG" for line in lines)  # -debug
    assert not any("scrape-secret" in line or redis7.exporter_password in line for line in lines)


def test_our_help_names_every_go_flag(both_help_outputs):
    out = subprocess.run(exporter_cmd("redis", "--help"), capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    missing = [n for n in both_help_outputs if n not in OTHER_HELPER_FLAGS and f"--{n}" not in out]
    assert not missing, missing


@pytest.mark.parametrize("spelling", ["-version", "--version"])
def test_version_prints_and_exits(spelling):
    out = subprocess.run(exporter_cmd("redis", spelling), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0 and re.match(r"flextime-exporter redis, version \S+", out.stdout), out


@pytest.mark.parametrize(
    "args,problem",
    [
        (
            ("-basic-auth-username=u", "-basic-auth-password=p", "-basic-auth-hash-password=$2y$10$x"),
            "cannot be combined",
        ),
        (("-basic-auth-password=p",), "needs --basic-auth-username"),
        (("-tls-server-cert-file=/nonexistent.crt",), "go together"),
        (("-tls-server-min-version=TLS9",), None),
        (("-namespace=my-ns",), "--namespace"),
        (("-debug=maybe",), None),
    ],
)
def test_bad_flag_values_are_one_line_and_exit_2(args, problem, tmp_path, pki):  # noqa: F811
    if args == ("-tls-server-min-version=TLS9",):
        args = (
            f"-tls-server-cert-file={pki.path('server.crt')}",
            f"-tls-server-key-file={pki.path('server.key')}",
            *args,
        )
        problem = "TLS9"
    out = subprocess.run(
        exporter_cmd("redis", "-redis.addr=", *args), capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 2, out
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    if problem:
        assert problem in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_basic_auth_hash_password(redis7, tmp_path):
    import bcrypt

    hashed = bcrypt.hashpw(b"from-a-hash", bcrypt.gensalt(4)).decode()
    exp = start_redis_exporter(
        tmp_path,
        f"-redis.addr=redis://{redis7.address}",
        "-basic-auth-username=scraper",
        f"-basic-auth-hash-password={hashed}",
        env=as_exporter_user(redis7),
        wait_path="/metrics",
    )
    try:
        assert exp.get("/metrics").status == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"scraper:from-a-hash").decode()}
        resp = exp.get("/metrics", headers=good)
        assert resp.status == 200 and value(resp.text, "redis_up") == 1
        assert exp.get("/health", headers=good).status == 200
    finally:
        exp.stop()


def test_namespace_on_scrape_too(redis7, tmp_path):
    passwords = write_password_file(tmp_path / "p.json", {f"redis://{redis7.address}": redis7.exporter_password})
    exp = start_redis_exporter(
        tmp_path,
        "--redis.addr=",
        "-namespace",
        "cache",
        f"-redis.password-file={passwords}",
        f"--scrape.allowed-targets={redis7.address}",
        env={"REDIS_USER": redis7.exporter_user},
    )
    try:
        text = get_ok(exp, f"/scrape?target={redis7.address}")
        assert all(n.startswith("cache_") for n in types(text)), sorted(types(text))
        assert value(text, "cache_up") == 1 and "cache_db_keys" in types(text)
        own = get_ok(exp)  # /metrics: the exporter's own, under the namespace where redis_exporter has them
        assert "cache_target_scrape_request_errors_total" in types(own) and "cache_exporter_build_info" in types(own)
        assert "redis_target_scrape_request_errors_total" not in types(own)
    finally:
        exp.stop()


def test_include_config_metrics_never_exports_a_password(redis7, tmp_path):
    exp = start_redis_exporter(
        tmp_path,
        f"--redis.addr=redis://{redis7.address}",
        "-include-config-metrics",
        "-redact-config-metrics=false",
        env=as_exporter_user(redis7),
    )
    try:
        text = get_ok(exp)
    finally:
        exp.stop()
    settings = {d["key"]: d["value"] for d in series(text, "redis_config_key_value")}
    assert settings["maxmemory-policy"] == redis7.config_get("maxmemory-policy")["maxmemory-policy"]
    assert value(text, "redis_config_value", key="maxclients") == int(redis7.config_get("maxclients")["maxclients"])
    assert "requirepass" not in settings and "masterauth" not in settings
    assert redis7.password not in text and redis7.exporter_password not in text
    assert collector_success(text)["config"] == 1
    assert "redact-config-metrics=false" in exp.log()  # the warning that it changes nothing


def test_reload_reads_the_password_file_again(redis7, tmp_path):
    path = tmp_path / "passwords.json"
    write_password_file(path, {f"redis://{redis7.address}": "wrong-password"})
    exp = start_redis_exporter(
        tmp_path,
        f"-redis.addr=redis://{redis7.address}",
        f"-redis.password-file={path}",
        env={"REDIS_USER": redis7.exporter_user},
    )
    try:
        assert last_error(get_ok(exp)) == ("authentication failed", 1)
        assert exp.get("/health").status == 503
        write_password_file(path, {f"redis://{redis7.address}": redis7.exporter_password})
        assert value(get_ok(exp), "redis_up") == 1  # read again as it changed (issue 16): no reload needed
        resp = exp.get("/-/reload")
        assert (resp.status, resp.text) == (200, "ok")
        text = get_ok(exp)
        assert value(text, "redis_up") == 1 and last_error(text) == ("", 0)
        assert exp.get("/health").status == 200  # the health check uses the new password too
        path.write_text("{not json")  # a broken file: 500 naming it, the passwords in use kept
        resp = http_get(exp.base + "/-/reload")
        assert resp.status == 500 and str(path) in resp.text and "not valid JSON" in resp.text
        assert value(get_ok(exp), "redis_up") == 1
        log = exp.log()
        assert redis7.exporter_password not in log and redis7.exporter_password not in resp.text
    finally:
        exp.stop()
    no_file = start_redis_exporter(tmp_path, "--redis.addr=")
    try:
        assert no_file.get("/-/reload").status == 400
    finally:
        no_file.stop()


def test_ping_on_connect(redis7, tmp_path):
    exp = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{redis7.address}", "--ping-on-connect", env=as_exporter_user(redis7)
    )
    plain = start_redis_exporter(tmp_path, f"--redis.addr=redis://{redis7.address}", env=as_exporter_user(redis7))
    try:
        text, without = get_ok(exp), get_ok(plain)
    finally:
        exp.stop()
        plain.stop()
    assert 0 < value(text, "redis_exporter_last_scrape_ping_time_seconds") < 5
    assert "redis_exporter_last_scrape_ping_time_seconds" not in types(without)
