"""netclass: per-interface properties from <sysfs>/class/net/<iface>/.

One family per numeric attribute file (``mtu`` -> ``node_network_mtu_bytes``,
``flags`` -> ``node_network_flags``, ...), ``node_network_up`` (operstate is
``up``) and ``node_network_info`` with the textual attributes as labels and,
as in node_exporter 1.9, ``adminstate`` (``up`` when IFF_UP is set in
``flags``, ``down`` when not, ``unknown`` when ``flags`` cannot be read).

The kernel refuses to read some attributes in some states: ``speed``,
``duplex``, ``carrier`` and ``dormant`` answer EINVAL on an interface that is
down, ``name_assign_type`` on one named by the kernel in an unknown way,
``phys_port_id`` EOPNOTSUPP. As in node_exporter 1.5.0 such a file (and one
that is missing, unreadable, not a regular file, or not a number) leaves that
metric out for that interface; a text attribute becomes the empty label value.
Any other read error fails the collector.

Numbers are parsed as Go's ``strconv.ParseInt(s, 0, 64)`` does: ``flags`` and
``dev_id`` are written in hex (``0x1003``).
"""

from __future__ import annotations

import errno
import os
import re

from ..core.collector import Flag
from ..core.metrics import MetricDef, counter, gauge
from .registry import HostCollector, compile_filter, node_collectors, read_bytes

DEFAULT_IGNORED_DEVICES = "^$"

# The attribute errors that mean "this interface has no such value now".
SKIP_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EOPNOTSUPP, errno.EINVAL, errno.EISDIR})

# sysfs reads are at most one page, as the kernel's show() functions write at most that.
_READ_MAX = 4096

UP = gauge("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", "device")
INFO = gauge(
    "node_network_info",
    "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    "address",
    "adminstate",
    "broadcast",
    "device",
    "duplex",
    "ifalias",
    "operstate",
)
# The attribute files behind node_network_info's labels (the device name aside).
INFO_ATTRIBUTES = ("address", "broadcast", "duplex", "ifalias", "operstate")


def _property(name: str, typ=gauge) -> MetricDef:
    return typ(f"node_network_{name}", f"Network device property: {name}", "device")


# (attribute file, metric), in node_exporter's order; speed is handled apart.
NUMERIC_ATTRIBUTES = (
    ("addr_assign_type", _property("address_assign_type")),
    ("carrier", _property("carrier")),
    ("carrier_changes", _property("carrier_changes_total", counter)),
    ("carrier_up_count", _property("carrier_up_changes_total", counter)),
    ("carrier_down_count", _property("carrier_down_changes_total", counter)),
    ("dev_id", _property("device_id")),
    ("dormant", _property("dormant")),
    ("flags", _property("flags")),
    ("ifindex", _property("iface_id")),
    ("iflink", _property("iface_link")),
    ("link_mode", _property("iface_link_mode")),
    ("mtu", _property("mtu_bytes")),
    ("name_assign_type", _property("name_assign_type")),
    ("netdev_group", _property("net_dev_group")),
    ("tx_queue_len", _property("transmit_queue_length")),
    ("type", _property("protocol_type")),
)
SPEED = _property("speed_bytes")
ATTRIBUTE_FILES = INFO_ATTRIBUTES + tuple(f for f, _ in NUMERIC_ATTRIBUTES) + ("speed",)

_OCTAL = re.compile(r"[+-]?0[0-7_]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def parse_int(text: str) -> int | None:
    """A sysfs number as Go's ``ParseInt(s, 0, 64)`` reads it, None when it is not one.

    ``0x1003`` is hex, ``0o17``/``017`` octal, ``0b1`` binary; out of int64 range is None."""
    s = text.strip()
    try:
        value = int(s, 0)
    except ValueError:
        if not _OCTAL.fullmatch(s):  # Go's legacy leading-zero octal, which Python refuses
            return None
        try:
            value = int(s, 8)
        except ValueError:
            return None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


IFF_UP = 0x1


def admin_state(flags: int | None) -> str:
    if flags is None:
        return "unknown"
    return "up" if flags & IFF_UP else "down"


def speed_bytes(mbits: int) -> int:
    """``speed`` (Mbit/s; -1 when unknown) in bytes per second, as node_exporter reports it."""
    return mbits * 125000


def read_attribute(path: str) -> str | None:
    """The trimmed text of one attribute file, None when the interface does not
    have a value now (see SKIP_ERRNOS). Other errors propagate."""
    try:
        data = read_bytes(path, _READ_MAX)
    except OSError as exc:
        if exc.errno in SKIP_ERRNOS:
            return None
        raise
    return data.decode("utf-8", errors="replace").strip()


def interface_attributes(device_dir: str) -> dict[str, str]:
    """``{attribute file: trimmed text}`` of the attributes we export that can be read."""
    out = {}
    for name in ATTRIBUTE_FILES:
        value = read_attribute(os.path.join(device_dir, name))
        if value is not None:
            out[name] = value
    return out


@node_collectors.register
class NetclassCollector(HostCollector):
    name = "netclass"
    description = "Network interface properties (/sys/class/net/<iface>): state, MTU, speed, carrier."
    metrics = (UP, INFO) + tuple(d for _, d in NUMERIC_ATTRIBUTES) + (SPEED,)
    flags = (
        Flag(
            "--collector.netclass.ignored-devices",
            "collector_netclass_ignored_devices",
            "Regexp of net devices to ignore for netclass collector.",
            default=DEFAULT_IGNORED_DEVICES,
        ),
        Flag(
            "--collector.netclass.ignore-invalid-speed",
            "collector_netclass_ignore_invalid_speed",
            "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
            default=False,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        pattern = self.settings.get("collector_netclass_ignored_devices", DEFAULT_IGNORED_DEVICES)
        if pattern is None:
            pattern = DEFAULT_IGNORED_DEVICES
        # Go's empty regexp matches every name (so it ignores every device); compile_filter
        # returns None for "", so compile it here to keep that behaviour.
        self.ignored = compile_filter("collector.netclass.ignored-devices", pattern) or re.compile("")
        self.ignore_invalid_speed = bool(self.settings.get("collector_netclass_ignore_invalid_speed", False))

    def devices(self) -> list[str]:
        """The interface names of <sysfs>/class/net, sorted; regular files (bonding_masters) are not interfaces."""
        base = self.sys("class", "net")
        with os.scandir(base) as entries:
            return sorted(e.name for e in entries if not e.is_file(follow_symlinks=False))

    def read(self):
        up = UP.family()
        info = INFO.family()
        numeric = [(attr, d.family()) for attr, d in NUMERIC_ATTRIBUTES]
        speed = SPEED.family()
        for device in self.devices():
            if self.ignored.search(device):
                continue
            device_dir = self.sys("class", "net", device)
            if not os.path.isdir(device_dir):
                continue  # removed since the listing, or a dangling link
            attrs = interface_attributes(device_dir)
            labels = (device,)
            address, broadcast, duplex, ifalias, operstate = (attrs.get(f, "") for f in INFO_ATTRIBUTES)
            up.add(labels, 1 if operstate == "up" else 0)
            flags = parse_int(attrs["flags"]) if "flags" in attrs else None
            info.add((address, admin_state(flags), broadcast, device, duplex, ifalias, operstate), 1)
            for attr, fam in numeric:
                value = parse_int(attrs[attr]) if attr in attrs else None
                if value is not None:
                    fam.add(labels, value)
            mbits = parse_int(attrs["speed"]) if "speed" in attrs else None
            if mbits is not None and (mbits >= 0 or not self.ignore_invalid_speed):
                speed.add(labels, speed_bytes(mbits))
        yield up
        yield info
        for _, fam in numeric:
            yield fam
        yield speed
