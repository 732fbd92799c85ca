"""mountstats (off by default): NFS client statistics per mount, from /proc/self/mountstats, with the server
address ("addr=" of the superblock options) from /proc/self/mountinfo, whose lines come in the same order.

Read as node_exporter 1.9 reads them: only NFS mounts have statistics; a mount whose (export, protocol,
address) was already reported (the same export mounted twice) is reported once; millisecond totals and the
idle time wrap at 2^53 before they become float64 seconds."""

from __future__ import annotations

from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors, read_text

LABELS = ("export", "protocol", "mountaddr")
MANTISSA = 1 << 53


def _c(name: str, help_: str, *extra: str):
    return counter(f"node_mountstats_nfs_{name}", help_, *LABELS, *extra)


AGE = _c("age_seconds_total", "The age of the NFS mount in seconds.")
BYTES = (  # "bytes:" fields, in the kernel's order
    _c("read_bytes_total", "Number of bytes read using the read() syscall."),
    _c("write_bytes_total", "Number of bytes written using the write() syscall."),
    _c("direct_read_bytes_total", "Number of bytes read using the read() syscall in O_DIRECT mode."),
    _c("direct_write_bytes_total", "Number of bytes written using the write() syscall in O_DIRECT mode."),
    _c("total_read_bytes_total", "Number of bytes read from the NFS server, in total."),
    _c("total_write_bytes_total", "Number of bytes written to the NFS server, in total."),
    _c("read_pages_total", "Number of pages read directly via mmap()'d files."),
    _c("write_pages_total", "Number of pages written directly via mmap()'d files."),
)
# (index in the normalised "xprt:" numbers, metric); the idle time wraps at 2^53
TRANSPORT = (
    (
        1,
        _c(
            "transport_bind_total",
            "Number of times the client has had to establish a connection from scratch to the NFS server.",
        ),
    ),
    (2, _c("transport_connect_total", "Number of times the client has made a TCP connection to the NFS server.")),
    (
        4,
        gauge(
            "node_mountstats_nfs_transport_idle_time_seconds",
            "Duration since the NFS mount last saw any RPC traffic, in seconds.",
            *LABELS,
        ),
    ),
    (5, _c("transport_sends_total", "Number of RPC requests for this mount sent to the NFS server.")),
    (6, _c("transport_receives_total", "Number of RPC responses for this mount received from the NFS server.")),
    (
        7,
        _c(
            "transport_bad_transaction_ids_total",
            "Number of times the NFS server sent a response with a transaction ID unknown to this client.",
        ),
    ),
    (9, _c("transport_backlog_queue_total", "Total number of items added to the RPC backlog queue.")),
    (
        10,
        gauge(
            "node_mountstats_nfs_transport_maximum_rpc_slots",
            "Maximum number of simultaneously active RPC requests ever used.",
            *LABELS,
        ),
    ),
    (11, _c("transport_sending_queue_total", "Total number of items added to the RPC transmission sending queue.")),
    (12, _c("transport_pending_queue_total", "Total number of items added to the RPC transmission pending queue.")),
)
# (index in a per-op line's numbers, metric, divisor): milliseconds become seconds
OPERATIONS = (
    (0, _c("operations_requests_total", "Number of requests performed for a given operation.", "operation"), 0),
    (
        1,
        _c(
            "operations_transmissions_total",
            "Number of times an actual RPC request has been transmitted for a given operation.",
            "operation",
        ),
        0,
    ),
    (
        2,
        _c(
            "operations_major_timeouts_total",
            "Number of times a request has had a major timeout for a given operation.",
            "operation",
        ),
        0,
    ),
    (
        3,
        _c(
            "operations_sent_bytes_total",
            "Number of bytes sent for a given operation, including RPC headers and payload.",
            "operation",
        ),
        0,
    ),
    (
        4,
        _c(
            "operations_received_bytes_total",
            "Number of bytes received for a given operation, including RPC headers and payload.",
            "operation",
        ),
        0,
    ),
    (
        5,
        _c(
            "operations_queue_time_seconds_total",
            "Duration all requests spent queued for transmission for a given "
            "operation before they were sent, in seconds.",
            "operation",
        ),
        1000,
    ),
    (
        6,
        _c(
            "operations_response_time_seconds_total",
            "Duration all requests took to get a reply back after a request "
            "for a given operation was transmitted, in seconds.",
            "operation",
        ),
        1000,
    ),
    (
        7,
        _c(
            "operations_request_time_seconds_total",
            "Duration all requests took from when a request was enqueued to "
            "when it was completely handled for a given operation, in "
            "seconds.",
            "operation",
        ),
        1000,
    ),
)
# "events:" fields by position -> metric (congestion_wait, position 18, is not served, as in node_exporter)
EVENTS = tuple(
    (i, _c(f"event_{name}_total", help_))
    for i, name, help_ in (
        (0, "inode_revalidate", "Number of times cached inode attributes are re-validated from the server."),
        (1, "dnode_revalidate", "Number of times cached dentry nodes are re-validated from the server."),
        (2, "data_invalidate", "Number of times an inode cache is cleared."),
        (3, "attribute_invalidate", "Number of times cached inode attributes are invalidated."),
        (4, "vfs_open", "Number of times cached inode attributes are invalidated."),
        (5, "vfs_lookup", "Number of times a directory lookup has occurred."),
        (6, "vfs_access", "Number of times permissions have been checked."),
        (7, "vfs_update_page", "Number of updates (and potential writes) to pages."),
        (8, "vfs_read_page", "Number of pages read directly via mmap()'d files."),
        (9, "vfs_read_pages", "Number of times a group of pages have been read."),
        (10, "vfs_write_page", "Number of pages written directly via mmap()'d files."),
        (11, "vfs_write_pages", "Number of times a group of pages have been written."),
        (12, "vfs_getdents", "Number of times directory entries have been read with getdents()."),
        (13, "vfs_setattr", "Number of times directory entries have been read with getdents()."),
        (14, "vfs_flush", "Number of pending writes that have been forcefully flushed to the server."),
        (15, "vfs_fsync", "Number of times fsync() has been called on directories and files."),
        (16, "vfs_lock", "Number of times locking has been attempted on a file."),
        (17, "vfs_file_release", "Number of times files have been closed and released."),
        (19, "truncation", "Number of times files have been truncated."),
        (20, "write_extension", "Number of times a file has been grown due to writes beyond its existing end."),
        (21, "silly_rename", "Number of times a file was removed while still open by another process."),
        (22, "short_read", "Number of times the NFS server gave less data than expected while reading."),
        (23, "short_write", "Number of times the NFS server wrote less data than expected while writing."),
        (
            24,
            "jukebox_delay",
            "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage.",
        ),
        (25, "pnfs_read", "Number of NFS v4.1+ pNFS reads."),
        (26, "pnfs_write", "Number of NFS v4.1+ pNFS writes."),
    )
)
# xprt field counts by stats version and protocol; rdma has a minimum
XPRT_LENGTHS = {("1.0", "tcp"): 10, ("1.0", "udp"): 7, ("1.1", "tcp"): 13, ("1.1", "udp"): 10}
RDMA_MIN = 20


def _uints(values: list[str], what: str) -> list[int]:
    try:
        out = [int(v) for v in values]
    except ValueError:
        raise ValueError(f"mountstats: non-numeric {what}: {' '.join(values)[:80]!r}") from None
    if any(v < 0 for v in out):
        raise ValueError(f"mountstats: negative {what}")
    return out


def _transport(fields: list[str], version: str) -> tuple[str, list[int]]:
    """The protocol and the numbers of an "xprt:" line, laid out as tcp's (udp lacks connect, connect idle
    time and idle time; rdma lacks the three queue numbers)."""
    protocol, rest = fields[0], fields[1:]
    if version not in ("1.0", "1.1"):
        raise ValueError(f"mountstats: unrecognized NFS transport stats version {version!r}")
    if protocol == "rdma" and version == "1.1":
        if len(rest) < RDMA_MIN:
            raise ValueError("mountstats: invalid NFS transport stats 1.1 statement (rdma)")
    elif (version, protocol) not in XPRT_LENGTHS:
        raise ValueError(f"mountstats: invalid NFS protocol {protocol!r} in stats {version} statement")
    elif len(rest) != XPRT_LENGTHS[(version, protocol)]:
        raise ValueError(f"mountstats: invalid NFS transport stats {version} statement for {protocol}")
    ns = _uints(rest, "xprt field")
    if protocol == "udp":
        ns = ns[:2] + [0, 0, 0] + ns[2:]
    elif protocol == "rdma":
        ns = ns[:10] + [0, 0, 0] + ns[10:]
    return protocol, ns + [0] * max(0, 13 - len(ns))


def parse_mountstats(text: str) -> list[dict]:
    """One dict per "device" line: device, type, and for NFS mounts age, bytes, events, transports, operations."""
    mounts: list[dict] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ss = lines[i].split()
        i += 1
        if not ss or ss[0] != "device":
            continue
        if len(ss) < 8 or [ss[j] for j in (0, 2, 3, 5, 6)] != ["device", "mounted", "on", "with", "fstype"]:
            raise ValueError(f"mountstats: invalid device line {' '.join(ss)[:80]!r}")
        mount: dict = {"device": ss[1], "type": ss[7], "nfs": False}
        mounts.append(mount)
        if len(ss) == 8:
            continue
        if ss[7] not in ("nfs", "nfs4"):
            raise ValueError(f"mountstats: cannot parse statistics of fstype {ss[7]!r}")
        version = ss[8].removeprefix("statvers=")
        mount.update(nfs=True, age=0, bytes=[0] * 8, events=[0] * 27, transports=[], operations=[])
        per_op = False
        while i < len(lines):
            ss = lines[i].split()
            i += 1
            if not ss:
                break
            key = ss[0]
            if key == "age:" and len(ss) >= 2:
                mount["age"] = _uints(ss[1:2], "age")[0]
            elif key == "bytes:":
                if len(ss) != 9:
                    raise ValueError("mountstats: invalid NFS bytes stats")
                mount["bytes"] = _uints(ss[1:], "bytes")
            elif key == "events:":
                if len(ss) != 28:
                    raise ValueError("mountstats: invalid NFS events stats")
                mount["events"] = _uints(ss[1:], "events")
            elif key == "xprt:":
                if len(ss) < 3:
                    raise ValueError("mountstats: incomplete NFS transport stats")
                mount["transports"].append(_transport(ss[1:], version))
            elif key == "per-op":
                per_op = True
                break
        while per_op and i < len(lines):
            ss = lines[i].split()
            i += 1
            if not ss:
                break
            if len(ss) < 9:
                raise ValueError(f"mountstats: invalid NFS per-operations stats {' '.join(ss)[:80]!r}")
            mount["operations"].append((ss[0].removesuffix(":"), _uints(ss[1:], "per-op stats")))
    return mounts


def mount_addresses(text: str) -> list[str]:
    """The "addr=" superblock option of each /proc/self/mountinfo line ("" without one), in order."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or fields[-4] != "-":
            raise ValueError(f"mountinfo: invalid line {line[:80]!r}")
        address = ""
        for option in fields[-1].split(","):
            key, _, value = option.partition("=")
            if key == "addr":
                address = value.split("=")[0]
        out.append(address)
    return out


@node_collectors.register
class MountstatsCollector(HostCollector):
    name = "mountstats"
    default_enabled = False
    description = "NFS client statistics per mount (/proc/self/mountstats)."
    metrics = (AGE, *BYTES, *(d for _, d in TRANSPORT), *(d for _, d, _ in OPERATIONS), *(d for _, d in EVENTS))

    def read(self):
        mounts = parse_mountstats(read_text(self.proc("self", "mountstats")))
        addresses = mount_addresses(read_text(self.proc("self", "mountinfo")))
        families = {d.name: d.family() for d in self.metrics}
        seen = set()
        for index, mount in enumerate(mounts):
            if not mount["nfs"]:
                continue
            address = addresses[index] if index < len(addresses) else ""
            for protocol, _ in mount["transports"]:
                key = (mount["device"], protocol, address)
                if key in seen:
                    break
                seen.add(key)
                self._add(families, mount, key)
        return list(families.values())

    @staticmethod
    def _add(families, mount: dict, labels: tuple) -> None:
        families[AGE.name].add(labels, float(mount["age"]))
        for d, value in zip(BYTES, mount["bytes"]):
            families[d.name].add(labels, value)
        for _, ns in mount["transports"]:
            for i, d in TRANSPORT:
                families[d.name].add(labels, ns[i] % MANTISSA if i == 4 else ns[i])
        for operation, ns in mount["operations"]:
            for i, d, divisor in OPERATIONS:
                families[d.name].add((*labels, operation), (ns[i] % MANTISSA) / divisor if divisor else ns[i])
        for i, d in EVENTS:
            families[d.name].add(labels, mount["events"][i])
