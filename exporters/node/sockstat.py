"""sockstat: socket counts per protocol from /proc/net/sockstat and /proc/net/sockstat6.

``TCP: inuse 2 orphan 0 tw 1 alloc 2 mem 285`` becomes ``node_sockstat_TCP_inuse``,
``..._orphan``, ``..._tw``, ``..._alloc``, ``..._mem`` (pages) and
``node_sockstat_TCP_mem_bytes`` (pages times the page size); ``sockets: used 11``
becomes ``node_sockstat_sockets_used``. As in node_exporter, only the states
``inuse orphan tw alloc mem memory`` are exported, and ``inuse`` is always
present. sockstat6 (``TCP6: inuse 0``) is absent when IPv6 is disabled; that is
not an error.
"""

from __future__ import annotations

import os
import re

from ..core.metrics import GAUGE, MetricFamily, gauge
from .registry import HostCollector, node_collectors, read_text

SOCKETS_USED = gauge("node_sockstat_sockets_used", "Number of IPv4 sockets in use.")
# For the generated metric reference only: the real names come from the files.
PROTO_STATE = gauge("node_sockstat_<PROTO>_<state>", "Number of <PROTO> sockets in state <state>.")
PROTO_MEM_BYTES = gauge("node_sockstat_<PROTO>_mem_bytes", "Number of <PROTO> sockets in state mem_bytes.")

# The states node_exporter exports, in its order; "inuse" defaults to 0.
STATES = ("inuse", "orphan", "tw", "alloc", "mem", "memory")

_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def parse_sockstat(text: str, filename: str = "sockstat") -> tuple[int | None, dict[str, dict[str, int]]]:
    """Return ``(sockets used or None, {protocol: {state: value}})``.

    Each line is ``<PROTO>: key value [key value ...]``. A line without at
    least one pair, with an odd number of fields or a non-integer value
    raises ValueError (node_exporter fails the same way)."""
    used: int | None = None
    protocols: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or len(fields) % 2 == 0 or not fields[0].endswith(":"):
            raise ValueError(f"{filename}: malformed line {line[:80]!r}")
        try:
            kvs = {fields[i]: int(fields[i + 1]) for i in range(1, len(fields), 2)}
        except ValueError:
            raise ValueError(f"{filename}: non-integer value in {line[:80]!r}") from None
        proto = fields[0][:-1]
        if proto == "sockets":
            used = kvs.get("used", 0)
        else:
            protocols[proto] = kvs
    return used, protocols


def sockstat_values(
    used: int | None, protocols: dict[str, dict[str, int]], page_size: int, ipv6: bool = False
) -> dict[str, tuple[str, int]]:
    """``{metric name: (help, value)}`` as node_exporter names them."""
    out: dict[str, tuple[str, int]] = {}
    if used is not None and not ipv6:
        out[SOCKETS_USED.name] = (SOCKETS_USED.help, used)
    for proto, kvs in protocols.items():
        if not _NAME.match(proto):
            continue
        pairs = [(state, kvs[state]) for state in STATES if state in kvs]
        if "inuse" not in kvs:
            pairs.insert(0, ("inuse", 0))
        if "mem" in kvs:
            pairs.append(("mem_bytes", kvs["mem"] * page_size))
        for state, value in pairs:
            out[f"node_sockstat_{proto}_{state}"] = (f"Number of {proto} sockets in state {state}.", value)
    return out


@node_collectors.register
class SockstatCollector(HostCollector):
    name = "sockstat"
    description = "Socket counts per protocol (/proc/net/sockstat, sockstat6)."
    metrics = (SOCKETS_USED, PROTO_STATE, PROTO_MEM_BYTES)

    page_size = os.sysconf("SC_PAGE_SIZE")

    def read(self):
        used, protocols = parse_sockstat(read_text(self.proc("net", "sockstat")), "/proc/net/sockstat")
        values = sockstat_values(used, protocols, self.page_size)
        try:
            text6 = read_text(self.proc("net", "sockstat6"))
        except FileNotFoundError:
            pass  # IPv6 disabled
        else:
            used6, protocols6 = parse_sockstat(text6, "/proc/net/sockstat6")
            values.update(sockstat_values(used6, protocols6, self.page_size, ipv6=True))
        for name in sorted(values):
            help_text, value = values[name]
            fam = MetricFamily(name, GAUGE, help_text)
            fam.add((), value)
            yield fam
