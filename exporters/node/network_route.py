"""network_route (off by default): the unicast routes of every table, from rtnetlink (RTM_GETROUTE dump),
as node_exporter lists them: node_network_route_info (one series per route, or per next hop of a multipath
route) and node_network_routes (routes by device). The answers describe the exporter's network namespace."""

from __future__ import annotations

import ipaddress
import socket
import struct

from ..core.metrics import gauge
from ..core.scrape import remaining_seconds
from . import netlink
from .registry import HostCollector, node_collectors

ROUTE_INFO = gauge(
    "node_network_route_info",
    "network routing table information",
    "device",
    "src",
    "dest",
    "gw",
    "priority",
    "proto",
    "weight",
)
ROUTES = gauge("node_network_routes", "network routes by interface", "device")

NETLINK_ROUTE = 0
RTM_GETROUTE = 26
RTN_UNICAST = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_MULTIPATH = 1, 4, 5, 6, 7, 9
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NEXTHOP = struct.Struct("=HBBi")  # rtnexthop: length, flags, hops, ifindex
MAX_SECONDS = 5.0
# include/uapi/linux/rtnetlink.h RTPROT_*
PROTOCOLS = {
    0: "unspec",
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    10: "mrt",
    11: "zebra",
    12: "bird",
    13: "dnrouted",
    14: "xorp",
    15: "ntk",
    16: "dhcp",
    17: "mrouted",
    42: "babel",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
}


def ip_text(raw: bytes) -> str:
    """An address as Go prints a net.IP ("" when absent; an IPv4-mapped IPv6 address in dotted form)."""
    if not raw:
        return ""
    addr = ipaddress.ip_address(raw)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def interface_name(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return ""


def parse_route(payload: bytes) -> list[tuple[str, str, str, str, str, str, str]] | None:
    """The label values of one unicast route (one tuple per next hop), None for any other route type."""
    _fam, dst_len, _sl, _tos, _table, protocol, _scope, kind, _flags = _RTMSG.unpack_from(payload)
    if kind != RTN_UNICAST:
        return None
    attrs = {}
    for key, value in netlink.attributes(payload, _RTMSG.size):
        attrs[key] = value
    src = ip_text(attrs.get(RTA_PREFSRC, b""))
    dest = "default" if dst_len == 0 else f"{ip_text(attrs.get(RTA_DST, b''))}/{dst_len}"
    priority = str(struct.unpack("=I", attrs[RTA_PRIORITY])[0]) if RTA_PRIORITY in attrs else "0"
    proto = PROTOCOLS.get(protocol, "unknown")
    if RTA_MULTIPATH in attrs:
        out, data, offset = [], attrs[RTA_MULTIPATH], 0
        while offset + _NEXTHOP.size <= len(data):
            length, _f, hops, ifindex = _NEXTHOP.unpack_from(data, offset)
            if length < _NEXTHOP.size:
                break
            gateway = b""
            for key, value in netlink.attributes(data[offset : offset + length], _NEXTHOP.size):
                if key == RTA_GATEWAY:
                    gateway = value
            out.append((interface_name(ifindex), src, dest, ip_text(gateway), priority, proto, str(hops + 1)))
            offset += (length + 3) & ~3
        return out
    oif = struct.unpack("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
    return [(interface_name(oif) if oif else "", src, dest, ip_text(attrs.get(RTA_GATEWAY, b"")), priority, proto, "")]


@node_collectors.register
class NetworkRouteCollector(HostCollector):
    name = "network_route"
    default_enabled = False
    description = "Routing table (rtnetlink)."
    metrics = (ROUTE_INFO, ROUTES)

    def read(self):
        timeout = max(0.1, min(MAX_SECONDS, remaining_seconds()))
        info, per_device = ROUTE_INFO.family(), {}
        request = _RTMSG.pack(0, 0, 0, 0, 0, 0, 0, 0, 0)  # every family, every table
        for _kind, payload in netlink.dump(NETLINK_ROUTE, RTM_GETROUTE, request, timeout):
            for labels in parse_route(payload) or ():
                info.add(labels, 1)
                per_device[labels[0]] = per_device.get(labels[0], 0) + 1
        routes = ROUTES.family()
        for device, count in per_device.items():
            routes.add((device,), count)
        return [info, routes]
