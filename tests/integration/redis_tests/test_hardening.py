"""Issue 16, beyond redis_exporter: a rotated --redis.password-file needs no restart, and a server that
refuses the connection has its own reason logged (e.g. max number of clients reached). Each test runs
a Redis server of its own (Debian's redis-server), since it changes the server's password or fills it."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from conftest import free_port, require_program, value

from .test_exporter import get_ok, start_redis_exporter, write_password_file


@pytest.fixture
def own_redis(tmp_path):
    """redis-server on a free port with a password; yields (port, function running a command as admin)."""
    binary = require_program("redis-server")
    port = free_port()
    password = ["first-Secret-4711"]
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            password[0],
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def command(*args: str) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            parts = [("AUTH", password[0]), args]
            s.sendall(
                b"".join(
                    b"*%d\r\n" % len(p) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in p) for p in parts
                )
            )
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if args[:3] == ("CONFIG", "SET", "requirepass"):
                password[0] = args[3]
            return data

    deadline = time.monotonic() + 10
    while True:
        try:
            if b"PONG" in command("PING"):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield port, command, password
    finally:
        proc.terminate()
        proc.wait(10)


def test_rotated_password_file_needs_no_restart(tmp_path, own_redis):
    port, command, password = own_redis
    first, second = password[0], "second-Secret-0815"
    path = tmp_path / "passwords.json"
    write_password_file(path, {f"redis://127.0.0.1:{port}": first})
    exp = start_redis_exporter(tmp_path, f"--redis.addr=redis://127.0.0.1:{port}", f"--redis.password-file={path}")
    try:
        for _ in range(2):
            assert value(get_ok(exp), "redis_up") == 1
        assert b"+OK" in command("CONFIG", "SET", "requirepass", second)
        write_password_file(tmp_path / "passwords.new", {f"redis://127.0.0.1:{port}": second})
        (tmp_path / "passwords.new").replace(path)  # as a secret mount updates it: a new file in its place
        command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # the kept connection goes
        for _ in range(3):  # the next connection logs in with the new password
            assert value(get_ok(exp), "redis_up") == 1
    finally:
        exp.stop()
    log = exp.log()
    assert first not in log and second not in log
    assert log.count(f"{path} changed: read again") == 1


def test_refused_connection_logs_the_servers_reason(tmp_path, own_redis):
    port, command, password = own_redis
    assert b"+OK" in command("CONFIG", "SET", "maxclients", "1")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as held:  # the one client allowed
        held.sendall(b"PING\r\n")
        held.recv(100)
        exp = start_redis_exporter(
            tmp_path, f"--redis.addr=redis://127.0.0.1:{port}", env={"REDIS_PASSWORD": password[0]}
        )
        try:
            for _ in range(3):
                assert value(get_ok(exp), "redis_up") == 0
        finally:
            exp.stop()
    log = exp.log()
    assert log.count("max number of clients reached") == 1, log
    assert password[0] not in log
