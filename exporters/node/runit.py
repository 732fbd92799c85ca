"""runit (off by default): the state of each runit service under --collector.runit.servicedir, from its
supervise/status record (20 bytes runsv writes: a TAI64 timestamp of the last change, the pid, the wanted
state 'u'/'d', the state) and supervise/down (normally down: where node_exporter's
reader looks for it)."""

from __future__ import annotations

import os

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors

LABELS = ("service", "supervisor")  # supervisor is always "runit", as in node_exporter
STATE = gauge("node_service_state", "State of runit service.", *LABELS)
DESIRED = gauge("node_service_desired_state", "Desired state of runit service.", *LABELS)
NORMAL = gauge("node_service_normal_state", "Normal state of runit service.", *LABELS)
CHANGED = gauge(
    "node_service_state_last_change_timestamp_seconds",
    "Unix timestamp of the last runit service state change.",
    *LABELS,
)
TAI_OFFSET = 4611686018427387914  # 2^62 + 10: TAI64 label of the Unix epoch, as runit's readers take it
STATUS_LEN = 20


def parse_status(raw: bytes) -> tuple[int, int, int]:
    """(state, wanted state, last change in Unix seconds) of a supervise/status record."""
    raw = raw[:STATUS_LEN].ljust(STATUS_LEN, b"\0")
    tai = int.from_bytes(raw[0:8], "big", signed=True)
    want = {ord("u"): 1, ord("d"): 0}.get(raw[17], 0)
    return raw[19], want, tai - TAI_OFFSET


@node_collectors.register
class RunitCollector(HostCollector):
    name = "runit"
    default_enabled = False
    description = "runit services (supervise/status under --collector.runit.servicedir)."
    metrics = (STATE, DESIRED, CHANGED, NORMAL)
    flags = (
        Flag(
            "--collector.runit.servicedir",
            "collector_runit_servicedir",
            "Path to runit service directory.",
            default="/etc/service",
            metavar="DIR",
        ),
    )

    def read(self):
        directory = self.settings.get("collector_runit_servicedir") or "/etc/service"
        families = {d.name: d.family() for d in self.metrics}
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if not (entry.is_symlink() or entry.is_dir(follow_symlinks=False)):
                continue
            try:
                with open(os.path.join(directory, entry.name, "supervise", "status"), "rb") as f:
                    raw = f.read(STATUS_LEN)
            except OSError:
                continue  # runsv is not running for it
            if not raw:
                continue
            state, want, changed = parse_status(raw)
            labels = (entry.name, "runit")
            families[STATE.name].add(labels, state)
            families[DESIRED.name].add(labels, want)
            families[CHANGED.name].add(labels, changed)
            normally_up = not os.path.exists(os.path.join(directory, entry.name, "supervise", "down"))
            families[NORMAL.name].add(labels, 1 if normally_up else 0)
        return list(families.values())
