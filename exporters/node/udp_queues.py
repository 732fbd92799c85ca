"""udp_queues: bytes queued in UDP sockets, from /proc/net/udp and /proc/net/udp6.

The ``tx_queue:rx_queue`` column (hexadecimal) of every socket is summed:
``node_udp_queues{ip="v4",queue="rx"}``. udp6 is absent when IPv6 is
disabled; that is not an error.
"""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

QUEUES = gauge("node_udp_queues", "Number of allocated memory in the kernel for UDP datagrams in bytes.", "ip", "queue")


def parse_udp_queues(text: str, filename: str = "udp") -> tuple[int, int]:
    """Return ``(tx_queue sum, rx_queue sum)`` over the sockets of /proc/net/udp{,6} text.

    The first line is the header. A socket line without a ``tx:rx`` fifth
    column of hex numbers raises ValueError."""
    tx = rx = 0
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        queues = fields[4].split(":") if len(fields) > 4 else ()
        if len(queues) != 2:
            raise ValueError(f"{filename}: malformed socket line {line[:80]!r}")
        try:
            tx += int(queues[0], 16)
            rx += int(queues[1], 16)
        except ValueError:
            raise ValueError(f"{filename}: queue sizes not hexadecimal in {line[:80]!r}") from None
    return tx, rx


@node_collectors.register
class UDPQueuesCollector(HostCollector):
    name = "udp_queues"
    description = "Bytes queued in UDP sockets (/proc/net/udp, udp6)."
    metrics = (QUEUES,)

    def read(self):
        fam = QUEUES.family()
        tx, rx = parse_udp_queues(read_text(self.proc("net", "udp")), "/proc/net/udp")
        fam.add(("v4", "rx"), rx)
        fam.add(("v4", "tx"), tx)
        try:
            text6 = read_text(self.proc("net", "udp6"))
        except FileNotFoundError:
            pass  # IPv6 disabled
        else:
            tx, rx = parse_udp_queues(text6, "/proc/net/udp6")
            fam.add(("v6", "rx"), rx)
            fam.add(("v6", "tx"), tx)
        yield fam
