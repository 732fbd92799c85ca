"""``--web.config.file``: the exporter-toolkit ``web-config.yml`` format.

Same keys and strictness as the Go exporters (an unknown key is an error), so
an SRE's existing file closes our exporters to the world the same way: TLS
with optional client certificates, bcrypt basic-auth users, the allowed
security headers, and a request rate limit.

What Python's ssl module cannot do is refused with a clear error rather than
silently weakened: ``RequestClientCert`` / ``RequireAnyClientCert`` (accepting
unverified client certificates), ``curve_preferences``. Users, headers and the
rate limit are re-read when the file changes, so adding a user needs no
restart; the certificate, key and client CA files are re-read when they
change (rotation); other TLS settings are read at start-up. A changed file that does not
validate, or is caught empty in the middle of a save, keeps the previous
settings (a bad one is logged), so a slip never opens the exporter to anyone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import re
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from .errors import ConfigError
from .helpers import file_signature, files_complete

ALLOWED_HEADERS = {
    "Content-Security-Policy": None,
    "X-Frame-Options": {"deny", "sameorigin"},
    "X-Content-Type-Options": {"nosniff"},
    "X-XSS-Protection": None,
    "Strict-Transport-Security": None,
}

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go's names of TLS 1.2 suites -> OpenSSL's (TLS 1.3 suites are not configurable, as in Go).
_CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}

_TLS_KEYS = {
    "cert_file",
    "key_file",
    "cert",
    "key",
    "client_auth_type",
    "client_ca_file",
    "client_ca",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}
_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}

_dummy_hash: bytes | None = None


def _dummy() -> bytes:
    """Checked for unknown users, so a wrong user name costs the same time as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        import bcrypt

        _dummy_hash = bcrypt.hashpw(b"no such user", bcrypt.gensalt(10))
    return _dummy_hash


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    tls_source: tuple[dict, str] | None = None  # (tls_server_config, base dir), to rebuild on rotation
    allowed_sans: tuple[str, ...] = ()
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    rate_interval: float = 0.0
    rate_burst: int = 0


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _strict(section: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed, key=str)  # YAML keys need not be strings (``1: x``)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}")


def _string_list(value, where: str) -> list[str]:
    """A YAML list of strings; a lone string is refused as Go's strict decoding refuses it."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(f"{where}: expected a list of strings, got {type(value).__name__}")
    return [str(v) for v in value]


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def _duration(value, where: str) -> float:
    """A Go duration as time.ParseDuration reads it ('1s', '500ms', '1m30s', '1.5h'), or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: invalid duration {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        parts = _DURATION_PART.findall(text)
        if text == "0":
            seconds = 0.0
        elif not parts or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"{where}: invalid duration {value!r} (e.g. 1s, 500ms, 1m30s)")
        else:
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise ConfigError(f"{where}: invalid duration {value!r}")
    return seconds


def _pem_check(path: str, key: str, marker: bytes, what: str) -> None:
    """Name the file that is wrong: OpenSSL's own error ("PEM lib") says neither which nor why."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as exc:
        raise ConfigError(f"tls_server_config: cannot read {key} {path}: {exc.strerror or exc}") from None
    if marker not in head:
        raise ConfigError(f"tls_server_config: {key} {path} does not contain {what}")


class _EncryptedKey(Exception):
    pass


def _no_passphrase():
    """load_cert_chain's password callback: refuse, rather than let OpenSSL prompt on the terminal."""
    raise _EncryptedKey()


def _tls_context(tls: dict, base: str) -> tuple[ssl.SSLContext, tuple[str, ...]]:
    _strict(tls, _TLS_KEYS, "tls_server_config")

    def path(key: str) -> str | None:
        p = tls.get(key)
        return os.path.join(base, p) if p and not os.path.isabs(p) else p

    cert_file, key_file = path("cert_file"), path("key_file")
    if tls.get("cert") or tls.get("key") or tls.get("client_ca"):
        raise ConfigError(
            "tls_server_config: inline cert/key/client_ca are not supported; use cert_file, key_file, client_ca_file"
        )
    if not cert_file and not key_file:
        raise ConfigError("tls_server_config: missing cert_file and key_file")
    if not cert_file:
        raise ConfigError("tls_server_config: missing cert_file")
    if not key_file:
        raise ConfigError("tls_server_config: missing key_file")
    _pem_check(cert_file, "cert_file", b"-----BEGIN CERTIFICATE-----", "a PEM certificate")
    _pem_check(key_file, "key_file", b"PRIVATE KEY-----", "a PEM private key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # Without a password callback OpenSSL would prompt for a passphrase on the terminal.
        ctx.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigError(
            f"tls_server_config: key_file {key_file} is encrypted; the exporter cannot ask for a "
            "passphrase, give it an unencrypted key (as the Go exporters need)"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls_server_config: cannot load cert_file {cert_file} / key_file {key_file}: {exc}") from exc

    auth = tls.get("client_auth_type") or "NoClientCert"
    ca_file = path("client_ca_file")
    if auth in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
        raise ConfigError(
            f"tls_server_config: client_auth_type {auth} (accept unverified client certificates) is not "
            "supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
        )
    if auth == "NoClientCert":
        if ca_file:
            default = "" if tls.get("client_auth_type") else " (the default); set RequireAndVerifyClientCert"
            raise ConfigError(f"tls_server_config: client_ca_file is set but client_auth_type is NoClientCert{default}")
        ctx.verify_mode = ssl.CERT_NONE
    elif auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
        if not ca_file:
            raise ConfigError(f"tls_server_config: client_auth_type {auth} needs client_ca_file")
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"tls_server_config: cannot load client_ca_file {ca_file}: {exc}") from exc
        ctx.verify_mode = ssl.CERT_OPTIONAL if auth == "VerifyClientCertIfGiven" else ssl.CERT_REQUIRED
    else:
        raise ConfigError(f"tls_server_config: invalid client_auth_type {auth!r}")

    for key, attr, default in (("min_version", "minimum_version", "TLS12"), ("max_version", "maximum_version", None)):
        name = tls.get(key) or default
        if name is None:
            continue
        if name not in _TLS_VERSIONS:
            raise ConfigError(f"tls_server_config: unknown {key} {name!r} (expected one of {', '.join(_TLS_VERSIONS)})")
        setattr(ctx, attr, _TLS_VERSIONS[name])
    suites = _string_list(tls.get("cipher_suites"), "tls_server_config.cipher_suites")
    if suites:
        unknown = [s for s in suites if s not in _CIPHER_SUITES]
        if unknown:
            raise ConfigError(f"tls_server_config: unknown cipher suite {unknown[0]!r}")
        ctx.set_ciphers(":".join(_CIPHER_SUITES[s] for s in suites))
    if tls.get("curve_preferences"):
        raise ConfigError("tls_server_config: curve_preferences is not supported by this exporter")
    sans = tuple(_string_list(tls.get("client_allowed_sans"), "tls_server_config.client_allowed_sans"))
    if sans and auth == "NoClientCert":
        raise ConfigError("tls_server_config: client_allowed_sans needs a client_auth_type that verifies certificates")
    return ctx, sans


# $2a$/$2b$/$2y$, a two-digit cost from 04 to 31, 22 characters of salt and 31 of hash.
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
AUTH_CACHE_SIZE = 1024  # remembered verdicts, per kind (correct / wrong)
AUTH_MAX_PENDING = 32  # bcrypt checks waiting at once; beyond it an unknown password is refused at once
BCRYPT_MAX_PASSWORD = 72  # bcrypt only ever reads this many bytes of a password


def _check_bcrypt_hash(user: str, value) -> bytes:
    """Parse, do not compute: a cost-31 hash would otherwise stall start-up (Go checks with bcrypt.Cost).
    The message names the user, never the value (it may be a pasted password)."""
    import bcrypt

    if not isinstance(value, str) or not value.startswith(("$2a$", "$2b$", "$2y$")):
        raise ConfigError(
            f"basic_auth_users: the hash of user {user!r} is not a bcrypt hash "
            "(expected $2y$..., e.g. from htpasswd -nB)"
        )
    if not _BCRYPT.fullmatch(value):
        raise ConfigError(
            f"basic_auth_users: the hash of user {user!r} is not a valid bcrypt hash "
            "(truncated or damaged: expected 60 characters $2y$NN$...)"
        )
    raw = value.encode()
    if raw.startswith(b"$2y$"):
        raw = b"$2b$" + raw[4:]  # htpasswd's spelling of the same algorithm
    try:
        bcrypt.checkpw(b"", raw[:4] + b"04" + raw[6:])  # same salt and digest at the cheapest cost
    except ValueError:
        raise ConfigError(f"basic_auth_users: the hash of user {user!r} is not a valid bcrypt hash") from None
    return raw


def load_web_config(path: str, tls: bool = True) -> WebConfig:
    """Parse and validate the file; ``tls=False`` skips building the SSL context (reloads)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"--web.config.file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--web.config.file {path}: not a text file (invalid UTF-8 at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        if mark is not None and problem:
            detail = f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        else:
            detail = f"not valid YAML: {str(exc).splitlines()[0]}"
        raise ConfigError(f"--web.config.file {path}: {detail}") from None
    try:
        return _build(_mapping(data, "web config"), os.path.dirname(os.path.abspath(path)), tls)
    except ConfigError as exc:
        raise ConfigError(f"--web.config.file {path}: {exc}") from exc


def _build(data: dict, base: str, tls: bool) -> WebConfig:
    _strict(data, _TOP_KEYS, "web config")
    cfg = WebConfig()
    tls_section = _mapping(data.get("tls_server_config"), "tls_server_config")
    if tls_section and tls:
        cfg.ssl_context, cfg.allowed_sans = _tls_context(tls_section, base)
        cfg.tls_source = (tls_section, base)
    http = _mapping(data.get("http_server_config"), "http_server_config")
    _strict(http, {"http2", "headers"}, "http_server_config")
    for name, value in _mapping(http.get("headers"), "http_server_config.headers").items():
        if name not in ALLOWED_HEADERS:
            raise ConfigError(
                f"http_server_config.headers: header {name!r} is not allowed (allowed: {', '.join(ALLOWED_HEADERS)})"
            )
        if isinstance(value, (dict, list)):
            raise ConfigError(f"http_server_config.headers: the value of {name} must be a string")
        value = "" if value is None else str(value)
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"http_server_config.headers: the value of {name} contains a line break")
        allowed_values = ALLOWED_HEADERS[name]
        if allowed_values and value.lower() not in allowed_values:
            raise ConfigError(
                f"http_server_config.headers: invalid value {value!r} for {name} "
                f"(allowed: {', '.join(sorted(allowed_values))})"
            )
        cfg.headers[name] = value
    for user, value in _mapping(data.get("basic_auth_users"), "basic_auth_users").items():
        cfg.users[str(user)] = _check_bcrypt_hash(str(user), value)
    rate = _mapping(data.get("rate_limit"), "rate_limit")
    _strict(rate, {"interval", "burst"}, "rate_limit")
    if rate:
        cfg.rate_interval = _duration(rate.get("interval", 0), "rate_limit.interval")
        burst = rate.get("burst", 0)
        if isinstance(burst, bool) or not isinstance(burst, int):
            raise ConfigError(f"rate_limit.burst: expected a whole number, got {burst!r}")
        cfg.rate_burst = burst
        if cfg.rate_burst < 0 or cfg.rate_interval < 0:
            raise ConfigError("rate_limit: interval and burst must not be negative")
    return cfg


class WebConfigWatcher:
    """Holds the current web config; re-reads the file when its mtime changes."""

    def __init__(self, path: str | None, flags: dict | None = None) -> None:
        """``flags``: a web config the exporter's own flags describe (redis_exporter's --basic-auth-*,
        --tls-server-*), in the file's shape, when there is no file; checked as the file would be."""
        self.path = path
        self.config = load_web_config(path) if path else _build(flags, os.getcwd(), True) if flags else WebConfig()
        self._signature = self._stat()
        self._auth_ok: OrderedDict[bytes, None] = OrderedDict()  # digests of correct (user, hash, password)
        self._auth_failed: OrderedDict[bytes, None] = OrderedDict()  # and of wrong ones
        self._auth_pending = 0
        self._bcrypt_lock = asyncio.Lock()
        self._tokens = float(self.config.rate_burst)
        self._refilled = time.monotonic()
        if self.config.ssl_context is not None:
            # Certificate rotation without a restart, as the Go exporters do: OpenSSL calls this on every
            # handshake (server_name None when the client sends no SNI), and a changed cert/key/CA file
            # gives the new connections a freshly built context.
            self._tls_effective = self.config.ssl_context
            self._tls_signature = self._tls_files_signature()
            self.config.ssl_context.sni_callback = self._on_handshake

    def _stat(self) -> tuple | None:
        """What tells a changed file: mtime alone misses two writes within the clock's resolution."""
        try:
            st = os.stat(self.path) if self.path else None
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev) if st else None

    def current(self) -> WebConfig:
        if self.path:
            signature = self._stat()
            # An empty file is the instant between an in-place save's truncate and its write: keep the
            # previous config and look again on the next request, rather than serve with no protection.
            if signature != self._signature and not (signature is not None and signature[1] == 0):
                self._signature = signature
                try:
                    fresh = load_web_config(self.path, tls=False)
                except ConfigError as exc:
                    logging.getLogger("exporters.web").error("keeping the previous web config: %s", exc)
                else:
                    fresh.ssl_context, fresh.allowed_sans = self.config.ssl_context, self.config.allowed_sans
                    fresh.tls_source = self.config.tls_source
                    self.config = fresh
                    self._auth_ok.clear()
                    self._auth_failed.clear()
        return self.config

    def _tls_files(self) -> list[str]:
        section, base = self.config.tls_source
        paths = [section.get(k) for k in ("cert_file", "key_file", "client_ca_file")]
        return [p if os.path.isabs(p) else os.path.join(base, p) for p in paths if p]

    def _tls_files_signature(self) -> tuple:
        return tuple(file_signature(p) for p in self._tls_files())

    def _on_handshake(self, ssl_object, server_name, listening_context) -> None:
        signature = self._tls_files_signature()
        # a file missing or empty is a rotation in progress: keep serving the previous certificate
        if signature != self._tls_signature and files_complete(signature):
            self._tls_signature = signature
            try:
                fresh, _ = _tls_context(*self.config.tls_source)
            except ConfigError as exc:
                logging.getLogger("exporters.web").error("keeping the previous TLS certificate: %s", exc)
            else:
                self._tls_effective = fresh
                logging.getLogger("exporters.web").info("TLS certificate files changed: loaded them again")
        if self._tls_effective is not listening_context:
            ssl_object.context = self._tls_effective
        return None

    def take_token(self) -> bool:
        """Token bucket of ``rate_limit``; True when the request may proceed."""
        cfg = self.config
        if cfg.rate_interval <= 0 or cfg.rate_burst <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(cfg.rate_burst, self._tokens + (now - self._refilled) / cfg.rate_interval)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def check_password(self, user: str, password: str) -> bool:
        """bcrypt is slow on purpose: run it off the loop, one at a time, and remember verdicts per
        (user, hash, password) digest. Correct passwords and wrong ones are remembered apart, each
        least-recently-used first out: a flood of distinct wrong passwords only ever evicts other
        wrong passwords, never the real user, whose scrapes stay free of bcrypt. While more than
        AUTH_MAX_PENDING checks wait, a new unknown password is refused without queueing."""
        import bcrypt

        stored = self.config.users.get(user)
        hashed = stored if stored is not None else _dummy()
        key = hashlib.sha256(b"\0".join((user.encode(), hashed, password.encode()))).digest()
        for cache in (self._auth_ok, self._auth_failed):
            if key in cache:
                cache.move_to_end(key)
                return cache is self._auth_ok
        if self._auth_pending >= AUTH_MAX_PENDING:
            return False
        # bcrypt reads 72 bytes at most; htpasswd and Go's bcrypt judge a longer password by those
        # (the bcrypt package raises instead, which would answer 500).
        secret = password.encode()[:BCRYPT_MAX_PASSWORD]
        self._auth_pending += 1
        try:
            async with self._bcrypt_lock:
                try:
                    ok = await asyncio.to_thread(bcrypt.checkpw, secret, hashed)
                except ValueError:
                    ok = False
        finally:
            self._auth_pending -= 1
        ok = ok and stored is not None
        cache = self._auth_ok if ok else self._auth_failed
        cache[key] = None
        while len(cache) > AUTH_CACHE_SIZE:
            cache.popitem(last=False)
        return ok
