"""The fast RESP2 packer and parser give exactly what redis-py gives, however the bytes arrive."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis import exceptions as rex
from redis.asyncio.connection import Connection

from exporters.redis import resp


def connection() -> Connection:
    return Connection(host="127.0.0.1", port=1, protocol=2)  # never connected: only its encoder and parser


COMMANDS = [
    ("INFO", "ALL"),
    ("CONFIG", "GET", "maxmemory"),
    ("SLOWLOG", "GET", 1),
    ("SELECT", 9),
    ("SCAN", 0, "MATCH", "bench:*", "COUNT", 1000),
    ("GET", b"\xff\x00binary"),
    ("SET", "k\u00e9y", "v"),
    ("CONFIG GET", "databases"),  # a name redis-py splits: its own packer does it
]


def test_pack_commands_is_byte_identical_to_redis_py():
    conn = connection()
    ours = resp.pack_commands(conn, COMMANDS)
    theirs = conn.pack_commands(COMMANDS)
    as_bytes = lambda x: x if isinstance(x, bytes) else b"".join(x)  # noqa: E731
    assert as_bytes(ours) == as_bytes(theirs)
    assert as_bytes(resp.pack_commands(conn, COMMANDS[:-1])) == as_bytes(conn.pack_commands(COMMANDS[:-1]))


STREAM = (
    b"$12\r\n# Server\r\nab\r\n"  # bulk with CRLF inside
    b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"  # flat array
    b":42\r\n"  # integer
    b"$-1\r\n"  # nil
    b"*-1\r\n"  # nil array
    b"+OK\r\n"  # simple string
    b"-NOPERM this user has no permissions to run the 'config|get' command\r\n"
    b"*2\r\n*3\r\n:1\r\n:2\r\n*0\r\n$0\r\n\r\n"
)  # nested, empty array, empty bulk
EXPECTED = [b"# Server\r\nab", [b"maxmemory", b"0"], 42, None, None, b"OK", rex.NoPermissionError, [[1, 2, []], b""]]


def read(chunks: list[bytes], count: int) -> list:
    async def run():
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        return await resp.read_replies(reader, count, connection()._parser.parse_error)

    return asyncio.run(run())


def check(replies: list) -> None:
    assert len(replies) == len(EXPECTED)
    for got, want in zip(replies, EXPECTED):
        if isinstance(want, type):
            assert isinstance(got, want) and "config|get" in str(got)
        else:
            assert got == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12, unique=True))
def test_replies_parse_the_same_however_the_bytes_are_split(cuts):
    bounds = [0, *sorted(cuts), len(STREAM)]
    check(read([STREAM[a:b] for a, b in zip(bounds, bounds[1:])], len(EXPECTED)))


def test_a_big_reply_arrives_whole():
    members = [b"m%05d" % i for i in range(10_000)]
    stream = b"*%d\r\n" % len(members) + b"".join(b"$%d\r\n%s\r\n" % (len(m), m) for m in members)
    assert read([stream[i : i + 1000] for i in range(0, len(stream), 1000)], 1) == [members]


@pytest.mark.parametrize(
    "stream,count",
    [
        (b":1\r\n", 2),  # the server closed before the second reply
        (b"?what\r\n", 1),  # not RESP
        (b":1\r\n:2\r\n", 1),  # more bytes than replies: out of step
    ],
)
def test_a_connection_out_of_step_is_a_connection_error(stream, count):
    with pytest.raises(rex.ConnectionError):
        read([stream], count)
