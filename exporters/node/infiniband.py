"""infiniband: InfiniBand HCA ports from <sysfs>/class/infiniband, as node_exporter 1.9 reports them.

Per device an info series (board id, firmware, HCA type); per port its state,
physical state and rate, and the counters of ``counters/`` and
``counters_ext/`` (the legacy 64-bit ones). Data counters count 4-byte words,
so they are multiplied by 4. A counter that reads "N/A (no PMA)" (iWARP
adapters), or cannot be read now, has no series; irdma devices have no
counters. A device whose files cannot be parsed is left out (the others are
served, success 0); no class/infiniband is "no data".
"""

from __future__ import annotations

import os
import struct

from ..core.collector import NoData, PartialFailure
from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors
from .sysfs_util import SKIP_ERRNOS, go_uint0
from .sysfs_values import go_uint, sys_read

INFO = gauge(
    "node_infiniband_info",
    "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
    "board_id",
    "device",
    "firmware_version",
    "hca_type",
)
STATE_ID = gauge(
    "node_infiniband_state_id",
    "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
    "device",
    "port",
)
PHYSICAL_STATE_ID = gauge(
    "node_infiniband_physical_state_id",
    "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, "
    "6: link error recover, 7: phytest)",
    "device",
    "port",
)
RATE = gauge("node_infiniband_rate_bytes_per_second", "Maximum signal transfer rate", "device", "port")


def _c(name: str, help: str):
    return counter(f"node_infiniband_{name}", help, "device", "port")


# (directory, file, metric, multiplier)
COUNTERS = (
    (
        "counters_ext",
        "port_multicast_rcv_packets",
        _c("legacy_multicast_packets_received_total", "Number of multicast packets received"),
        1,
    ),
    (
        "counters_ext",
        "port_multicast_xmit_packets",
        _c("legacy_multicast_packets_transmitted_total", "Number of multicast packets transmitted"),
        1,
    ),
    (
        "counters_ext",
        "port_rcv_data_64",
        _c("legacy_data_received_bytes_total", "Number of data octets received on all links"),
        4,
    ),
    (
        "counters_ext",
        "port_rcv_packets_64",
        _c("legacy_packets_received_total", "Number of data packets received on all links"),
        1,
    ),
    (
        "counters_ext",
        "port_unicast_rcv_packets",
        _c("legacy_unicast_packets_received_total", "Number of unicast packets received"),
        1,
    ),
    (
        "counters_ext",
        "port_unicast_xmit_packets",
        _c("legacy_unicast_packets_transmitted_total", "Number of unicast packets transmitted"),
        1,
    ),
    (
        "counters_ext",
        "port_xmit_data_64",
        _c("legacy_data_transmitted_bytes_total", "Number of data octets transmitted on all links"),
        4,
    ),
    (
        "counters_ext",
        "port_xmit_packets_64",
        _c("legacy_packets_transmitted_total", "Number of data packets received on all links"),
        1,
    ),
    (
        "counters",
        "excessive_buffer_overrun_errors",
        _c(
            "excessive_buffer_overrun_errors_total",
            "Number of times that OverrunErrors consecutive flow control update "
            "periods occurred, each having at least one overrun error.",
        ),
        1,
    ),
    (
        "counters",
        "link_downed",
        _c("link_downed_total", "Number of times the link failed to recover from an error state and went down"),
        1,
    ),
    (
        "counters",
        "link_error_recovery",
        _c("link_error_recovery_total", "Number of times the link successfully recovered from an error state"),
        1,
    ),
    (
        "counters",
        "local_link_integrity_errors",
        _c(
            "local_link_integrity_errors_total",
            "Number of times that the count of local physical errors exceeded the "
            "threshold specified by LocalPhyErrors.",
        ),
        1,
    ),
    (
        "counters",
        "multicast_rcv_packets",
        _c("multicast_packets_received_total", "Number of multicast packets received (including errors)"),
        1,
    ),
    (
        "counters",
        "multicast_xmit_packets",
        _c("multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)"),
        1,
    ),
    (
        "counters",
        "port_rcv_constraint_errors",
        _c(
            "port_constraint_errors_received_total",
            "Number of packets received on the switch physical port that are discarded",
        ),
        1,
    ),
    (
        "counters",
        "port_xmit_constraint_errors",
        _c(
            "port_constraint_errors_transmitted_total",
            "Number of packets not transmitted from the switch physical port",
        ),
        1,
    ),
    (
        "counters",
        "port_rcv_data",
        _c("port_data_received_bytes_total", "Number of data octets received on all links"),
        4,
    ),
    (
        "counters",
        "port_xmit_data",
        _c("port_data_transmitted_bytes_total", "Number of data octets transmitted on all links"),
        4,
    ),
    (
        "counters",
        "port_rcv_discards",
        _c(
            "port_discards_received_total",
            "Number of inbound packets discarded by the port because the port is down or congested",
        ),
        1,
    ),
    (
        "counters",
        "port_xmit_discards",
        _c(
            "port_discards_transmitted_total",
            "Number of outbound packets discarded by the port because the port is down or congested",
        ),
        1,
    ),
    (
        "counters",
        "port_rcv_errors",
        _c("port_errors_received_total", "Number of packets containing an error that were received on this port"),
        1,
    ),
    (
        "counters",
        "port_rcv_packets",
        _c("port_packets_received_total", "Number of packets received on all VLs by this port (including errors)"),
        1,
    ),
    (
        "counters",
        "port_xmit_packets",
        _c(
            "port_packets_transmitted_total",
            "Number of packets transmitted on all VLs from this port (including errors)",
        ),
        1,
    ),
    (
        "counters",
        "port_xmit_wait",
        _c(
            "port_transmit_wait_total",
            "Number of ticks during which the port had data to transmit but no data was sent during the entire tick",
        ),
        1,
    ),
    (
        "counters",
        "unicast_rcv_packets",
        _c("unicast_packets_received_total", "Number of unicast packets received (including errors)"),
        1,
    ),
    (
        "counters",
        "unicast_xmit_packets",
        _c("unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)"),
        1,
    ),
    (
        "counters",
        "port_rcv_remote_physical_errors",
        _c(
            "port_receive_remote_physical_errors_total",
            "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.",
        ),
        1,
    ),
    (
        "counters",
        "port_rcv_switch_relay_errors",
        _c("port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch."),
        1,
    ),
    (
        "counters",
        "symbol_error",
        _c("symbol_error_total", "Number of minor link errors detected on one or more physical lanes."),
        1,
    ),
    (
        "counters",
        "VL15_dropped",
        _c("vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations."),
        1,
    ),
)
_BY_FILE = {(d, f): (m, mul) for d, f, m, mul in COUNTERS}


def parse_state(text: str) -> int:
    """``4: ACTIVE`` -> 4."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"expected 'ID: NAME', got {text.strip()[:40]!r}")
    value = go_uint(parts[0].strip())
    if value is None or value > 0xFFFFFFFF:
        raise ValueError(f"state id {parts[0].strip()[:20]!r} is not a number")
    return value


def parse_rate(text: str) -> int:
    """``40 Gb/sec (4X QDR)`` -> bytes per second, rounding the Gb/s through a float32 as procfs does."""
    head, sep, _ = text.partition(" ")
    if not sep:
        raise ValueError(f"unexpected rate {text.strip()[:40]!r}")
    try:
        gbits = struct.unpack("f", struct.pack("f", float(head.strip())))[0]
    except (ValueError, OverflowError):
        raise ValueError(f"rate {head[:20]!r} is not a number") from None
    return int(gbits * 125000000)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def port_counters(port_dir: str) -> list[tuple[object, int]]:
    """(metric, value) of the port's counters it has now."""
    out = []
    for sub in ("counters", "counters_ext"):
        path = os.path.join(port_dir, sub)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except FileNotFoundError:
            if sub == "counters":
                raise
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                text = sys_read(entry.path)
            except OSError as exc:
                if exc.errno in SKIP_ERRNOS:
                    continue
                raise
            known = _BY_FILE.get((sub, entry.name))
            if known is None:
                continue
            value = go_uint0(text)
            if value is None:
                if "N/A (no PMA)" in text:
                    continue
                raise ValueError(f"{entry.path}: {text[:40]!r} is not a counter")
            out.append((known[0], value * known[1]))
    return out


@node_collectors.register
class InfinibandCollector(HostCollector):
    name = "infiniband"
    description = "InfiniBand HCA ports: state, rate and traffic/error counters (<sysfs>/class/infiniband)."
    metrics = (INFO, STATE_ID, PHYSICAL_STATE_ID, RATE) + tuple(m for _, _, m, _ in COUNTERS)

    def device(self, name: str, fams: dict) -> None:
        """Add one device's series to ``fams``; raise OSError/ValueError on a file that is not as expected,
        before anything of it is added."""
        base = self.sys("class", "infiniband", name)
        fw = sys_read(os.path.join(base, "fw_ver"))
        extra = {}
        for attr in ("board_id", "hca_type"):
            try:
                extra[attr] = sys_read(os.path.join(base, attr))
            except FileNotFoundError:
                extra[attr] = ""
        rows: list[tuple] = []
        for port in sorted(os.listdir(os.path.join(base, "ports"))):
            number = go_uint(port)
            if number is None or number > 0xFFFFFFFF:
                raise ValueError(f"port {port[:20]!r} is not a number")
            port_dir = os.path.join(base, "ports", port)
            labels = (name, str(number))
            try:
                state = parse_state(_read(os.path.join(port_dir, "state")))
                phys = parse_state(_read(os.path.join(port_dir, "phys_state")))
                rate = parse_rate(_read(os.path.join(port_dir, "rate")))
            except ValueError as exc:
                raise ValueError(f"port {port}: {exc}") from None
            rows += [(STATE_ID, labels, state), (PHYSICAL_STATE_ID, labels, phys), (RATE, labels, rate)]
            if not name.startswith("irdma"):
                rows += [(m, labels, v) for m, v in port_counters(port_dir)]
        fams[INFO.name].add((extra["board_id"], name, fw, extra["hca_type"]), 1)
        for metric, labels, value in rows:
            fams[metric.name].add(labels, float(value))  # as Go: float64

    def read(self):
        base = self.sys("class", "infiniband")
        try:
            devices = sorted(os.listdir(base))
        except FileNotFoundError as exc:
            raise NoData(f"{base} does not exist (no InfiniBand devices)") from exc
        fams = {d.name: d.family() for d in self.metrics}
        errors = []
        for name in devices:
            try:
                self.device(name, fams)
            except (OSError, ValueError) as exc:
                errors.append(f"infiniband device {name}: {exc}")
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
