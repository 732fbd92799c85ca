"""arp: neighbour (ARP) table entries per device.

As node_exporter 1.9 does, the entries come from the kernel over rtnetlink by
default (an RTM_GETNEIGH dump of the IPv4 neighbours, leaving out NUD_NOARP
ones, as /proc/net/arp does), or from /proc/net/arp with
``--no-collector.arp.netlink``. Netlink reads the network namespace the exporter
runs in, whatever ``--path.procfs`` says. In /proc/net/arp every row counts,
incomplete ones too. A device without entries has no series.
"""

from __future__ import annotations

import errno
import re
import socket
import struct

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

ENTRIES = gauge("node_arp_entries", "ARP entries by device", "device")

# IP address, HW type, Flags, HW address, Mask, Device
DATA_COLUMNS = 6
HEADER_COLUMNS = 9  # "IP address       HW type     Flags       HW address            Mask     Device"
_MAC = re.compile(
    r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
    r"(?:(?:\1[0-9A-Fa-f]{2}){2}|(?:\1[0-9A-Fa-f]{2}){14})?"
)


def _go_uint8(text: str) -> int:
    """strconv.ParseUint(s, 0, 8): 0x/0o/0b prefixes and leading-zero octal."""
    if text[:2].lower() in ("0x", "0o", "0b"):
        value = int(text, 0)
    elif len(text) > 1 and text[0] == "0":
        value = int(text, 8)
    else:
        value = int(text, 10)
    if not 0 <= value <= 255 or "_" in text:
        raise ValueError(text)
    return value


def parse_arp(text: str) -> dict[str, int]:
    """Return ``{device: number of entries}`` from /proc/net/arp text.

    9-column rows (the header) are skipped; a row that is not a 6-column entry
    with a hardware address and hex flags raises ValueError."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        columns = line.split()
        if not columns or len(columns) == HEADER_COLUMNS:
            continue
        if len(columns) != DATA_COLUMNS:
            raise ValueError(f"arp: {len(columns)} columns, {DATA_COLUMNS} expected: {line[:80]!r}")
        try:
            _go_uint8(columns[2])
        except ValueError:
            raise ValueError(f"arp: flags {columns[2][:20]!r} are not a number: {line[:80]!r}") from None
        if not _MAC.fullmatch(columns[3]):
            raise ValueError(f"arp: {columns[3][:40]!r} is not a hardware address: {line[:80]!r}")
        device = columns[5]
        counts[device] = counts.get(device, 0) + 1
    return counts


# rtnetlink, from <linux/netlink.h>, <linux/rtnetlink.h> and <linux/neighbour.h>.
NETLINK_ROUTE = 0
RTM_GETNEIGH = 30
RTM_NEWNEIGH = 28
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NUD_NOARP = 0x40
_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_NDMSG = struct.Struct("=BxxxiHBB")  # family, pad, ifindex, state, flags, type
NETLINK_TIMEOUT = 5.0


def netlink_neighbours(family: int = socket.AF_INET) -> list[tuple[int, int]]:
    """(ifindex, state) of every neighbour entry of ``family``, from an RTM_GETNEIGH dump."""
    out: list[tuple[int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.settimeout(NETLINK_TIMEOUT)
        sock.bind((0, 0))
        body = _NDMSG.pack(family, 0, 0, 0, 0)
        sock.send(_NLMSG.pack(_NLMSG.size + len(body), RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        while True:
            data = sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, mtype, _, _, _ = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size:
                    raise OSError("netlink: malformed message")
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + _NLMSG.size)
                    if code:
                        raise OSError(-code, f"netlink RTM_GETNEIGH: {errno.errorcode.get(-code, code)}")
                elif mtype == RTM_NEWNEIGH and length >= _NLMSG.size + _NDMSG.size:
                    nd_family, ifindex, state, _, _ = _NDMSG.unpack_from(data, offset + _NLMSG.size)
                    if nd_family == family:
                        out.append((ifindex, state))
                offset += (length + 3) & ~3


def netlink_arp_entries() -> dict[str, int]:
    """``{device: entries}`` of the IPv4 neighbour table, NUD_NOARP entries left out."""
    counts: dict[str, int] = {}
    names: dict[int, str] = {}
    for ifindex, state in netlink_neighbours():
        if state & NUD_NOARP:
            continue
        name = names.get(ifindex)
        if name is None:
            name = names[ifindex] = socket.if_indextoname(ifindex)
        counts[name] = counts.get(name, 0) + 1
    return counts


@node_collectors.register
class ARPCollector(HostCollector):
    name = "arp"
    description = "ARP table entries per device (rtnetlink, or /proc/net/arp)."
    metrics = (ENTRIES,)
    flags = (
        Flag(
            "--collector.arp.device-include",
            "collector_arp_device_include",
            "Regexp of arp devices to include (mutually exclusive to device-exclude).",
        ),
        Flag(
            "--collector.arp.device-exclude",
            "collector_arp_device_exclude",
            "Regexp of arp devices to exclude (mutually exclusive to device-include).",
        ),
        Flag(
            "--collector.arp.netlink",
            "collector_arp_netlink",
            "Use netlink to gather stats instead of /proc/net/arp.",
            default=True,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.filter = DeviceFilter(
            "collector.arp.device",
            self.settings.get("collector_arp_device_include"),
            self.settings.get("collector_arp_device_exclude"),
            None,
        )
        self.netlink = bool(self.settings.get("collector_arp_netlink", True))

    def read(self):
        fam = ENTRIES.family()
        counts = netlink_arp_entries() if self.netlink else parse_arp(read_text(self.proc("net", "arp")))
        for device, count in sorted(counts.items()):
            if not self.filter.ignored(device):
                fam.add((device,), count)
        yield fam
