"""RESP2 on the wire, fast: the request bytes of a pipeline and the parsing of its replies.

redis-py stays the connection (connect, AUTH, TLS, CLIENT SETNAME); these two replace only its
per-command packer and its parser, which await one coroutine per RESP line: with LATENCY HISTOGRAM
and key checks that was most of a scrape's CPU (measured in bench/redis_bench.py). Both fall back
to redis-py for anything unusual, and give exactly the values redis-py gives (tests/unit/test_redis_resp.py).
"""

from __future__ import annotations

import asyncio

_NAMES: dict[str, bytes | None] = {}  # command name -> its bytes; None when redis-py would split it


def pack_commands(conn, commands) -> bytes | list:
    """The RESP bytes of ``commands``, as redis-py's pack_commands() makes them (a key check sends
    hundreds of commands per scrape; its packer was a tenth of such a scrape's CPU). Arguments
    other than str, bytes and int (not bool), and names redis-py would split ('CONFIG GET'),
    go through redis-py's own packer."""
    encoder = conn.encoder
    if encoder.encoding.lower().replace("-", "") != "utf8" or encoder.encoding_errors != "strict":
        return conn.pack_commands(commands)
    out = []
    append = out.append
    for cmd in commands:
        first = cmd[0] if cmd else None
        name = _NAMES.get(first) if first.__class__ is str else None
        if name is None:
            if first.__class__ is not str or first in _NAMES:
                return conn.pack_commands(commands)
            parts = first.encode().split()
            name = _NAMES[first] = parts[0] if len(parts) == 1 and parts[0] == first.encode() else None
            if name is None:
                return conn.pack_commands(commands)
        append(b"*%d\r\n$%d\r\n%s\r\n" % (len(cmd), len(name), name))
        for arg in cmd[1:]:
            cls = arg.__class__
            if cls is bytes:
                data = arg
            elif cls is str:
                data = arg.encode()
            elif cls is int:
                data = b"%d" % arg
            else:
                return conn.pack_commands(commands)
            append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more."""


def parse_reply(data: bytes, pos: int, parse_error):
    """One RESP2 reply of ``data`` from ``pos``: (value, position after it), with the values redis-py's
    RESP2 parser gives without decoding (bytes, int, None, lists; an error reply is its exception
    instance, a ConnectionError one raised). Raises _Incomplete when ``data`` ends first."""
    end = data.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = data[pos]
    line = data[pos + 1 : end]
    pos = end + 2
    if kind == 36:  # $ bulk string
        n = int(line)
        if n < 0:
            return None, pos
        stop = pos + n
        if len(data) < stop + 2:
            raise _Incomplete
        return data[pos:stop], stop + 2
    if kind == 42:  # * array
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        append = items.append
        for _ in range(n):
            value, pos = parse_reply(data, pos, parse_error)
            append(value)
        return items, pos
    if kind == 58:  # : integer
        return int(line), pos
    if kind == 43:  # + simple string
        return line, pos
    if kind == 45:  # - error
        from redis import exceptions as rex

        error = parse_error(line.decode("utf-8", errors="replace"))
        if isinstance(error, rex.ConnectionError):
            raise error
        return error, pos
    raise ValueError(f"unknown reply type {bytes([kind])!r}")


async def read_replies(reader: asyncio.StreamReader, count: int, parse_error) -> list:
    """``count`` RESP2 replies from ``reader``, read in large chunks and parsed from memory: the same
    values as redis-py's parser (read_response, one coroutine per RESP line, was most of a scrape's
    CPU: LATENCY HISTOGRAM alone is hundreds of lines). A top-level error reply is its ResponseError
    instance in its place (the session makes it a CommandFailed); nothing past the last reply
    is read, since nothing else was asked for on this connection (RESP2, no pub/sub)."""
    from redis import exceptions as rex

    data = b""
    pos = 0
    replies: list = []
    while len(replies) < count:
        try:
            value, end = parse_reply(data, pos, parse_error)
        except _Incomplete:
            chunk = await reader.read(max(65536, len(data) - pos))  # doubling: a big reply is parsed O(log n) times
            if not chunk:
                raise rex.ConnectionError("Connection closed by server.") from None
            data = data[pos:] + chunk
            pos = 0
            continue
        except ValueError:  # not RESP: the connection cannot be trusted (execute() drops it)
            raise rex.ConnectionError("protocol error: malformed reply") from None
        pos = end
        replies.append(value)
    if pos != len(data):  # more bytes than replies: the connection is out of step (execute() drops it)
        raise rex.ConnectionError("protocol error: data after the last reply")
    return replies
