"""A netlink dump for the collectors that ask the kernel rather than /proc (tcpstat, network_route): one
request with NLM_F_DUMP, then every message until NLMSG_DONE, under a socket timeout."""

from __future__ import annotations

import os
import socket
import struct
from typing import Iterator

NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
ATTR = struct.Struct("=HH")  # rtattr / nlattr: length, type


def dump(protocol: int, msg_type: int, body: bytes, timeout: float) -> Iterator[tuple[int, bytes]]:
    """(message type, payload) of every answer to a dump request."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol) as sock:
        sock.settimeout(timeout)
        sock.send(HEADER.pack(HEADER.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        while True:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, _flags, _seq, _pid = HEADER.unpack_from(data, offset)
                if length < HEADER.size or offset + length > len(data):
                    raise ValueError(f"netlink: malformed message length {length}")
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", data, offset + HEADER.size)[0]
                    if errno == 0:  # an acknowledgement
                        offset += (length + 3) & ~3
                        continue
                    raise OSError(errno, f"netlink: {os.strerror(errno)}")
                yield kind, data[offset + HEADER.size : offset + length]
                offset += (length + 3) & ~3


def attributes(data: bytes, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each attribute from ``offset`` on."""
    while offset + ATTR.size <= len(data):
        length, kind = ATTR.unpack_from(data, offset)
        if length < ATTR.size:
            return
        yield kind & 0x3FFF, data[offset + ATTR.size : offset + length]
        offset += (length + 3) & ~3
