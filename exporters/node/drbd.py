"""drbd (off by default): DRBD 8 devices, from /proc/drbd ("key:value" words after each " N:" device line).
A host without DRBD has no /proc/drbd: no data, not an error."""

from __future__ import annotations

from ..core.collector import NoData
from ..core.metrics import counter, gauge
from .registry import HostCollector, node_collectors, read_text

# key -> (metric, multiplier): the kB counts become bytes
NUMERICAL = {
    "ns": (
        counter("node_drbd_network_sent_bytes_total", "Total number of bytes sent via the network.", "device"),
        1024,
    ),
    "nr": (
        counter("node_drbd_network_received_bytes_total", "Total number of bytes received via the network.", "device"),
        1,
    ),
    "dw": (
        counter("node_drbd_disk_written_bytes_total", "Net data written on local hard disk; in bytes.", "device"),
        1024,
    ),
    "dr": (counter("node_drbd_disk_read_bytes_total", "Net data read from local hard disk; in bytes.", "device"), 1024),
    "al": (
        counter(
            "node_drbd_activitylog_writes_total",
            "Number of updates of the activity log area of the meta data.",
            "device",
        ),
        1,
    ),
    "bm": (
        counter("node_drbd_bitmap_writes_total", "Number of updates of the bitmap area of the meta data.", "device"),
        1,
    ),
    "lo": (gauge("node_drbd_local_pending", "Number of open requests to the local I/O sub-system.", "device"), 1),
    "pe": (
        gauge(
            "node_drbd_remote_pending",
            "Number of requests sent to the peer, but that have not yet been answered by the latter.",
            "device",
        ),
        1,
    ),
    "ua": (
        gauge(
            "node_drbd_remote_unacknowledged",
            "Number of requests received by the peer via the network connection, but that have not yet been answered.",
            "device",
        ),
        1,
    ),
    "ap": (
        gauge(
            "node_drbd_application_pending",
            "Number of block I/O requests forwarded to DRBD, but not yet answered by DRBD.",
            "device",
        ),
        1,
    ),
    "ep": (gauge("node_drbd_epochs", "Number of Epochs currently on the fly.", "device"), 1),
    "oos": (gauge("node_drbd_out_of_sync_bytes", "Amount of data known to be out of sync; in bytes.", "device"), 1024),
}
# key -> (metric, the value that means OK) for "local/remote" pairs
PAIRS = {
    "ro": (
        gauge(
            "node_drbd_node_role_is_primary", "Whether the role of the node is in the primary state.", "device", "node"
        ),
        "Primary",
    ),
    "ds": (
        gauge("node_drbd_disk_state_is_up_to_date", "Whether the disk of the node is up to date.", "device", "node"),
        "UpToDate",
    ),
}
CONNECTED = gauge("node_drbd_connected", "Whether DRBD is connected to the peer.", "device")


@node_collectors.register
class DRBDCollector(HostCollector):
    name = "drbd"
    default_enabled = False
    description = "DRBD devices (/proc/drbd)."
    metrics = (*(d for d, _ in NUMERICAL.values()), *(d for d, _ in PAIRS.values()), CONNECTED)

    def read(self):
        try:
            text = read_text(self.proc("drbd"))
        except FileNotFoundError:
            raise NoData("no /proc/drbd (DRBD is not loaded)") from None
        families = {d.name: d.family() for d in self.metrics}
        device = "unknown"
        for word in text.split():
            key, sep, value = word.partition(":")
            if not sep or ":" in value:
                continue
            if key.isdigit() and value == "":
                device = f"drbd{int(key)}"
            elif key in NUMERICAL:
                d, multiplier = NUMERICAL[key]
                try:
                    families[d.name].add((device,), float(value) * multiplier)
                except ValueError:
                    raise ValueError(f"/proc/drbd: {key} of {device} is not a number: {value[:40]!r}") from None
            elif key in PAIRS:
                d, ok = PAIRS[key]
                local, _, remote = value.partition("/")
                families[d.name].add((device, "local"), 1 if local == ok else 0)
                families[d.name].add((device, "remote"), 1 if remote == ok else 0)
            elif key == "cs":
                families[CONNECTED.name].add((device,), 1 if value == "Connected" else 0)
        return list(families.values())
