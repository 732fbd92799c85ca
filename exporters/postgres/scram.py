"""SCRAM keys for the fan-out's connections: one SCRAM-SHA-256 login, then libpq skips PBKDF2.

Each SCRAM login makes the client compute PBKDF2 (4,096 rounds of HMAC-SHA-256 by default) over
the password and the role's salt: in libpq ~5 ms of CPU, on the event loop, for every one of the
~48 connections a per-table scrape of 50 databases opens under the fan-out's bound. libpq 18
takes the derived keys instead (``scram_client_key`` / ``scram_server_key``, the connection
options behind postgres_fdw's SCRAM pass-through) and then only computes the two HMACs of the
exchange. The keys depend on the password, the salt and the iteration count, and the salt is
only told during a login, so this module logs in once itself (the session's host, port, user
and password, into the database the fan-out is about to read; no TLS, see :func:`eligible`),
derives the keys, and proves them: the
server accepts the proof and we check the server's signature, as libpq does. The server still
verifies every connection's proof; a password or salt changed since makes a login with the keys
fail, and the caller then connects with the password and learns the keys again.

Only where it changes nothing but the CPU: libpq 18 or later, a connection without TLS and
without GSS encryption (so the login here is as protected as libpq's own), an ASCII password
(SASLprep leaves it as is), channel binding not required. Anything else: the password, as before.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import struct

PROTOCOL_3_0 = 196608
AUTH_OK, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 10, 11, 12
MECHANISM = b"SCRAM-SHA-256"


class ScramUnavailable(Exception):
    """This target cannot use precomputed keys now (a refused login, a timeout...), or never
    (``permanent``: the server asks for another method than SCRAM-SHA-256)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def supported() -> bool:
    """libpq 18 or later knows scram_client_key / scram_server_key."""
    try:
        import psycopg

        return psycopg.pq.version() >= 180000
    except Exception:
        return False


def eligible(conn) -> dict | None:
    """Where and as whom to log in, from the session's live connection; None when the keys
    cannot be used without weakening anything (TLS or GSS in use, channel binding required,
    require_auth set, a non-ASCII or missing password, libpq before 18)."""
    if not supported():
        return None
    try:
        opts = {o.keyword.decode(): (o.val.decode() if o.val is not None else None) for o in conn.pgconn.info}
        info = conn.info
        password = info.password
        pgconn = conn.pgconn
        if pgconn.ssl_in_use or pgconn.used_gssapi or not pgconn.used_password:
            return None  # TLS or GSS encryption (a plain login here would be less protected), or no password
        if opts.get("channel_binding") == "require":
            return None
        if opts.get("require_auth") or not password or not password.isascii():
            return None
        host = info.hostaddr or info.host
        if not host or not info.port:
            return None
        if info.host and info.host.startswith("/"):
            host = info.host
        return {
            "host": host,
            "port": int(info.port),
            "user": info.user,
            "password": password,
            "dbname": info.dbname,
            "application_name": opts.get("application_name") or "",
        }
    except Exception:
        return None


async def _read(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readexactly(5)
    kind, length = head[:1], struct.unpack("!i", head[1:])[0]
    if not 4 <= length <= 1 << 16:
        raise ScramUnavailable("unexpected message length")
    return kind, await reader.readexactly(length - 4)


def _auth(kind: bytes, body: bytes, expected: int) -> bytes:
    if kind == b"E":
        fields = dict((f[:1], f[1:]) for f in body.split(b"\0") if f)
        raise ScramUnavailable((fields.get(b"M") or b"login refused").decode(errors="replace"))
    if kind != b"R" or len(body) < 4:
        raise ScramUnavailable("unexpected message")
    code = struct.unpack("!i", body[:4])[0]
    if code != expected:
        raise ScramUnavailable(f"authentication request {code}, not SCRAM", permanent=expected == AUTH_SASL)
    return body[4:]


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def derive(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return (hmac.new(salted, b"Client Key", "sha256").digest(), hmac.new(salted, b"Server Key", "sha256").digest())


async def _login(target: dict) -> tuple[bytes, bytes]:
    if target["host"].startswith("/"):
        reader, writer = await asyncio.open_unix_connection(os.path.join(target["host"], f".s.PGSQL.{target['port']}"))
    else:
        reader, writer = await asyncio.open_connection(target["host"], target["port"])
    try:
        params = (
            b"".join(
                k.encode() + b"\0" + v.encode() + b"\0"
                for k, v in (
                    ("user", target["user"]),
                    ("database", target["dbname"]),
                    ("application_name", target["application_name"]),
                )
                if v
            )
            + b"\0"
        )
        writer.write(struct.pack("!ii", len(params) + 8, PROTOCOL_3_0) + params)
        mechanisms = _auth(*await _read(reader), AUTH_SASL).split(b"\0")
        if MECHANISM not in mechanisms:
            raise ScramUnavailable("SCRAM-SHA-256 not offered", permanent=True)
        nonce = base64.b64encode(secrets.token_bytes(18))
        first_bare = b"n=,r=" + nonce
        first = b"n,," + first_bare
        writer.write(_message(b"p", MECHANISM + b"\0" + struct.pack("!i", len(first)) + first))
        server_first = _auth(*await _read(reader), AUTH_SASL_CONTINUE)
        attrs = dict(part.split(b"=", 1) for part in server_first.split(b",") if b"=" in part)
        server_nonce, salt, iterations = attrs[b"r"], base64.b64decode(attrs[b"s"]), int(attrs[b"i"])
        if not server_nonce.startswith(nonce) or not 1 <= iterations <= 10**7:
            raise ScramUnavailable("malformed SCRAM challenge")
        client_key, server_key = derive(target["password"], salt, iterations)
        without_proof = b"c=biws,r=" + server_nonce
        auth_message = first_bare + b"," + server_first + b"," + without_proof
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        writer.write(_message(b"p", without_proof + b",p=" + base64.b64encode(proof)))
        final = _auth(*await _read(reader), AUTH_SASL_FINAL)
        expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, "sha256").digest())
        if not hmac.compare_digest(final.split(b",")[0], expected):
            raise ScramUnavailable("the server's SCRAM signature does not match")
        _auth(*await _read(reader), AUTH_OK)
        writer.write(_message(b"X", b""))  # Terminate: a clean logout
        await writer.drain()
        try:  # until the backend has gone (EOF), as the fan-out's bound counts backends
            while await reader.read(65536):
                pass
        except OSError:
            pass
        return client_key, server_key
    finally:
        writer.close()


async def learn(target: dict, timeout: float) -> dict[str, str]:
    """Log in once with ``target`` (from :func:`eligible`) and return libpq's options for the
    keys; raises ScramUnavailable (its message never holds the password)."""
    try:
        async with asyncio.timeout(timeout):
            client_key, server_key = await _login(target)
    except ScramUnavailable:
        raise
    except (Exception, asyncio.TimeoutError) as exc:
        raise ScramUnavailable(f"{type(exc).__name__}: {exc}".replace(target["password"], "***")) from None
    return {
        "scram_client_key": base64.b64encode(client_key).decode(),
        "scram_server_key": base64.b64encode(server_key).decode(),
    }
