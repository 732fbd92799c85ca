"""nfs: NFS client statistics from /proc/net/rpc/nfs: RPC counts and retransmissions, and how often each NFS
procedure was called, per protocol version.

The file has one line per kind (``net``, ``rpc``, ``proc2``, ``proc3``, ``proc4``); a ``procN`` line starts
with the number of counters that follow, one per procedure in the order of the RPC specification (the
METHODS tables below, which give the ``method`` label as node_exporter names it). Every procedure of NFSv2,
v3 and v4 is served, 0 when the file has no line for that version, as node_exporter does. A malformed line
fails the collector with an error naming it; no file (no NFS client module) is no data.
"""

from __future__ import annotations

from ..core.collector import NoData
from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text
from .sysfs_values import go_uint

PACKETS = counter("node_nfs_packets_total", "Total NFSd network packets (sent+received) by protocol type.", "protocol")
CONNECTIONS = counter("node_nfs_connections_total", "Total number of NFSd TCP connections.")
RPCS = counter("node_nfs_rpcs_total", "Total number of RPCs performed.")
RETRANSMISSIONS = counter("node_nfs_rpc_retransmissions_total", "Number of RPC transmissions performed.")
AUTH_REFRESHES = counter(
    "node_nfs_rpc_authentication_refreshes_total", "Number of RPC authentication refreshes performed."
)
REQUESTS = counter("node_nfs_requests_total", "Number of NFS procedures invoked.", "proto", "method")

V2_METHODS = (
    "Null",
    "GetAttr",
    "SetAttr",
    "Root",
    "Lookup",
    "ReadLink",
    "Read",
    "WrCache",
    "Write",
    "Create",
    "Remove",
    "Rename",
    "Link",
    "SymLink",
    "MkDir",
    "RmDir",
    "ReadDir",
    "FsStat",
)
V3_METHODS = (
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
)
CLIENT_V4_METHODS = (
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
)


def parse_rpc_lines(text: str, kind: str, fields_of=lambda key, parts: parts[1:]) -> dict[str, list[int]]:
    """{line key: its unsigned numbers} of an /proc/net/rpc file; ValueError naming a malformed line."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"invalid {kind} metric line {line[:80]!r}")
        values = [go_uint(p) for p in fields_of(parts[0], parts)]
        if None in values:
            raise ValueError(f"{kind} metric line {parts[0]!r}: not a number in {line[:80]!r}")
        out[parts[0]] = values
    return out


def exactly(values: list[int], n: int, key: str) -> list[int]:
    if len(values) != n:
        raise ValueError(f"invalid {key} line: {len(values)} values, expected {n}")
    return values


def procedures(
    values: list[int] | None, methods: tuple[str, ...], key: str, minimum: int | None = None, pad: bool = False
) -> list[int]:
    """The counters of a ``procN`` line (its first number is their count), one per method; zeros when absent."""
    if values is None:
        return [0] * len(methods)
    count = values[0]
    if len(values) - 1 != count or (minimum is not None and count < minimum):
        raise ValueError(f"invalid {key} line: says {count} values, has {len(values) - 1}")
    counters = values[1:]
    if len(counters) < len(methods):
        if not pad:
            raise ValueError(f"invalid {key} line: {len(counters)} values, expected {len(methods)}")
        counters = counters + [0] * (len(methods) - len(counters))
    return counters[: len(methods)]


@node_collectors.register
class NFSCollector(HostCollector):
    name = "nfs"
    description = "NFS client RPC and per-procedure statistics (/proc/net/rpc/nfs)."
    metrics = (PACKETS, CONNECTIONS, RPCS, RETRANSMISSIONS, AUTH_REFRESHES, REQUESTS)

    def read(self):
        path = self.proc("net", "rpc", "nfs")
        try:
            text = read_text(path)
        except FileNotFoundError:
            raise NoData(f"{path} does not exist: no NFS client statistics (nfs module not loaded)") from None
        lines = parse_rpc_lines(text, "NFS")
        unknown = set(lines) - {"net", "rpc", "proc2", "proc3", "proc4"}
        if unknown:
            raise ValueError(f"{path}: unknown NFS metric line {sorted(unknown)[0]!r}")
        net = exactly(lines.get("net", [0, 0, 0, 0]), 4, "net")
        rpc = exactly(lines.get("rpc", [0, 0, 0]), 3, "rpc")
        packets, connections = PACKETS.family(), CONNECTIONS.family()
        packets.add(("udp",), net[1])
        packets.add(("tcp",), net[2])
        connections.add((), net[3])
        totals = []
        for d, value in ((RPCS, rpc[0]), (RETRANSMISSIONS, rpc[1]), (AUTH_REFRESHES, rpc[2])):
            fam = d.family()
            fam.add((), value)
            totals.append(fam)
        requests = REQUESTS.family()
        for proto, key, methods, minimum, pad in (
            ("2", "proc2", V2_METHODS, 18, False),
            ("3", "proc3", V3_METHODS, 22, False),
            ("4", "proc4", CLIENT_V4_METHODS, None, True),
        ):
            for method, value in zip(methods, procedures(lines.get(key), methods, key, minimum, pad)):
                requests.add((proto, method), value)
        return [packets, connections, *totals, requests]
