"""qdisc (off by default): the root queueing discipline of each network device, from rtnetlink (RTM_GETQDISC
dump: TCA_KIND, TCA_STATS2 and the legacy TCA_STATS, read in the kernel's order as node_exporter reads them).
``--collector.qdisc.fixtures=DIR`` reads DIR/results.json instead (node_exporter's end-to-end test format: a
list of objects with IfaceName, Parent, Kind, Bytes, Packets, Drops, Requeues, Overlimits, Qlen, Backlog)."""

from __future__ import annotations

import json
import os
import socket
import struct

from ..core.collector import Flag
from ..core.metrics import counter, gauge
from ..core.scrape import remaining_seconds
from . import netlink
from .registry import DeviceFilter, HostCollector, node_collectors

LABELS = ("device", "kind")
# QdiscInfo field -> metric
FIELDS = (
    ("Bytes", counter("node_qdisc_bytes_total", "Number of bytes sent.", *LABELS)),
    ("Packets", counter("node_qdisc_packets_total", "Number of packets sent.", *LABELS)),
    ("Drops", counter("node_qdisc_drops_total", "Number of packets dropped.", *LABELS)),
    (
        "Requeues",
        counter("node_qdisc_requeues_total", "Number of packets dequeued, not transmitted, and requeued.", *LABELS),
    ),
    ("Overlimits", counter("node_qdisc_overlimits_total", "Number of overlimit packets.", *LABELS)),
    ("Qlen", gauge("node_qdisc_current_queue_length", "Number of packets currently in queue to be sent.", *LABELS)),
    ("Backlog", gauge("node_qdisc_backlog", "Number of bytes currently in queue to be sent.", *LABELS)),
)
RTM_GETQDISC = 38
TCA_KIND, TCA_STATS, TCA_STATS2 = 1, 3, 7
TCA_STATS_BASIC, TCA_STATS_QUEUE = 1, 3
TC_H_ROOT = 0xFFFFFFFF
_TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
MAX_SECONDS = 5.0


def parse_qdisc(payload: bytes, names: dict[int, str]) -> dict:
    _family, ifindex, handle, parent, _info = _TCMSG.unpack_from(payload)
    info = {
        "IfaceName": names.get(ifindex, ""),
        "Parent": 0 if parent == TC_H_ROOT else parent,
        "Handle": handle,
        "Kind": "",
        "Bytes": 0,
        "Packets": 0,
        "Drops": 0,
        "Requeues": 0,
        "Overlimits": 0,
        "Qlen": 0,
        "Backlog": 0,
    }
    for kind, value in netlink.attributes(payload, _TCMSG.size):
        if kind == TCA_KIND:
            info["Kind"] = value.split(b"\0", 1)[0].decode(errors="replace")
        elif kind == TCA_STATS2:
            for nested, data in netlink.attributes(value):
                if nested == TCA_STATS_BASIC and len(data) >= 12:
                    info["Bytes"], info["Packets"] = struct.unpack_from("=QI", data)
                elif nested == TCA_STATS_QUEUE and len(data) >= 20:
                    (info["Qlen"], info["Backlog"], info["Drops"], info["Requeues"], info["Overlimits"]) = (
                        struct.unpack_from("=IIIII", data)
                    )
        elif kind == TCA_STATS and len(value) >= 36:
            (
                info["Bytes"],
                info["Packets"],
                info["Drops"],
                info["Overlimits"],
                _bps,
                _pps,
                info["Qlen"],
                info["Backlog"],
            ) = struct.unpack_from("=QIIIIIII", value)
    return info


def interface_names() -> dict[int, str]:
    return {index: name for index, name in socket.if_nameindex()}


@node_collectors.register
class QdiscCollector(HostCollector):
    name = "qdisc"
    default_enabled = False
    description = "Root queueing disciplines of the network devices (rtnetlink)."
    metrics = tuple(d for _, d in FIELDS)
    flags = (
        Flag(
            "--collector.qdisc.fixtures",
            "collector_qdisc_fixtures",
            "test fixtures to use for qdisc collector end-to-end testing (DIR/results.json).",
            default="",
            metavar="DIR",
        ),
        Flag(
            "--collector.qdisc.device-include",
            "collector_qdisc_device_include",
            "Regexp of qdisc devices to include (mutually exclusive to device-exclude).",
            metavar="REGEX",
            aliases=("--collector.qdisk.device-include",),
        ),
        Flag(
            "--collector.qdisc.device-exclude",
            "collector_qdisc_device_exclude",
            "Regexp of qdisc devices to exclude (mutually exclusive to device-include).",
            metavar="REGEX",
            aliases=("--collector.qdisk.device-exclude",),
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.fixtures = settings.get("collector_qdisc_fixtures") or ""
        self.filter = DeviceFilter(
            "collector.qdisc.device",
            settings.get("collector_qdisc_device_include"),
            settings.get("collector_qdisc_device_exclude"),
            None,
        )

    def _qdiscs(self) -> list[dict]:
        if self.fixtures:
            with open(os.path.join(self.fixtures, "results.json")) as f:
                return json.load(f)
        timeout = max(0.1, min(MAX_SECONDS, remaining_seconds()))
        names = interface_names()
        return [
            parse_qdisc(payload, names) for _kind, payload in netlink.dump(0, RTM_GETQDISC, bytes(_TCMSG.size), timeout)
        ]

    def read(self):
        families = {name: d.family() for name, d in FIELDS}
        for q in self._qdiscs():
            if q.get("Parent", 0) != 0:  # only the root qdisc of a device
                continue
            device = q.get("IfaceName", "")
            if self.filter.ignored(device):
                continue
            for name, _ in FIELDS:
                families[name].add((device, q.get("Kind", "")), q.get(name, 0))
        return list(families.values())
