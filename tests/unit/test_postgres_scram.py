"""exporters/postgres/scram.py without a server: key derivation against RFC 7677's SCRAM-SHA-256
example, and the login's wire protocol against a small in-process server that speaks the
PostgreSQL side of the exchange (it checks the client's proof as PostgreSQL does, from the stored
key only) and can misbehave: a wrong server signature, another method, an error, silence."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import struct
import time

import pytest

from exporters.postgres import scram

# RFC 7677, section 3: user "user", password "pencil"
RFC_PASSWORD = "pencil"
RFC_CLIENT_FIRST_BARE = b"n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_FINAL_WITHOUT_PROOF = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, "sha256").digest()


def test_derive_matches_rfc_7677():
    client_key, server_key = scram.derive(RFC_PASSWORD, RFC_SALT, 4096)
    auth_message = RFC_CLIENT_FIRST_BARE + b"," + RFC_SERVER_FIRST + b"," + RFC_FINAL_WITHOUT_PROOF
    signature = _hmac(hashlib.sha256(client_key).digest(), auth_message)
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    assert base64.b64encode(proof).decode() == RFC_PROOF
    assert base64.b64encode(_hmac(server_key, auth_message)).decode() == RFC_SERVER_SIGNATURE
    assert len(client_key) == len(server_key) == 32


# ---- a PostgreSQL-side SCRAM exchange, in process -------------------------------------------------


def _msg(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _auth(code: int, payload: bytes = b"") -> bytes:
    return _msg(b"R", struct.pack("!i", code) + payload)


def _error(message: str) -> bytes:
    return _msg(b"E", b"SFATAL\0C28P01\0M" + message.encode() + b"\0\0")


class FakeServer:
    """Accepts one login at a time. ``mode``: "ok", "bad-signature", "md5", "mechanisms" (offers
    only SCRAM-SHA-256-PLUS), "reject" (an ErrorResponse instead of SASLFinal), "silent" (never
    answers the startup message), "bad-nonce" (a server nonce that does not extend the client's)."""

    def __init__(self, password: str, salt: bytes, iterations: int, mode: str = "ok") -> None:
        client_key, self.server_key = scram.derive(password, salt, iterations)
        self.stored_key = hashlib.sha256(client_key).digest()
        self.salt, self.iterations, self.mode = salt, iterations, mode
        self.startup: dict[str, str] = {}
        self.terminated = False
        self.proof_ok: bool | None = None

    async def _read(self, reader) -> tuple[bytes, bytes]:
        head = await reader.readexactly(5)
        return head[:1], await reader.readexactly(struct.unpack("!i", head[1:])[0] - 4)

    async def handle(self, reader, writer) -> None:
        try:
            length = struct.unpack("!i", await reader.readexactly(4))[0]
            body = await reader.readexactly(length - 4)
            assert struct.unpack("!i", body[:4])[0] == scram.PROTOCOL_3_0
            fields = body[4:].split(b"\0")
            self.startup = {
                fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields) - 2, 2) if fields[i]
            }
            if self.mode == "silent":
                await reader.read()  # until the client gives up and closes
                return
            if self.mode == "md5":
                writer.write(_auth(5, b"salt"))
                await writer.drain()
                return
            mechanisms = b"SCRAM-SHA-256-PLUS\0\0" if self.mode == "mechanisms" else b"SCRAM-SHA-256\0\0"
            writer.write(_auth(10, mechanisms))
            kind, body = await self._read(reader)
            assert kind == b"p"
            mechanism, rest = body.split(b"\0", 1)
            assert mechanism == b"SCRAM-SHA-256"
            first = rest[4 : 4 + struct.unpack("!i", rest[:4])[0]]
            assert first.startswith(b"n,,")  # no channel binding
            first_bare = first[3:]
            client_nonce = dict(p.split(b"=", 1) for p in first_bare.split(b","))[b"r"]
            nonce = (b"someoneelse" if self.mode == "bad-nonce" else client_nonce) + b"%server-nonce"
            server_first = b"r=" + nonce + b",s=" + base64.b64encode(self.salt) + b",i=" + str(self.iterations).encode()
            writer.write(_auth(11, server_first))
            kind, body = await self._read(reader)
            assert kind == b"p"
            without_proof, proof = body.rsplit(b",p=", 1)
            assert without_proof == b"c=biws,r=" + nonce
            auth_message = first_bare + b"," + server_first + b"," + without_proof
            # as PostgreSQL verifies: ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) = StoredKey
            client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), _hmac(self.stored_key, auth_message)))
            self.proof_ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), self.stored_key)
            if not self.proof_ok or self.mode == "reject":
                writer.write(_error('password authentication failed for user "u"'))
                await writer.drain()
                return
            key = b"\0" * 32 if self.mode == "bad-signature" else self.server_key
            writer.write(_auth(12, b"v=" + base64.b64encode(_hmac(key, auth_message))))
            writer.write(_auth(0))
            writer.write(_msg(b"S", b"server_version\x0018.0\0"))  # what follows AuthenticationOk
            await writer.drain()
            kind, _ = await self._read(reader)
            self.terminated = kind == b"X"
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _learn(server: FakeServer, password: str, timeout: float = 5.0) -> dict:
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        return await scram.learn(
            {
                "host": "127.0.0.1",
                "port": port,
                "user": "u",
                "password": password,
                "dbname": "db1",
                "application_name": "app",
            },
            timeout,
        )
    finally:
        srv.close()


def test_learn_gives_the_keys_the_server_accepts():
    server = FakeServer("s3cret-pw", b"0123456789abcdef", 4096)
    keys = asyncio.run(_learn(server, "s3cret-pw"))
    client_key, server_key = scram.derive("s3cret-pw", b"0123456789abcdef", 4096)
    assert keys == {
        "scram_client_key": base64.b64encode(client_key).decode(),
        "scram_server_key": base64.b64encode(server_key).decode(),
    }
    assert server.proof_ok and server.terminated  # a proper proof, then a clean logout
    assert server.startup == {"user": "u", "database": "db1", "application_name": "app"}


def test_learn_with_the_salt_and_iterations_the_server_tells():
    server = FakeServer("s3cret-pw", b"another salt", 10_000)
    keys = asyncio.run(_learn(server, "s3cret-pw"))
    client_key, _ = scram.derive("s3cret-pw", b"another salt", 10_000)
    assert keys["scram_client_key"] == base64.b64encode(client_key).decode()


@pytest.mark.parametrize(
    "mode, permanent, words",
    [
        ("bad-signature", False, "signature"),  # a server that does not know the password: no keys
        ("reject", False, "password authentication failed"),
        ("md5", True, "not SCRAM"),  # another method: never try again
        ("mechanisms", True, "not offered"),
        ("bad-nonce", False, "malformed"),
    ],
)
def test_learn_refuses(mode, permanent, words):
    server = FakeServer("s3cret-pw", b"0123456789abcdef", 4096, mode)
    with pytest.raises(scram.ScramUnavailable) as info:
        asyncio.run(_learn(server, "s3cret-pw"))
    assert info.value.permanent is permanent
    assert words in str(info.value)
    assert "s3cret-pw" not in str(info.value)


def test_wrong_password_is_refused_not_permanent():
    server = FakeServer("right-pw", b"0123456789abcdef", 4096)
    with pytest.raises(scram.ScramUnavailable) as info:
        asyncio.run(_learn(server, "wrong-pw"))
    assert server.proof_ok is False
    assert not info.value.permanent and "wrong-pw" not in str(info.value)


def test_a_silent_server_times_out_within_the_bound():
    server = FakeServer("s3cret-pw", b"0123456789abcdef", 4096, "silent")
    start = time.monotonic()
    with pytest.raises(scram.ScramUnavailable) as info:
        asyncio.run(_learn(server, "s3cret-pw", timeout=0.3))
    assert time.monotonic() - start < 3
    assert not info.value.permanent


def test_an_unreachable_server_is_unavailable_without_the_password():
    async def run():
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        return await scram.learn(
            {
                "host": "127.0.0.1",
                "port": port,
                "user": "u",
                "password": "pw-in-no-message",
                "dbname": "db1",
                "application_name": "",
            },
            2.0,
        )

    with pytest.raises(scram.ScramUnavailable) as info:
        asyncio.run(run())
    assert not info.value.permanent and "pw-in-no-message" not in str(info.value)
