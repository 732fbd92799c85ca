"""nfsd: NFS server statistics from /proc/net/rpc/nfsd: the reply cache, bytes read and written, threads,
network and RPC errors, and how often each NFS operation was served, per protocol version.

The line format is as for the client (see nfs.py); the server adds ``rc``, ``fh``, ``io``, ``th``, ``ra``,
``proc4ops`` (one counter per NFSv4 operation) and ``wdeleg_getattr``. The ``method`` labels and which
procedures are served follow node_exporter (the NULL procedures and the unused v4 operations are not). A
malformed line fails the collector with an error naming it; no file (no NFS server) is no data.
"""

from __future__ import annotations

from ..core.collector import NoData
from ..core.metrics import counter, gauge
from .nfs import V2_METHODS, V3_METHODS, exactly, parse_rpc_lines, procedures
from .registry import HostCollector, node_collectors, read_text

REQUESTS = counter("node_nfsd_requests_total", "Total number NFSd Requests by method and protocol.", "proto", "method")
PACKETS = counter("node_nfsd_packets_total", "Total NFSd network packets (sent+received) by protocol type.", "proto")
RPC_ERRORS = counter("node_nfsd_rpc_errors_total", "Total number of NFSd RPC errors by error type.", "error")

# (line, index in it, family) for the single-value series, in node_exporter's order.
SINGLE = (
    (
        "rc",
        0,
        counter(
            "node_nfsd_reply_cache_hits_total", "Total number of NFSd Reply Cache hits (client lost server response)."
        ),
    ),
    (
        "rc",
        1,
        counter(
            "node_nfsd_reply_cache_misses_total",
            "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        ),
    ),
    (
        "rc",
        2,
        counter(
            "node_nfsd_reply_cache_nocache_total",
            "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        ),
    ),
    ("fh", 0, counter("node_nfsd_file_handles_stale_total", "Total number of NFSd stale file handles")),
    ("io", 0, counter("node_nfsd_disk_bytes_read_total", "Total NFSd bytes read.")),
    ("io", 1, counter("node_nfsd_disk_bytes_written_total", "Total NFSd bytes written.")),
    ("th", 0, gauge("node_nfsd_server_threads", "Total number of NFSd kernel threads that are running.")),
    ("ra", 0, gauge("node_nfsd_read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.")),
    (
        "ra",
        11,
        counter("node_nfsd_read_ahead_cache_not_found_total", "Total number of NFSd read ahead cache not found."),
    ),
    ("net", 3, counter("node_nfsd_connections_total", "Total number of NFSd TCP connections.")),
    ("rpc", 0, counter("node_nfsd_server_rpcs_total", "Total number of NFSd RPCs.")),
)
# Number of values each line must have (th: its first two are read; proc lines are checked apart).
LINE_LENGTHS = {"rc": 3, "fh": 5, "io": 2, "th": 2, "ra": 12, "net": 4, "rpc": 5}
KNOWN_LINES = set(LINE_LENGTHS) | {"proc2", "proc3", "proc4", "proc4ops", "wdeleg_getattr"}

V4_OPS = (
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "Access",
    "Close",
    "Commit",
    "Create",
    "DelegPurge",
    "DelegReturn",
    "GetAttr",
    "GetFH",
    "Link",
    "Lock",
    "Lockt",
    "Locku",
    "Lookup",
    "LookupRoot",
    "Nverify",
    "Open",
    "OpenAttr",
    "OpenConfirm",
    "OpenDgrd",
    "PutFH",
    "PutPubFH",
    "PutRootFH",
    "Read",
    "ReadDir",
    "ReadLink",
    "Remove",
    "Rename",
    "Renew",
    "RestoreFH",
    "SaveFH",
    "SecInfo",
    "SetAttr",
    "SetClientID",
    "SetClientIDConfirm",
    "Verify",
    "Write",
    "RelLockOwner",
)
NOT_SERVED = {"Null", "Op0Unused", "Op1Unused", "Op2Future", "PutPubFH", "PutRootFH"}


def _th_fields(key: str, parts: list[str]) -> list[str]:
    if key == "th":
        if len(parts) < 3:
            raise ValueError(f"invalid NFSd th metric line {' '.join(parts)[:80]!r}")
        return parts[1:3]  # the rest are the obsolete thread-usage histogram, floats
    return parts[1:]


@node_collectors.register
class NFSdCollector(HostCollector):
    name = "nfsd"
    description = "NFS server statistics (/proc/net/rpc/nfsd): reply cache, I/O, threads, per-operation requests."
    metrics = tuple(d for _, _, d in SINGLE) + (PACKETS, RPC_ERRORS, REQUESTS)

    def read(self):
        path = self.proc("net", "rpc", "nfsd")
        try:
            text = read_text(path)
        except FileNotFoundError:
            raise NoData(f"{path} does not exist: no NFS server statistics (nfsd not running)") from None
        lines = parse_rpc_lines(text, "NFSd", _th_fields)
        unknown = set(lines) - KNOWN_LINES
        if unknown:
            raise ValueError(f"{path}: unknown NFSd metric line {sorted(unknown)[0]!r}")
        fixed = {key: exactly(lines.get(key, [0] * n), n, key) for key, n in LINE_LENGTHS.items()}
        if "proc4" in lines:
            procedures(lines["proc4"], ("Null", "Compound"), "proc4", 2)
            if lines["proc4"][0] != 2:
                raise ValueError("invalid proc4 line: expected 2 values")
        families = []
        for key, index, d in SINGLE:
            fam = d.family()
            fam.add((), fixed[key][index])
            families.append(fam)
        packets, errors = PACKETS.family(), RPC_ERRORS.family()
        packets.add(("udp",), fixed["net"][1])
        packets.add(("tcp",), fixed["net"][2])
        for error, index in (("fmt", 2), ("auth", 3), ("cInt", 4)):
            errors.add((error,), fixed["rpc"][index])
        requests = REQUESTS.family()
        ops = lines.get("proc4ops")
        if ops is not None and (len(ops) - 1 != ops[0] or ops[0] < 39):
            raise ValueError(f"invalid proc4ops line: says {ops[0]} values, has {len(ops) - 1}")
        v4 = procedures(ops, V4_OPS, "proc4ops", 39, pad=True)
        for proto, methods, values in (
            ("2", V2_METHODS, procedures(lines.get("proc2"), V2_METHODS, "proc2", 18)),
            ("3", V3_METHODS, procedures(lines.get("proc3"), V3_METHODS, "proc3", 22)),
            ("4", V4_OPS, v4),
        ):
            for method, value in zip(methods, values):
                if method not in NOT_SERVED:
                    requests.add((proto, method), value)
        wdeleg = lines.get("wdeleg_getattr", [0])
        requests.add(("4", "WdelegGetattr"), wdeleg[0])
        return [*families, packets, errors, requests]
