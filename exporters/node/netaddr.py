"""The netdev collector's ``--collector.netdev.address-info``: node_network_address_info, one series per address
of each network device, from rtnetlink (RTM_GETADDR), with node_exporter's (Go's) notion of scope."""

from __future__ import annotations

import ipaddress
import socket
import struct

from ..core.metrics import gauge
from . import netlink

ADDRESS_INFO = gauge(
    "node_network_address_info", "node network address by device", "device", "address", "netmask", "scope"
)
RTM_GETADDR = 22
IFA_ADDRESS, IFA_LOCAL = 1, 2
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index

_LINK_LOCAL_MULTICAST = (ipaddress.ip_network("224.0.0.0/24"), ipaddress.ip_network("ff02::/16"))
_LINK_LOCAL_UNICAST = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


def go_scope(addr) -> str:
    """Go's classification (net.IP methods), which counts private and ULA addresses as global unicast."""
    if addr.is_loopback or any(
        addr in n for n in _LINK_LOCAL_UNICAST + _LINK_LOCAL_MULTICAST if n.version == addr.version
    ):
        return "link-local"
    if addr.version == 6 and addr in ipaddress.ip_network("ff01::/16"):
        return "interface-local"
    if not (addr.is_unspecified or addr.is_multicast or addr == ipaddress.ip_address("255.255.255.255")):
        return "global"
    return ""


def addresses(timeout: float) -> list[tuple[str, str, str, str]]:
    """(device, address, prefix length, scope) of every address; the local address of a point-to-point link."""
    names = {index: name for index, name in socket.if_nameindex()}
    out = []
    for _kind, payload in netlink.dump(0, RTM_GETADDR, _IFADDRMSG.pack(0, 0, 0, 0, 0), timeout):
        family, prefix, _flags, _scope, index = _IFADDRMSG.unpack_from(payload)
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        attrs = dict(netlink.attributes(payload, _IFADDRMSG.size))
        raw = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
        if raw is None or index not in names:
            continue
        addr = ipaddress.ip_address(raw[:4] if family == socket.AF_INET else raw[:16])
        out.append((names[index], str(addr), str(prefix), go_scope(addr)))
    return out
