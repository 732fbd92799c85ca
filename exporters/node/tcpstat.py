"""tcpstat (off by default): TCP sockets by state and their queued bytes, from the kernel's socket diagnostics
(netlink NETLINK_INET_DIAG, SOCK_DIAG_BY_FAMILY, as node_exporter asks), for IPv4 and, when
<procfs>/net/tcp6 exists, IPv6. The answers describe the network namespace the exporter runs in."""

from __future__ import annotations

import os
import socket
import struct

from ..core.metrics import gauge
from ..core.scrape import remaining_seconds
from . import netlink
from .registry import HostCollector, node_collectors

STATES = gauge("node_tcp_connection_states", "Number of connection states.", "state")
# the kernel's TCP states (include/net/tcp_states.h), from 1
STATE_NAMES = {
    1: "established",
    2: "syn_sent",
    3: "syn_recv",
    4: "fin_wait1",
    5: "fin_wait2",
    6: "time_wait",
    7: "close",
    8: "close_wait",
    9: "last_ack",
    10: "listen",
    11: "closing",
}

NETLINK_INET_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCPF_ALL = 0xFFF
INET_DIAG_INFO = 2
_MSG = struct.Struct("=BBBB48sIIIII")  # inet_diag_msg: family, state, timer, retrans, id, expires, rqueue, wqueue, ...
MAX_SECONDS = 5.0


def diag_request(family: int) -> bytes:
    """inet_diag_req_v2 for every TCP socket of ``family`` (an empty socket id)."""
    return struct.pack("=BBBBI48s", family, socket.IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 0, TCPF_ALL, b"")


def tcp_stats(family: int, counts: dict[str, float], timeout: float) -> None:
    for _kind, payload in netlink.dump(NETLINK_INET_DIAG, SOCK_DIAG_BY_FAMILY, diag_request(family), timeout):
        if len(payload) < _MSG.size:
            continue
        _fam, state, _t, _r, _id, _exp, rqueue, wqueue, _uid, _inode = _MSG.unpack_from(payload)
        counts["tx_queued_bytes"] = counts.get("tx_queued_bytes", 0) + wqueue
        counts["rx_queued_bytes"] = counts.get("rx_queued_bytes", 0) + rqueue
        name = STATE_NAMES.get(state, "unknown")
        counts[name] = counts.get(name, 0) + 1


@node_collectors.register
class TCPStatCollector(HostCollector):
    name = "tcpstat"
    default_enabled = False
    description = "TCP sockets by state and queued bytes (netlink sock_diag)."
    metrics = (STATES,)

    def read(self):
        timeout = max(0.1, min(MAX_SECONDS, remaining_seconds()))
        counts: dict[str, float] = {}
        tcp_stats(socket.AF_INET, counts, timeout)
        if os.path.exists(self.proc("net", "tcp6")):
            tcp_stats(socket.AF_INET6, counts, timeout)
        fam = STATES.family()
        for state, value in counts.items():
            fam.add((state,), value)
        yield fam
