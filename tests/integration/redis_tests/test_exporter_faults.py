"""Faults, bad input and TLS: a Redis that stops and comes back, one that never answers, many
concurrent scrapers on one kept connection, start-up refusing bad flags in one line, and
rediss:// with a CA, a server name, a client certificate and skip-verify against a real TLS
redis-server."""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, exporter_cmd, free_port, value

from .conftest import _binary_version, _cleanup, _new_server, _quiet_client_kwargs, _redis_module, debian_redis_binary
from .test_exporter import (
    collector_success,
    get_ok,
    last_error,
    series,
    start_redis_exporter,
    types,
    write_password_file,
)

SCRAPE_HEADER = 2.0  # X-Prometheus-Scrape-Timeout-Seconds of the fault scrapes: the answer must beat it


@pytest.fixture(scope="module")
def own_redis():
    """A Redis 7 master of this module alone (stop() and start() lose its data and would disturb
    the shared fixtures' other users)."""
    _redis_module()
    binary = debian_redis_binary()
    flavor, version = _binary_version(binary)
    server = _new_server("faults", "master", binary, flavor, version, "canary-redis-" + secrets.token_hex(12))
    try:
        server.start()
        yield server
    finally:
        _cleanup(server)


def client_list(server) -> list[dict[str, str]]:
    return [
        dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        for line in server.raw("CLIENT", "LIST").splitlines()
        if line
    ]


def ours_connected(server) -> int:
    return sum(1 for c in client_list(server) if c.get("name") == "flextime-exporter")


def timed_get(exp, path="/metrics"):
    t = time.monotonic()
    resp = exp.get(path, headers={"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_HEADER)})
    return resp, time.monotonic() - t


# ---- 4. faults ----------------------------------------------------------------------------------


def test_server_stopped_and_started_again(own_redis, tmp_path):
    exp = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{own_redis.address}", env={"REDIS_PASSWORD": own_redis.password}
    )
    try:
        assert value(get_ok(exp), "redis_up") == 1
        assert exp.get("/health").status == 200
        own_redis.stop()
        try:
            for _ in range(2):
                resp, took = timed_get(exp)
                assert resp.status == 200 and took < SCRAPE_HEADER, took
                assert value(resp.text, "redis_up") == 0
                assert last_error(resp.text) == ("connection failed", 1)
                assert collector_success(resp.text)["info"] == 0
                assert "redis_connected_clients" not in types(resp.text)  # nothing stale
            health = exp.get("/health")
            assert health.status == 503 and "connection failed" in health.text
        finally:
            own_redis.start()
        text = get_ok(exp)  # the very next scrape, the same exporter process
        assert value(text, "redis_up") == 1
        assert last_error(text) == ("", 0)
        assert all(v == 1 for v in collector_success(text).values())
        assert exp.get("/health").status == 200
        log = exp.log()
    finally:
        exp.stop()
    assert log.count("connection failed") == 1, log  # said once, not every scrape
    assert "again" in log and own_redis.password not in log


def test_server_that_never_answers_costs_one_deadline(tmp_path, fake_redis):  # noqa: F811 (the fixture)
    exp = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{fake_redis.address}", env={"REDIS_PASSWORD": "canary-redis-unused"}
    )
    try:
        for _ in range(2):
            resp, took = timed_get(exp)
            assert resp.status == 200 and took < SCRAPE_HEADER, took
            assert value(resp.text, "redis_up") == 0
            assert last_error(resp.text) == ("timeout", 1)
        assert fake_redis.accepted >= 1
    finally:
        exp.stop()


def test_concurrent_scrapers_share_one_kept_connection(own_redis, tmp_path):
    """8 scrapers for 10 s, half of them asking for another collector set (scrapes that cannot
    be coalesced): at most 2 connections of ours at any time, and no new connection per scrape."""
    exp = start_redis_exporter(
        tmp_path, f"--redis.addr=redis://{own_redis.address}", env={"REDIS_PASSWORD": own_redis.password}
    )
    try:
        assert value(get_ok(exp), "redis_up") == 1
        received = int(own_redis.info("stats")["total_connections_received"])
        stop = time.monotonic() + 10
        errors: list = []
        done = [0]

        def scraper(path: str) -> None:
            while time.monotonic() < stop:
                resp = exp.get(path)
                failed = [
                    line
                    for line in resp.text.splitlines()
                    if line.startswith("redis_scrape_collector_success") and not line.endswith(" 1")
                ]
                if resp.status != 200 or "redis_up 1" not in resp.text or failed:
                    errors.append((resp.status, failed or resp.text[:200]))
                done[0] += 1

        threads = [
            threading.Thread(target=scraper, args=("/metrics" if i % 2 else "/metrics?collect[]=info",))
            for i in range(8)
        ]
        for t in threads:
            t.start()
        most = 0
        while time.monotonic() < stop:
            most = max(most, ours_connected(own_redis))
            time.sleep(0.25)
        for t in threads:
            t.join(20)
        text = get_ok(exp)
        new_connections = int(own_redis.info("stats")["total_connections_received"]) - received
    finally:
        exp.stop()
    assert not errors, errors[:3]
    assert 1 <= most <= 2, most
    assert done[0] > 100, done[0]
    assert value(text, "redis_exporter_scrapes_total") > 50
    assert new_connections <= 2, new_connections


# ---- 6. bad input -------------------------------------------------------------------------------

CANARY = "canary-redis-" + secrets.token_hex(8)


def bad_input_cases(tmp: Path) -> list[tuple[list[str], dict, str]]:
    """(args, env, what the one line must say)."""
    (tmp / "garbage.pem").write_text(f"not a certificate {CANARY}\n")
    (tmp / "truncated.json").write_text(f'{{"redis://127.0.0.1:6379": "{CANARY}"')
    (tmp / "badkey.json").write_text(f'{{"http://127.0.0.1:6379": "{CANARY}"}}')
    (tmp / "adir").mkdir(exist_ok=True)
    return [
        (
            [],
            {"REDIS_ADDR": f"http://:{CANARY}@127.0.0.1:6379"},
            "--redis.addr http://@127.0.0.1:6379: unknown scheme 'http'",
        ),
        (
            [],
            {"REDIS_ADDR": f"redis://:{CANARY}@127.0.0.1:notaport"},
            "--redis.addr redis://@127.0.0.1:notaport: the port",
        ),
        ([], {"REDIS_ADDR": f"redis://:{CANARY}@127.0.0.1:99999"}, "--redis.addr redis://@127.0.0.1:99999: the port"),
        ([], {"REDIS_ADDR": f"redis://:{CANARY}/x@127.0.0.1:6379"}, "--redis.addr redis://@127.0.0.1:6379"),
        (
            [],
            {"REDIS_ADDR": f"redis://:{CANARY}@127.0.0.1:6379/x"},
            "redis://@127.0.0.1:6379/x: database 'x' is not a number",
        ),
        (
            ["--redis.password-file=/nonexistent/pw.json"],
            {},
            "--redis.password-file /nonexistent/pw.json: No such file",
        ),
        ([f"--redis.password-file={tmp / 'adir'}"], {}, f"--redis.password-file {tmp / 'adir'}: Is a directory"),
        ([f"--redis.password-file={tmp / 'truncated.json'}"], {}, "not valid JSON"),
        ([f"--redis.password-file={tmp / 'badkey.json'}"], {}, "unknown scheme 'http'"),
        (["--tls-ca-cert-file=/nonexistent/ca.pem"], {}, "--tls-ca-cert-file /nonexistent/ca.pem: No such file"),
        (
            ["--tls-client-cert-file=/etc/hostname", "--tls-client-key-file=/nonexistent/k.pem"],
            {},
            "--tls-client-key-file /nonexistent/k.pem: No such file",
        ),
        ([f"--tls-ca-cert-file={tmp / 'garbage.pem'}"], {}, f"--tls-ca-cert-file {tmp / 'garbage.pem'}: no PEM"),
        (
            [f"--tls-client-cert-file={tmp / 'garbage.pem'}"],
            {},
            f"--tls-client-cert-file {tmp / 'garbage.pem'}: not a PEM",
        ),
        (["--connection-timeout=soon"], {}, "--connection-timeout"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "FLEXTIME_REDIS"))}
    cases = bad_input_cases(tmp_path)
    procs = [
        subprocess.Popen(
            exporter_cmd("redis", f"--web.listen-address=127.0.0.1:{free_port()}", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**clean, **env},
        )
        for args, env, _ in cases
    ]  # all at once
    problems = []
    for proc, (args, env, needle) in zip(procs, cases):
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        lines = stderr.strip().splitlines()
        if (
            proc.returncode != 2
            or len(lines) != 1
            or needle not in lines[0]
            or "Traceback" in stderr
            or CANARY in stderr + stdout
        ):
            problems.append(f"{args} {env}: exit {proc.returncode}: {stderr.strip()[:400]}")
    assert not problems, "\n".join(problems)


# ---- 8. TLS to Redis ------------------------------------------------------------------------------

SERVER_NAME = "redis.flextime.test"  # the only name in the server's certificate (no IP address)


def _certificates(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for SERVER_NAME and a client certificate signed by it, and an
    unrelated CA; PEM files in ``tmp``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    out: dict[str, Path] = {}

    def write(name: str, cert, key) -> None:
        (tmp / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = tmp / f"{name}.key"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        out[name], out[f"{name}_key"] = tmp / f"{name}.crt", key_path

    def ca(name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write(name, cert, key)
        return cert, key

    def leaf(name: str, issuer, usage, sans) -> None:
        ca_cert, ca_key = issuer
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        write(name, builder.sign(ca_key, hashes.SHA256()), key)

    issuer = ca("ca")
    ca("other_ca")
    leaf("server", issuer, ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName(SERVER_NAME)])
    leaf("client", issuer, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return out


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """Debian's redis-server on a TLS port only, requiring client certificates (tls-auth-clients
    yes), with a canary admin password; the certificates made here."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("the Python package cryptography is not installed: pip install -e '.[test]'")
        pytest.skip("the Python package cryptography is not installed")
    redis_py = _redis_module()
    binary = debian_redis_binary()
    tmp = tmp_path_factory.mktemp("tls-redis")
    certs = _certificates(tmp)
    port = free_port()
    password = "canary-redis-" + secrets.token_hex(12)
    conf = tmp / "tls.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    "port 0",
                    f"tls-port {port}",
                    f"dir {tmp}",
                    'logfile ""',
                    'save ""',
                    "appendonly no",
                    f"requirepass {password}",
                    f"tls-cert-file {certs['server']}",
                    f"tls-key-file {certs['server_key']}",
                    f"tls-ca-cert-file {certs['ca']}",
                    "tls-auth-clients yes",
                    "",
                ]
            )
        )
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [str(binary), str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
        env={k: v for k, v in os.environ.items() if not k.startswith("REDIS")},
    )
    client = redis_py.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        ssl=True,
        ssl_ca_certs=str(certs["ca"]),
        ssl_certfile=str(certs["client"]),
        ssl_keyfile=str(certs["client_key"]),
        ssl_check_hostname=False,
        socket_timeout=2,
        socket_connect_timeout=2,
        **_quiet_client_kwargs(redis_py),
    )
    try:
        end = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                text = (tmp / "server.log").read_text()
                if "tls" in text.lower() and ("support" in text.lower() or "bad directive" in text.lower()):
                    # a redis-server built without TLS (Debian's has it: BUILD_TLS=yes)
                    message = f"{binary} has no TLS support: {text.strip().splitlines()[-1]}"
                    if IN_CI:
                        pytest.fail(message)
                    pytest.skip(message)
                raise RuntimeError(f"TLS redis-server exited: {text[-2000:]}")
            try:
                if client.ping():
                    break
            except redis_py.RedisError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"TLS redis-server did not answer: {(tmp / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        yield {"address": f"127.0.0.1:{port}", "password": password, **certs}
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_tls_to_redis(tls_redis, tmp_path):
    t = tls_redis
    client = [f"--tls-client-cert-file={t['client']}", f"--tls-client-key-file={t['client_key']}"]
    cases = [  # flags, redis_up: every case in one exporter each, started together
        (
            "CA, server name, client certificate",
            [f"--tls-ca-cert-file={t['ca']}", f"--tls-server-name={SERVER_NAME}", *client],
            1,
        ),
        ("skip verification, client certificate", ["--skip-tls-verification", *client], 1),
        (
            "CA and client certificate, but the address is not the certificate's name",
            [f"--tls-ca-cert-file={t['ca']}", *client],
            0,
        ),
        (
            "CA, a server name not in the certificate",
            [f"--tls-ca-cert-file={t['ca']}", "--tls-server-name=other.test", *client],
            0,
        ),
        ("another CA", [f"--tls-ca-cert-file={t['other_ca']}", f"--tls-server-name={SERVER_NAME}", *client], 0),
        ("no client certificate", [f"--tls-ca-cert-file={t['ca']}", f"--tls-server-name={SERVER_NAME}"], 0),
    ]
    started = []
    try:
        for i, (_, flags, _) in enumerate(cases):
            d = tmp_path / str(i)
            d.mkdir()
            started.append(
                start_redis_exporter(
                    d, f"--redis.addr=rediss://{t['address']}", *flags, env={"REDIS_PASSWORD": t["password"]}
                )
            )
        problems = []
        for exp, (what, _, up) in zip(started, cases):
            resp, took = timed_get(exp)
            got = value(resp.text, "redis_up") if resp.status == 200 else None
            err = last_error(resp.text) if resp.status == 200 else None
            if got != up or took >= SCRAPE_HEADER or err != (("", 0) if up else ("connection failed", 1)):
                problems.append(f"{what}: redis_up {got}, {err}, {took:.2f}s (want {up})")
            if up and resp.status == 200:
                assert series(resp.text, "redis_instance_info")[0]["tcp_port"] == t["address"].split(":")[1]
        assert not problems, "\n".join(problems)
        for exp in started:
            assert t["password"] not in exp.log()
    finally:
        for exp in started:
            exp.stop()


def test_tls_target_with_password_file(tls_redis, tmp_path):
    """rediss:// on /scrape: the TLS flags apply, the password comes from the file."""
    t = tls_redis
    passwords = write_password_file(tmp_path / "pw.json", {f"rediss://{t['address']}": t["password"]})
    exp = start_redis_exporter(
        tmp_path,
        "--redis.addr=",
        f"--scrape.allowed-targets={t['address']}",
        f"--redis.password-file={passwords}",
        f"--tls-ca-cert-file={t['ca']}",
        f"--tls-server-name={SERVER_NAME}",
        f"--tls-client-cert-file={t['client']}",
        f"--tls-client-key-file={t['client_key']}",
    )
    try:
        text = get_ok(exp, f"/scrape?target=rediss://{t['address']}")
        assert value(text, "redis_up") == 1
        plain = get_ok(exp, f"/scrape?target=redis://{t['address']}", timeout_header=SCRAPE_HEADER)
        assert value(plain, "redis_up") == 0  # plain text to a TLS port fails cleanly
        assert last_error(plain)[0] in ("connection failed", "timeout")
    finally:
        exp.stop()


from .test_exporter import fake_redis  # noqa: E402,F401  (the fixture, found here)
