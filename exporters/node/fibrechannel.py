"""fibrechannel: Fibre Channel host ports from <sysfs>/class/fc_host, as node_exporter 1.9 reports them.

An info series with the port's text attributes (port id/name and fabric name
without their ``0x``), and the counters of ``statistics/`` (hex). A counter the
driver does not keep reads all ones (0xffffffffffffffff) and has no series; so
has one that is missing. A host whose files cannot be read or parsed is left
out (the others are served, success 0); no class/fc_host is "no data".
"""

from __future__ import annotations

import os

from ..core.collector import NoData, PartialFailure
from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors
from .sysfs_util import SKIP_ERRNOS, go_uint0
from .sysfs_values import sys_read

INFO_ATTRIBUTES = (
    "dev_loss_tmo",
    "fabric_name",
    "port_id",
    "port_name",
    "port_state",
    "port_type",
    "speed",
    "supported_classes",
    "supported_speeds",
    "symbolic_name",
)
INFO = gauge(
    "node_fibrechannel_info",
    "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
    "dev_loss_tmo",
    "fabric_name",
    "fc_host",
    "port_id",
    "port_name",
    "port_state",
    "port_type",
    "speed",
    "supported_classes",
    "supported_speeds",
    "symbolic_name",
)
HEX_NAMES = ("port_id", "port_name", "fabric_name")  # printed as 0x...; node_exporter drops the 0x
NOT_KEPT = 2**64 - 1


def _c(name: str, help: str):
    return counter(f"node_fibrechannel_{name}", help, "fc_host")


# statistics file -> metric
COUNTERS = (
    ("dumped_frames", _c("dumped_frames_total", "Number of dumped frames")),
    ("error_frames", _c("error_frames_total", "Number of errors in frames")),
    ("invalid_crc_count", _c("invalid_crc_total", "Invalid Cyclic Redundancy Check count")),
    ("rx_frames", _c("rx_frames_total", "Number of frames received")),
    ("rx_words", _c("rx_words_total", "Number of words received by host port")),
    ("tx_frames", _c("tx_frames_total", "Number of frames transmitted by host port")),
    ("tx_words", _c("tx_words_total", "Number of words transmitted by host port")),
    ("seconds_since_last_reset", _c("seconds_since_last_reset_total", "Number of seconds since last host port reset")),
    ("invalid_tx_word_count", _c("invalid_tx_words_total", "Number of invalid words transmitted by host port")),
    ("link_failure_count", _c("link_failure_total", "Number of times the host port link has failed")),
    (
        "loss_of_sync_count",
        _c("loss_of_sync_total", "Number of failures on either bit or transmission word boundaries"),
    ),
    ("loss_of_signal_count", _c("loss_of_signal_total", "Number of times signal has been lost")),
    ("nos_count", _c("nos_total", "Number Not_Operational Primitive Sequence received by host port")),
    ("fcp_packet_aborts", _c("fcp_packet_aborts_total", "Number of aborted packets")),
)
_COUNTER_FILES = dict(COUNTERS)


@node_collectors.register
class FibreChannelCollector(HostCollector):
    name = "fibrechannel"
    description = "Fibre Channel host ports: state, speed and error counters (<sysfs>/class/fc_host)."
    metrics = (INFO,) + tuple(m for _, m in COUNTERS)

    def host(self, name: str) -> list[tuple]:
        base = self.sys("class", "fc_host", name)
        attrs = {}
        for attr in INFO_ATTRIBUTES:
            try:
                value = sys_read(os.path.join(base, attr))
            except FileNotFoundError:
                value = ""
            if attr in HEX_NAMES and len(value) > 2:
                value = value[2:]
            attrs[attr] = value
        rows: list[tuple] = [(INFO, tuple(attrs[a] if a != "fc_host" else name for a in INFO.labels), 1)]
        stats = os.path.join(base, "statistics")
        with os.scandir(stats) as entries:
            files = sorted(
                (e.name, e.path) for e in entries if e.is_file(follow_symlinks=False) and e.name != "reset_statistics"
            )
        values = {}
        for fname, path in files:
            try:
                text = sys_read(path)
            except OSError as exc:
                if exc.errno in SKIP_ERRNOS:
                    continue
                raise
            if fname in _COUNTER_FILES:
                number = go_uint0(text)
                if number is None:
                    raise ValueError(f"statistics/{fname}: {text[:40]!r} is not a number")
                values[fname] = number
        for fname, metric in COUNTERS:
            number = values.get(fname)
            if number is not None and number != NOT_KEPT:
                rows.append((metric, (name,), number))
        return rows

    def read(self):
        base = self.sys("class", "fc_host")
        try:
            hosts = sorted(os.listdir(base))
        except FileNotFoundError as exc:
            raise NoData(f"{base} does not exist (no Fibre Channel hosts)") from exc
        fams = {d.name: d.family() for d in self.metrics}
        errors = []
        for name in hosts:
            try:
                rows = self.host(name)
            except (OSError, ValueError) as exc:
                errors.append(f"fc_host {name}: {exc}")
                continue
            for metric, labels, value in rows:
                fams[metric.name].add(labels, float(value))  # as Go: float64
        if errors:
            raise PartialFailure("; ".join(errors), fams.values())
        yield from fams.values()
