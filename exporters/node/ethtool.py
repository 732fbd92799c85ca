"""ethtool (off by default): driver information, NIC statistics and link modes of each network device, from
the SIOCETHTOOL ioctl (ETHTOOL_GDRVINFO, ETHTOOL_GSTRINGS/GSTATS, the legacy ETHTOOL_GSET), as node_exporter
1.9 asks for them. A device that does not answer one of them (EOPNOTSUPP: lo, most virtual devices) simply has
no such series. Statistic names are node_exporter's: lower case, "rx"/"tx" words spelled received/transmitted."""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import socket
import struct

from ..core.collector import Flag
from ..core.metrics import UNTYPED, MetricDef, MetricFamily, gauge
from .registry import HostCollector, compile_filter, node_collectors

SIOCETHTOOL = 0x8946
ETHTOOL_GSET, ETHTOOL_GDRVINFO, ETHTOOL_GSTRINGS, ETHTOOL_GSTATS = 0x1, 0x3, 0x1B, 0x1D
ETH_SS_STATS = 1
ETH_GSTRING_LEN = 32
MAX_STATS = 32768
_DRVINFO = struct.Struct("=I32s32s32s32s32s12sIIIII")
_CMD = struct.Struct("=IIIHBBBBBBIIHBBI8s")  # struct ethtool_cmd (legacy link settings)

INFO = gauge(
    "node_ethtool_info",
    "A metric with a constant '1' value labeled by bus_info, device, driver, "
    "expansion_rom_version, firmware_version, version.",
    "bus_info",
    "device",
    "driver",
    "expansion_rom_version",
    "firmware_version",
    "version",
)
STAT = MetricDef("node_ethtool_<stat>", UNTYPED, "Network interface <stat>", ("device",))  # the reference only
# statistics node_exporter names itself (others: their sanitized name)
NAMED_STATS = {
    "rx_bytes": ("node_ethtool_received_bytes_total", "Network interface bytes received"),
    "rx_dropped": ("node_ethtool_received_dropped_total", "Number of received frames dropped"),
    "rx_errors": ("node_ethtool_received_errors_total", "Number of received frames with errors"),
    "rx_packets": ("node_ethtool_received_packets_total", "Network interface packets received"),
    "tx_bytes": ("node_ethtool_transmitted_bytes_total", "Network interface bytes sent"),
    "tx_errors": ("node_ethtool_transmitted_errors_total", "Number of sent frames with errors"),
    "tx_packets": ("node_ethtool_transmitted_packets_total", "Network interface packets sent"),
}
SUPPORTED_PORT = gauge(
    "node_network_supported_port_info", "Type of ports or PHYs supported by network device", "device", "type"
)
SPEED = {
    "supported": gauge(
        "node_network_supported_speed_bytes",
        "Combination of speeds and features supported by network device",
        "device",
        "duplex",
        "mode",
    ),
    "advertised": gauge(
        "node_network_advertised_speed_bytes",
        "Combination of speeds and features offered by network device",
        "device",
        "duplex",
        "mode",
    ),
}
CAPABILITIES = {
    "supported": (
        gauge("node_network_autonegotiate_supported", "If this port device supports autonegotiate", "device"),
        gauge("node_network_pause_supported", "If this port device supports pause frames", "device"),
        gauge(
            "node_network_asymmetricpause_supported", "If this port device supports asymmetric pause frames", "device"
        ),
    ),
    "advertised": (
        gauge("node_network_autonegotiate_advertised", "If this port device offers autonegotiate", "device"),
        gauge("node_network_pause_advertised", "If this port device offers pause capability", "device"),
        gauge(
            "node_network_asymmetricpause_advertised",
            "If this port device offers asymmetric pause capability",
            "device",
        ),
    ),
}
AUTONEGOTIATE = gauge("node_network_autonegotiate", "If this port is using autonegotiate", "device")
AUTONEG_BIT, PAUSE_BIT, ASYM_PAUSE_BIT = 6, 13, 14
PORT_BITS = {"TP": 7, "AUI": 8, "MII": 9, "FIBRE": 10, "BNC": 11, "Backplane": 16}
# the link modes of the legacy 32-bit masks (bits of include/uapi/linux/ethtool.h): (Mbit/s, duplex, PHY)
SPEED_BITS = {
    0: (10, "half", "T"),
    1: (10, "full", "T"),
    2: (100, "half", "T"),
    3: (100, "full", "T"),
    4: (1000, "half", "T"),
    5: (1000, "full", "T"),
    12: (10000, "full", "T"),
    17: (1000, "full", "KX"),
    18: (10000, "full", "KX4"),
    19: (10000, "full", "KR"),
    20: (10000, "full", "R_FEC"),
    21: (20000, "full", "MLD2"),
    22: (20000, "full", "KR2"),
    23: (40000, "full", "KR4"),
    24: (40000, "full", "CR4"),
    25: (40000, "full", "SR4"),
    26: (40000, "full", "LR4"),
    27: (56000, "full", "KR4"),
    28: (56000, "full", "CR4"),
    29: (56000, "full", "SR4"),
    30: (56000, "full", "LR4"),
    31: (25000, "full", "CR"),
}
_SANITIZE = re.compile(r"_*[^0-9A-Za-z_]+_*")
_RX = re.compile(r"(^|_)rx(_|$)")
_TX = re.compile(r"(^|_)tx(_|$)")


def stat_name(stat: str) -> str:
    name = _SANITIZE.sub("_", stat).lower().lstrip("_")
    name = _RX.sub(r"\1received\2", name)
    return "node_ethtool_" + _TX.sub(r"\1transmitted\2", name)


def _ioctl(sock: socket.socket, device: str, buf) -> None:
    ifreq = struct.pack("16sP", device.encode()[:15], ctypes.addressof(buf)).ljust(40, b"\0")
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)


def _text(raw: bytes) -> str:
    """A C string field: up to its first NUL (the kernel may leave bytes of an earlier value behind it)."""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def driver_info(sock, device: str) -> tuple[dict, int]:
    buf = ctypes.create_string_buffer(_DRVINFO.pack(ETHTOOL_GDRVINFO, *([b""] * 6), 0, 0, 0, 0, 0), _DRVINFO.size)
    _ioctl(sock, device, buf)
    _cmd, driver, version, fw, bus, erom, _r, _priv, n_stats, *_ = _DRVINFO.unpack(buf.raw)
    return {
        "driver": _text(driver),
        "version": _text(version),
        "firmware_version": _text(fw),
        "bus_info": _text(bus),
        "expansion_rom_version": _text(erom),
    }, n_stats


def statistics(sock, device: str, count: int) -> dict[str, int]:
    if count <= 0 or count > MAX_STATS:
        return {}
    names = ctypes.create_string_buffer(
        struct.pack("=III", ETHTOOL_GSTRINGS, ETH_SS_STATS, count), 12 + count * ETH_GSTRING_LEN
    )
    _ioctl(sock, device, names)
    values = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_GSTATS, count), 8 + count * 8)
    _ioctl(sock, device, values)
    n = min(struct.unpack_from("=I", names.raw, 8)[0], struct.unpack_from("=I", values.raw, 4)[0], count)
    out = {}
    for i in range(n):
        name = _text(names.raw[12 + i * ETH_GSTRING_LEN : 12 + (i + 1) * ETH_GSTRING_LEN])
        out[name] = struct.unpack_from("=Q", values.raw, 8 + i * 8)[0]
    return out


def link_info(sock, device: str) -> tuple[int, int, int]:
    """(supported, advertising, autoneg) of the legacy ETHTOOL_GSET."""
    buf = ctypes.create_string_buffer(struct.pack("=I", ETHTOOL_GSET), _CMD.size)
    _ioctl(sock, device, buf)
    fields = _CMD.unpack(buf.raw)
    return fields[1], fields[2], fields[8]


@node_collectors.register
class EthtoolCollector(HostCollector):
    name = "ethtool"
    default_enabled = False
    description = "NIC driver information, statistics and link modes (SIOCETHTOOL)."
    metrics = (
        INFO,
        STAT,
        SUPPORTED_PORT,
        *SPEED.values(),
        *(d for ds in CAPABILITIES.values() for d in ds),
        AUTONEGOTIATE,
    )
    flags = (
        Flag(
            "--collector.ethtool.device-include",
            "collector_ethtool_device_include",
            "Regexp of ethtool devices to include (mutually exclusive to device-exclude).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.ethtool.device-exclude",
            "collector_ethtool_device_exclude",
            "Regexp of ethtool devices to exclude (mutually exclusive to device-include).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.ethtool.metrics-include",
            "collector_ethtool_metrics_include",
            "Regexp of ethtool stats to include.",
            default=".*",
            metavar="REGEX",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.include = compile_filter(
            "collector.ethtool.device-include", settings.get("collector_ethtool_device_include")
        )
        self.exclude = compile_filter(
            "collector.ethtool.device-exclude", settings.get("collector_ethtool_device_exclude")
        )
        self.metrics_include = compile_filter(
            "collector.ethtool.metrics-include", settings.get("collector_ethtool_metrics_include") or ".*"
        )

    def _devices(self) -> list[str]:
        base = self.sys("class", "net")
        return sorted(e.name for e in os.scandir(base) if e.is_dir() or e.is_symlink())

    def read(self):
        fixed = {d.name: d.family() for d in self.metrics if d is not STAT}
        stats: dict[str, MetricFamily] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for device in self._devices():
                if (self.exclude is not None and self.exclude.search(device)) or (
                    self.include is not None and not self.include.search(device)
                ):
                    continue
                try:
                    supported, advertising, autoneg = link_info(sock, device)
                except OSError:
                    pass
                else:
                    self._link(fixed, device, supported, advertising, autoneg)
                n_stats = 0
                try:
                    info, n_stats = driver_info(sock, device)
                except OSError:
                    pass
                else:
                    fixed[INFO.name].add(
                        (
                            info["bus_info"],
                            device,
                            info["driver"],
                            info["expansion_rom_version"],
                            info["firmware_version"],
                            info["version"],
                        ),
                        1,
                    )
                try:
                    values = statistics(sock, device, n_stats)
                except OSError:
                    continue
                self._stats(stats, device, values)
        return [*fixed.values(), *stats.values()]

    def _link(self, fixed, device: str, supported: int, advertising: int, autoneg: int) -> None:
        for prefix, modes in (("supported", supported), ("advertised", advertising)):
            for bit, (speed, duplex, phy) in SPEED_BITS.items():
                if modes & (1 << bit):
                    fixed[SPEED[prefix].name].add((device, duplex, f"{speed}base{phy}"), speed * 125000.0)
            if prefix == "supported":
                for port, bit in PORT_BITS.items():
                    if modes & (1 << bit):
                        fixed[SUPPORTED_PORT.name].add((device, port), 1)
            for d, bit in zip(CAPABILITIES[prefix], (AUTONEG_BIT, PAUSE_BIT, ASYM_PAUSE_BIT)):
                fixed[d.name].add((device,), 1 if modes & (1 << bit) else 0)
        fixed[AUTONEGOTIATE.name].add((device,), autoneg)

    def _stats(self, stats: dict[str, MetricFamily], device: str, values: dict[str, int]) -> None:
        chosen: dict[str, str | None] = {}
        for stat in values:
            if not self.metrics_include.search(_SANITIZE.sub("_", stat)):
                continue
            name = stat_name(stat)
            chosen[name] = None if name in chosen else stat  # names that clash after sanitizing: neither is served
        for name in sorted(chosen):
            stat = chosen[name]
            if stat is None:
                continue
            metric, help_ = NAMED_STATS.get(stat, (name, f"Network interface {stat}"))
            fam = stats.get(metric)
            if fam is None:
                fam = stats[metric] = MetricFamily(metric, UNTYPED, help_, ("device",))
            fam.add((device,), values[stat])
