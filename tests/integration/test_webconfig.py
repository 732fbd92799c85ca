"""``--web.config.file`` as a user meets it: the exporter-toolkit web-config.yml
(TLS, client certificates, bcrypt basic auth, security headers, rate limit)
against real exporter processes on loopback, with a throwaway PKI made in-process.

Exporters that several tests can share are module-scoped; tests that change a
file or spend a rate-limit budget get their own."""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import os
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import ROOT, exporter_cmd, free_port, http_get, start_exporter

# A small, fast collector set: the web config is what is under test, not the host.
FAST = ("--collector.disable-defaults", "--collector.loadavg")
METRIC = "node_load1"

ALLOWED_SAN = "scraper.allowed.test"
OTHER_SAN = "scraper.other.test"


# ---- throwaway PKI ----------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_cn, key, issuer_cert, issuer_key, *, ca=False, sans=(), usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer = issuer_cert.subject if issuer_cert is not None else _name(subject_cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
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
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(directory: Path, stem: str, cert, key, passphrase: bytes | None = None) -> None:
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    (directory / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    )


@dataclass
class PKI:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def client(self, stem: str | None = None, trust: bool = True) -> ssl.SSLContext:
        """An https client: trusting our CA (or only the system's), optionally with a client cert."""
        ctx = ssl.create_default_context(cafile=self.path("ca.crt") if trust else None)
        if stem:
            ctx.load_cert_chain(self.path(f"{stem}.crt"), self.path(f"{stem}.key"))
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    new_key = lambda: ec.generate_private_key(ec.SECP256R1())  # noqa: E731
    ca_key, rogue_key = new_key(), new_key()
    ca = _cert("flextime test CA", ca_key, None, ca_key, ca=True)
    rogue_ca = _cert("someone else's CA", rogue_key, None, rogue_key, ca=True)
    _write_pair(d, "ca", ca, ca_key)
    _write_pair(d, "rogue-ca", rogue_ca, rogue_key)

    server_key = new_key()
    server = _cert(
        "127.0.0.1",
        server_key,
        ca,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    _write_pair(d, "server", server, server_key)
    _write_pair(d, "server-locked", server, server_key, passphrase=b"correct horse")

    for stem, issuer, issuer_key, san in (
        ("client", ca, ca_key, ALLOWED_SAN),
        ("client-other-san", ca, ca_key, OTHER_SAN),
        ("client-rogue", rogue_ca, rogue_key, ALLOWED_SAN),
    ):
        key = new_key()
        _write_pair(
            d,
            stem,
            _cert(san, key, issuer, issuer_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH, sans=[x509.DNSName(san)]),
            key,
        )
    (d / "garbage.crt").write_text("this is not a certificate\n")
    return PKI(d)


# ---- helpers ----------------------------------------------------------------------------------
def write_config(path: Path, config: dict | str | bytes) -> Path:
    """Write a web config atomically (as config management does), so a running exporter never sees half a file."""
    text = config if isinstance(config, (str, bytes)) else yaml.safe_dump(config, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(text if isinstance(text, bytes) else text.encode())
    os.replace(tmp, path)
    return path


def attempt(url: str, *, context=None, headers: dict | None = None):
    """The HTTP status of one GET, or the name of the error when no HTTP answer came back."""
    try:
        return http_get(url, headers, timeout=5, context=context).status
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None)
        return f"{type(exc).__name__}: {reason if reason is not None else exc}"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bcrypt_hash(password: str | bytes, cost: int = 4) -> str:
    raw = password.encode() if isinstance(password, str) else password
    return bcrypt.hashpw(raw, bcrypt.gensalt(cost)).decode()


def htpasswd_spelling(hashed: str) -> str:
    """``htpasswd -nB`` writes the same algorithm as ``$2y$``."""
    assert hashed.startswith("$2b$")
    return "$2y$" + hashed[4:]


def poll(fn, timeout: float = 5.0):
    """Call fn until it returns something truthy; its last result otherwise."""
    end = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > end:
            return result
        time.sleep(0.1)


def start_with_config(tmp_path: Path, config: dict | str, *args, name="web.yml", **kw):
    path = write_config(tmp_path / name, config)
    return start_exporter(tmp_path, *FAST, f"--web.config.file={path}", *args, **kw), path


# ---- TLS --------------------------------------------------------------------------------------
def _tls_exporter(tmp_path_factory, pki: PKI, tls: dict, client: str | None = None):
    exp, _ = start_with_config(
        tmp_path_factory.mktemp("tls"), {"tls_server_config": tls}, scheme="https", context=pki.client(client)
    )
    return exp


@pytest.fixture(scope="module")
def tls_plain(tmp_path_factory, pki):
    # paths relative to the web config file, as users write them next to it
    tmp = tmp_path_factory.mktemp("tls-plain")
    for name in ("server.crt", "server.key"):
        (tmp / name).write_bytes((pki.dir / name).read_bytes())
    exp, _ = start_with_config(
        tmp,
        {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"}},
        scheme="https",
        context=pki.client(),
    )
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def tls_require(tmp_path_factory, pki):
    exp = _tls_exporter(
        tmp_path_factory,
        pki,
        {
            "cert_file": pki.path("server.crt"),
            "key_file": pki.path("server.key"),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": pki.path("ca.crt"),
        },
        client="client",
    )
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def tls_if_given(tmp_path_factory, pki):
    exp = _tls_exporter(
        tmp_path_factory,
        pki,
        {
            "cert_file": pki.path("server.crt"),
            "key_file": pki.path("server.key"),
            "client_auth_type": "VerifyClientCertIfGiven",
            "client_ca_file": pki.path("ca.crt"),
        },
    )
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def tls_sans(tmp_path_factory, pki):
    exp = _tls_exporter(
        tmp_path_factory,
        pki,
        {
            "cert_file": pki.path("server.crt"),
            "key_file": pki.path("server.key"),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": pki.path("ca.crt"),
            "client_allowed_sans": [ALLOWED_SAN],
        },
        client="client",
    )
    yield exp
    exp.stop()


def test_tls_serves_https_with_our_certificate_and_metrics(tls_plain, pki):
    resp = tls_plain.get("/metrics", context=pki.client())
    assert resp.status == 200
    assert METRIC in resp.text
    served = ssl.get_server_certificate(("127.0.0.1", tls_plain.port))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert((pki.dir / "server.crt").read_text())


def test_tls_plain_http_to_the_https_port_gets_no_metrics(tls_plain):
    result = attempt(f"http://127.0.0.1:{tls_plain.port}/metrics")
    assert result != 200, "plain http was answered on the TLS port"
    assert tls_plain.proc.poll() is None


def test_tls_client_not_trusting_our_ca_refuses_the_server(tls_plain, pki):
    result = attempt(tls_plain.base + "/metrics", context=pki.client(trust=False))
    assert isinstance(result, str) and "CERTIFICATE_VERIFY_FAILED" in result, result


def test_require_client_cert_refuses_a_client_without_one(tls_require, pki):
    result = attempt(tls_require.base + "/metrics", context=pki.client())
    assert isinstance(result, str), f"answered {result} without a client certificate"
    assert tls_require.proc.poll() is None
    assert "Traceback" not in tls_require.log()


def test_require_client_cert_accepts_a_cert_signed_by_the_client_ca(tls_require, pki):
    resp = tls_require.get("/metrics", context=pki.client("client"))
    assert resp.status == 200
    assert METRIC in resp.text


def test_require_client_cert_refuses_a_cert_from_another_ca(tls_require, pki):
    result = attempt(tls_require.base + "/metrics", context=pki.client("client-rogue"))
    assert isinstance(result, str), f"answered {result} to a certificate from another CA"
    assert "Traceback" not in tls_require.log()


def test_verify_if_given_accepts_no_client_cert(tls_if_given, pki):
    resp = tls_if_given.get("/metrics", context=pki.client())
    assert resp.status == 200
    assert METRIC in resp.text


def test_verify_if_given_accepts_a_good_cert_and_refuses_a_foreign_one(tls_if_given, pki):
    assert tls_if_given.get("/metrics", context=pki.client("client")).status == 200
    result = attempt(tls_if_given.base + "/metrics", context=pki.client("client-rogue"))
    assert isinstance(result, str), f"answered {result} to a certificate from another CA"


def test_allowed_sans_lets_a_listed_client_in(tls_sans, pki):
    resp = tls_sans.get("/metrics", context=pki.client("client"))
    assert resp.status == 200
    assert METRIC in resp.text


def test_allowed_sans_refuses_a_ca_signed_cert_whose_san_is_not_listed(tls_sans, pki):
    result = attempt(tls_sans.base + "/metrics", context=pki.client("client-other-san"))
    assert result in (403,) or isinstance(result, str), f"answered {result} to a client whose SAN is not allowed"
    for path in ("/", "/health"):
        assert attempt(tls_sans.base + path, context=pki.client("client-other-san")) != 200


# ---- basic auth and headers -------------------------------------------------------------------
ALICE_PW = "alice-Pa55word"
BOB_PW = "bob:with:colons-s3cret"
LONG_PW = "L0ng-" + "x" * 75 + "-end"  # more than bcrypt's 72 bytes
AUTH_PATHS = ("/metrics", "/health", "/")
SECURITY_HEADERS = {"X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff"}


@pytest.fixture(scope="module")
def auth_users():
    alice = bcrypt_hash(ALICE_PW)
    bob = htpasswd_spelling(bcrypt_hash(BOB_PW))
    # htpasswd hashes what bcrypt can take of a long password: its first 72 bytes
    dora = htpasswd_spelling(bcrypt_hash(LONG_PW.encode()[:72]))
    return {"alice": alice, "bob": bob, "dora": dora}


@pytest.fixture(scope="module")
def auth_exp(tmp_path_factory, auth_users):
    tmp = tmp_path_factory.mktemp("auth")
    exp, _ = start_with_config(
        tmp, {"basic_auth_users": auth_users, "http_server_config": {"headers": SECURITY_HEADERS}}, "--log.level=debug"
    )  # debug turns the access log on: the strictest case for leaks
    yield exp
    exp.stop()


@pytest.mark.parametrize("path", AUTH_PATHS)
@pytest.mark.parametrize("user,password", [("alice", ALICE_PW), ("bob", BOB_PW)], ids=["2b-hash", "2y-htpasswd-hash"])
def test_basic_auth_right_password_gets_in(auth_exp, path, user, password):
    resp = auth_exp.get(path, basic(user, password))
    assert resp.status == 200, resp.text
    if path == "/metrics":
        assert METRIC in resp.text


REFUSALS = {
    "wrong-password": basic("alice", "alice-wrong"),
    "no-header": {},
    "unknown-user": basic("mallory", ALICE_PW),
    "other-users-password": basic("alice", BOB_PW),
    "empty-password": basic("alice", ""),
    "bearer-scheme": {"Authorization": "Bearer " + ALICE_PW},
    "not-base64": {"Authorization": "Basic !!!notbase64"},
    "no-colon": {"Authorization": "Basic " + base64.b64encode(ALICE_PW.encode()).decode()},
}


@pytest.mark.parametrize("path", AUTH_PATHS)
@pytest.mark.parametrize("case", list(REFUSALS))
def test_basic_auth_refusal_is_401_with_a_basic_challenge(auth_exp, path, case):
    resp = auth_exp.get(path, REFUSALS[case])
    assert resp.status == 401
    assert resp.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert METRIC not in resp.text and "healthy" not in resp.text and "<html" not in resp.text.lower()


def test_password_longer_than_72_bytes_is_judged_like_htpasswd_and_go_never_500(auth_exp):
    assert auth_exp.get("/metrics", basic("dora", LONG_PW)).status == 200
    assert auth_exp.get("/metrics", basic("dora", "x" * 100)).status == 401
    assert auth_exp.get("/metrics", basic("mallory", "y" * 100)).status == 401


def test_secrets_never_appear_in_log_or_pages(auth_exp, auth_users):
    for user, password in (("alice", ALICE_PW), ("bob", BOB_PW), ("alice", "alice-wrong"), ("mallory", BOB_PW)):
        auth_exp.get("/metrics", basic(user, password))
    pages = [auth_exp.get(p, basic("alice", ALICE_PW)).text for p in AUTH_PATHS]
    log = auth_exp.log()
    assert "GET /metrics" in log, "the access log is not on: this check would prove nothing"
    secrets = [
        ALICE_PW,
        BOB_PW,
        "alice-wrong",
        *auth_users.values(),
        *(h[7:29] for h in auth_users.values()),  # the salt alone
        basic("alice", ALICE_PW)["Authorization"].split()[1],
        basic("bob", BOB_PW)["Authorization"].split()[1],
    ]
    for secret in secrets:
        assert secret not in log, f"{secret!r} is in the exporter's log"
        for page in pages:
            assert secret not in page, f"{secret!r} is on a page"


@pytest.mark.parametrize(
    "path,headers,status",
    [
        ("/metrics", basic("alice", ALICE_PW), 200),
        ("/", basic("alice", ALICE_PW), 200),
        ("/health", basic("alice", ALICE_PW), 200),
        ("/no-such-page", basic("alice", ALICE_PW), 404),
        ("/metrics", {}, 401),
        ("/metrics?collect[]=nope", basic("alice", ALICE_PW), 400),
    ],
)
def test_security_headers_are_on_every_answer(auth_exp, path, headers, status):
    resp = auth_exp.get(path, headers)
    assert resp.status == status
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, f"{name} missing on the {status} of {path}"


# ---- the file is re-read while running -------------------------------------------------------
def test_a_user_added_to_the_file_gets_in_without_restart(tmp_path):
    alice = bcrypt_hash(ALICE_PW)
    exp, path = start_with_config(tmp_path, {"basic_auth_users": {"alice": alice}})
    try:
        pid = exp.proc.pid
        assert exp.get("/metrics", basic("carol", "carol-pw")).status == 401
        write_config(path, {"basic_auth_users": {"alice": alice, "carol": bcrypt_hash("carol-pw")}})
        assert poll(lambda: exp.get("/metrics", basic("carol", "carol-pw")).status == 200), (
            "the new user is still refused"
        )
        assert exp.get("/metrics", basic("alice", ALICE_PW)).status == 200
        # and a removed user is out again, also without a restart
        write_config(path, {"basic_auth_users": {"carol": bcrypt_hash("carol-pw")}})
        assert poll(lambda: exp.get("/metrics", basic("alice", ALICE_PW)).status == 401), (
            "the removed user still gets in"
        )
        assert exp.proc.poll() is None and exp.proc.pid == pid
    finally:
        exp.stop()


def test_a_broken_or_half_saved_file_keeps_the_previous_users(tmp_path):
    carol = bcrypt_hash("carol-pw")
    exp, path = start_with_config(tmp_path, {"basic_auth_users": {"carol": carol}})
    try:
        write_config(path, "basic_auth_users:\n  carol: [unclosed\n")
        assert exp.get("/metrics").status == 401, "a broken file opened the exporter to anyone"
        assert exp.get("/metrics", basic("carol", "carol-pw")).status == 200
        assert poll(lambda: "keeping the previous web config" in exp.log()), exp.log()
        # an editor saving in place truncates the file before writing it: that instant must not open the door
        with open(path, "w") as f:
            assert exp.get("/metrics").status == 401, "an empty (half-saved) file turned basic auth off"
            f.write(yaml.safe_dump({"basic_auth_users": {"carol": carol, "erin": bcrypt_hash("erin-pw")}}))
        assert poll(lambda: exp.get("/metrics", basic("erin", "erin-pw")).status == 200), (
            "the file saved after the empty instant was not read"
        )
        assert exp.get("/metrics").status == 401
        assert exp.proc.poll() is None
        assert "Traceback" not in exp.log()
    finally:
        exp.stop()


# ---- rate limit -------------------------------------------------------------------------------
def test_rate_limit_answers_429_beyond_the_burst_then_recovers(tmp_path):
    burst, interval = 5, 1.0
    exp, _ = start_with_config(
        tmp_path,
        {
            "rate_limit": {"interval": "1s", "burst": burst},
            "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
        },
    )
    try:
        started = time.monotonic()
        answers = [exp.get("/metrics") for _ in range(20)]
        elapsed = time.monotonic() - started
        statuses = [a.status for a in answers]
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) > 0, statuses
        assert statuses.count(200) <= burst + int(elapsed / interval) + 1, statuses
        refused = answers[statuses.index(429)]
        assert refused.headers.get("X-Frame-Options") == "deny"
        time.sleep(interval * 1.2)
        assert exp.get("/metrics").status == 200, "the bucket did not refill"
    finally:
        exp.stop()


def test_rate_limit_takes_go_duration_spellings(tmp_path):
    exp, _ = start_with_config(tmp_path, {"rate_limit": {"interval": "1h1m1.5s", "burst": 2}})
    try:
        statuses = [exp.get("/live").status for _ in range(4)]
        assert statuses[-1] == 429 and statuses.count(200) <= 2, statuses
    finally:
        exp.stop()


# ---- bad files: one line, exit status 2, no traceback ---------------------------------------
_HASH = bcrypt_hash("bad-file-pw")
_PLAINTEXT = "plaintext-Pa55"


def _tls(pki: PKI, **extra) -> dict:
    return {"tls_server_config": {"cert_file": pki.path("server.crt"), "key_file": pki.path("server.key"), **extra}}


# id -> (config: text, dict, or function of the PKI; words the error line must name; strings it must not contain)
BAD_FILES = {
    "unknown-top-level-key": ({"basic_auth_user": {"alice": _HASH}}, ["unknown", "basic_auth_user"], [_HASH]),
    "unknown-tls-key": (
        lambda p: {"tls_server_config": {"cert_file": p.path("server.crt"), "keyfile": p.path("server.key")}},
        ["keyfile"],
        [],
    ),
    "malformed-yaml": ("basic_auth_users:\n  alice: [unclosed\n", ["YAML"], []),
    "binary-file": (lambda p: (p.dir / "server.key").read_bytes()[:40] + b"\xff\xfe\x00\x01", ["text"], []),
    "yaml-non-string-keys": ("1: one\nbasic_auth_userz: {}\n", ["unknown"], []),
    "not-a-mapping": ("- basic_auth_users\n", ["mapping"], []),
    "missing-key-file": (lambda p: {"tls_server_config": {"cert_file": p.path("server.crt")}}, ["key_file"], []),
    "key-file-does-not-exist": (lambda p: _tls(p, key_file=p.path("nope.key")), ["nope.key", "No such file"], []),
    "cert-not-a-certificate": (
        lambda p: _tls(p, cert_file=p.path("garbage.crt")),
        ["cert_file", "garbage.crt", "certificate"],
        [],
    ),
    "cert-is-a-directory": (lambda p: _tls(p, cert_file=str(p.dir)), ["cert_file"], []),
    "key-does-not-match-cert": (lambda p: _tls(p, key_file=p.path("client.key")), ["key"], []),
    "key-encrypted": (lambda p: _tls(p, key_file=p.path("server-locked.key")), ["key_file", "encrypted"], []),
    "hash-not-bcrypt": ({"basic_auth_users": {"alice": _PLAINTEXT}}, ["alice", "bcrypt"], [_PLAINTEXT]),
    "hash-truncated": ({"basic_auth_users": {"alice": _HASH[:40]}}, ["alice", "bcrypt"], [_HASH[:40]]),
    "hash-one-char-short": ({"basic_auth_users": {"alice": _HASH[:-1]}}, ["alice", "bcrypt"], [_HASH[:-1]]),
    "hash-not-a-string": ({"basic_auth_users": {"alice": 12345}}, ["alice", "bcrypt"], []),
    "client-ca-with-NoClientCert": (
        lambda p: _tls(p, client_auth_type="NoClientCert", client_ca_file=p.path("ca.crt")),
        ["client_ca_file", "NoClientCert"],
        [],
    ),
    "client-ca-without-auth-type": (
        lambda p: _tls(p, client_ca_file=p.path("ca.crt")),
        ["client_ca_file", "NoClientCert"],
        [],
    ),
    "auth-type-RequireAnyClientCert": (
        lambda p: _tls(p, client_auth_type="RequireAnyClientCert", client_ca_file=p.path("ca.crt")),
        ["RequireAnyClientCert"],
        [],
    ),
    "auth-type-unknown": (lambda p: _tls(p, client_auth_type="VerifyMaybe"), ["VerifyMaybe"], []),
    "verify-without-client-ca": (
        lambda p: _tls(p, client_auth_type="RequireAndVerifyClientCert"),
        ["client_ca_file"],
        [],
    ),
    "allowed-sans-not-a-list": (
        lambda p: _tls(
            p,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=p.path("ca.crt"),
            client_allowed_sans=ALLOWED_SAN,
        ),
        ["client_allowed_sans"],
        [],
    ),
    "header-not-allowed": ({"http_server_config": {"headers": {"X-Powered-By": "flextime"}}}, ["X-Powered-By"], []),
    "header-bad-value": (
        {"http_server_config": {"headers": {"X-Frame-Options": "allowall"}}},
        ["X-Frame-Options", "allowall"],
        [],
    ),
    "header-with-newline": (
        {"http_server_config": {"headers": {"Content-Security-Policy": "default-src 'self'\r\nSet-Cookie: a=b"}}},
        ["Content-Security-Policy"],
        [],
    ),
    "rate-burst-not-a-number": ({"rate_limit": {"interval": "1s", "burst": "lots"}}, ["burst"], []),
    "rate-interval-not-a-duration": ({"rate_limit": {"interval": "fast", "burst": 5}}, ["interval"], []),
    "file-does-not-exist": (None, ["does-not-exist.yml", "No such file"], []),
}


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float


def _run_bad(tmp: Path, case: str, pki: PKI) -> Outcome:
    config = BAD_FILES[case][0]
    if config is None:
        path = tmp / "does-not-exist.yml"
    else:
        config = config(pki) if callable(config) else config
        # a neutral name: the words the error must name must not come from the path
        path = write_config(tmp / f"web-{list(BAD_FILES).index(case)}.yml", config)
    cmd = exporter_cmd("node", f"--web.listen-address=127.0.0.1:{free_port()}", *FAST, f"--web.config.file={path}")
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = lambda b: (b or b"").decode() if isinstance(b, bytes) else (b or "")  # noqa: E731
        return Outcome(None, out(exc.stdout), out(exc.stderr), time.monotonic() - started)
    return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def bad_outcomes(tmp_path_factory, pki) -> dict[str, Outcome]:
    """Every bad file run at once (a few at a time), so the cases cost one start-up's time each, not in series."""
    tmp = tmp_path_factory.mktemp("bad")
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        futures = {case: pool.submit(_run_bad, tmp, case, pki) for case in BAD_FILES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_web_config_is_one_line_and_exit_status_2(bad_outcomes, case):
    _, needles, secrets = BAD_FILES[case]
    out = bad_outcomes[case]
    assert out.returncode is not None, f"still running after 15 s (it started with the bad file?): {out.stderr}"
    assert out.returncode == 2, f"exit status {out.returncode}: {out.stderr}"
    assert out.elapsed < 8, f"took {out.elapsed:.1f}s"
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("flextime-exporter node: error: --web.config.file "), line
    for word in needles:
        assert word in line, f"{word!r} not named in: {line}"
    for secret in secrets:
        assert secret not in line, f"the error line repeats a secret: {line}"
    assert out.stdout == ""


def test_cert_file_that_cannot_be_read_is_one_line_and_exit_status_2(tmp_path, pki):
    """A cert_file path that exists but is no readable file (a directory: root reads files of any mode)."""
    cert = tmp_path / "server.crt"
    cert.mkdir()
    path = write_config(tmp_path / "web.yml", _tls(pki, cert_file=str(cert)))
    done = subprocess.run(
        exporter_cmd("node", f"--web.listen-address=127.0.0.1:{free_port()}", f"--web.config.file={path}"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=15,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cert_file" in lines[0] and "Traceback" not in done.stderr, done.stderr


def _served_certificate(port: int, pki: PKI) -> x509.Certificate:
    import socket

    ctx = pki.client()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_rotated_certificate_is_served_without_a_restart(tmp_path, pki):
    """cert-manager style rotation: new cert and key files replace the old ones; new
    connections get the new certificate, the process keeps running."""
    import shutil

    ca = x509.load_pem_x509_certificate((pki.dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki.dir / "ca.key").read_bytes(), None)
    shutil.copy(pki.dir / "server.crt", tmp_path / "tls.crt")
    shutil.copy(pki.dir / "server.key", tmp_path / "tls.key")
    cfg = write_config(tmp_path / "web.yml", {"tls_server_config": {"cert_file": "tls.crt", "key_file": "tls.key"}})
    exp = start_exporter(tmp_path, *FAST, f"--web.config.file={cfg}", scheme="https", context=pki.client())
    try:
        before = _served_certificate(exp.port, pki)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(
            "127.0.0.1",
            key,
            ca,
            ca_key,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        staging = tmp_path / "staging"
        staging.mkdir()
        _write_pair(staging, "tls", cert, key)
        os.replace(staging / "tls.key", tmp_path / "tls.key")
        os.replace(staging / "tls.crt", tmp_path / "tls.crt")
        after = _served_certificate(exp.port, pki)
        assert before.serial_number != after.serial_number
        assert after.serial_number == cert.serial_number
        assert exp.get("/metrics", context=pki.client()).status == 200
        assert exp.proc.poll() is None
        # a broken rotation (garbage in the cert file) keeps serving the last good certificate
        (tmp_path / "tls.crt").write_text("not a certificate\n")
        assert _served_certificate(exp.port, pki).serial_number == cert.serial_number
        assert "keeping the previous TLS certificate" in exp.log()
    finally:
        exp.stop()
