"""netdev: per-interface traffic counters from /proc/net/dev.

Plus ``node_network_receive_nohandler_total`` (packets dropped because no
protocol wanted them), which /proc/net/dev does not show: it comes from
``<sysfs>/class/net/<dev>/statistics/rx_nohandler`` when the kernel has it.
"""

from __future__ import annotations

import os

from ..core.collector import Flag
from ..core.metrics import counter
from ..core.scrape import remaining_seconds
from . import netaddr
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

# Column order of /proc/net/dev after "<dev>:".
RECEIVE_STATS = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
TRANSMIT_STATS = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")
COLUMNS = tuple(f"receive_{s}" for s in RECEIVE_STATS) + tuple(f"transmit_{s}" for s in TRANSMIT_STATS)
NOHANDLER = "receive_nohandler"


def _def(stat: str):
    return counter(f"node_network_{stat}_total", f"Network device statistic {stat}.", "device")


STAT_DEFS = {stat: _def(stat) for stat in COLUMNS + (NOHANDLER,)}

# --collector.netdev.enable-detailed-metrics: node_exporter 1.9's names for the kernel's link statistics (its
# netlink reader), read here from /sys/class/net/<device>/statistics/<file>, which holds the same counters
DETAILED = (
    ("receive_packets", "rx_packets"),
    ("transmit_packets", "tx_packets"),
    ("receive_bytes", "rx_bytes"),
    ("transmit_bytes", "tx_bytes"),
    ("receive_errors", "rx_errors"),
    ("transmit_errors", "tx_errors"),
    ("receive_dropped", "rx_dropped"),
    ("transmit_dropped", "tx_dropped"),
    ("multicast", "multicast"),
    ("collisions", "collisions"),
    ("receive_length_errors", "rx_length_errors"),
    ("receive_over_errors", "rx_over_errors"),
    ("receive_crc_errors", "rx_crc_errors"),
    ("receive_frame_errors", "rx_frame_errors"),
    ("receive_fifo_errors", "rx_fifo_errors"),
    ("receive_missed_errors", "rx_missed_errors"),
    ("transmit_aborted_errors", "tx_aborted_errors"),
    ("transmit_carrier_errors", "tx_carrier_errors"),
    ("transmit_fifo_errors", "tx_fifo_errors"),
    ("transmit_heartbeat_errors", "tx_heartbeat_errors"),
    ("transmit_window_errors", "tx_window_errors"),
    ("receive_compressed", "rx_compressed"),
    ("transmit_compressed", "tx_compressed"),
    ("receive_nohandler", "rx_nohandler"),
)
DETAILED_DEFS = {key: _def(key) for key, _ in DETAILED if key not in STAT_DEFS}


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """Return ``{device: {"receive_bytes": n, ...}}`` from /proc/net/dev text.

    The two header lines have no ``name:`` prefix of their own and are skipped;
    so are lines with fewer than 16 numbers."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or "|" in line:
            continue
        values = rest.split()
        if len(values) < len(COLUMNS):
            continue
        try:
            out[name.strip()] = {col: int(v) for col, v in zip(COLUMNS, values)}
        except ValueError:
            continue
    return out


@node_collectors.register
class NetdevCollector(HostCollector):
    name = "netdev"
    description = "Network interface statistics (/proc/net/dev)."
    metrics = (*STAT_DEFS.values(), *DETAILED_DEFS.values(), netaddr.ADDRESS_INFO)
    flags = (
        Flag(
            "--collector.netdev.device-include",
            "collector_netdev_device_include",
            "Regexp of net devices to include (mutually exclusive to device-exclude).",
            aliases=("--collector.netdev.device-whitelist",),
        ),
        Flag(
            "--collector.netdev.device-exclude",
            "collector_netdev_device_exclude",
            "Regexp of net devices to exclude (mutually exclusive to device-include).",
            aliases=("--collector.netdev.device-blacklist",),
        ),
        Flag(
            "--collector.netdev.address-info",
            "collector_netdev_address_info",
            "Collect address-info for every device (node_network_address_info).",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.netdev.enable-detailed-metrics",
            "collector_netdev_enable_detailed_metrics",
            "Use (incompatible) metric names that provide more detailed stats on Linux "
            "(from /sys/class/net/<device>/statistics).",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.netdev.label-ifalias",
            "collector_netdev_label_ifalias",
            "Add ifAlias label (from /sys/class/net/<device>/ifalias).",
            default=False,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.filter = DeviceFilter(
            "collector.netdev.device",
            self.settings.get("collector_netdev_device_include"),
            self.settings.get("collector_netdev_device_exclude"),
            None,
        )

    def rx_nohandler(self, device: str) -> int | None:
        try:
            return int(read_text(self.sys("class", "net", device, "statistics", "rx_nohandler")).strip())
        except (OSError, ValueError):
            return None

    def ifalias(self, device: str) -> str | None:
        """The device's alias ("" without one); None for a device sysfs does not list (no label, as node_exporter)."""
        if not os.path.isdir(self.sys("class", "net", device)):
            return None
        try:
            return read_text(self.sys("class", "net", device, "ifalias")).strip()
        except OSError:
            return ""

    def detailed(self, device: str) -> dict[str, int] | None:
        """The kernel's link statistics of a device, by node_exporter's detailed names (None without sysfs)."""
        out = {}
        for key, filename in DETAILED:
            try:
                out[key] = int(read_text(self.sys("class", "net", device, "statistics", filename)).strip())
            except (OSError, ValueError):
                if key == "receive_packets":
                    return None
                out[key] = 0  # a counter this kernel does not keep
        return out

    def read(self):
        with_alias = bool(self.settings.get("collector_netdev_label_ifalias"))
        detailed = bool(self.settings.get("collector_netdev_enable_detailed_metrics"))
        families = {stat: d.family() for stat, d in {**STAT_DEFS, **(DETAILED_DEFS if detailed else {})}.items()}
        for device, stats in parse_net_dev(read_text(self.proc("net", "dev"))).items():
            if self.filter.ignored(device):
                continue
            alias = self.ifalias(device) if with_alias else None
            nohandler = self.rx_nohandler(device)
            if detailed:
                stats = self.detailed(device) or stats
            elif nohandler is not None:
                stats = {**stats, NOHANDLER: nohandler}
            for stat, value in stats.items():
                if alias is None:
                    families[stat].add((device,), value)
                else:
                    families[stat].add_labeled((("device", device), ("ifalias", alias)), value)
        yield from families.values()
        if self.settings.get("collector_netdev_address_info"):
            info = netaddr.ADDRESS_INFO.family()
            for labels in netaddr.addresses(max(0.1, min(5.0, remaining_seconds()))):
                info.add(labels, 1)
            yield info
