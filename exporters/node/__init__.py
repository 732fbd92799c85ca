"""``flextime-exporter node``: host metrics with node_exporter's names, types, labels and units."""

from __future__ import annotations

import os

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from .registry import node_collectors

# Importing a collector module registers it; the order here is the order of /metrics.
from . import (  # noqa: F401,E402
    arp, conntrack, cpu, diskstats, entropy, filefd, filesystem, loadavg, meminfo, netclass, netdev, netstat,
    os_release, pressure, selinux, sockstat, softnet, stat, textfile, time, timex, udp_queues, uname, vmstat,
)

PATH_FLAGS = (
    Flag("--path.procfs", "path_procfs", "procfs mountpoint (the host's /proc when run in a container).",
         default="/proc", metavar="PATH"),
    Flag("--path.sysfs", "path_sysfs", "sysfs mountpoint.", default="/sys", metavar="PATH"),
    Flag("--path.rootfs", "path_rootfs",
         "rootfs mountpoint: prefix for statvfs, stripped from the mountpoint label.", default="/", metavar="PATH"),
    Flag("--path.udev.data", "path_udev_data", "udev data path (disk model, serial, wwn).",
         default="/run/udev/data", metavar="PATH"),
)


def validate(settings: Settings) -> None:
    """Refuse to start when the host cannot be read at all."""
    for flag, path, probe in (("--path.procfs", settings.path_procfs, "stat"),
                              ("--path.sysfs", settings.path_sysfs, None),
                              ("--path.rootfs", settings.path_rootfs, None)):
        target = os.path.join(path, probe) if probe else path
        if probe:
            try:
                with open(target, "rb") as f:
                    f.read(1)
            except OSError as exc:
                raise ConfigError(f"{flag} {path}: cannot read {target}: {exc.strerror or exc}") from exc
        elif not os.path.isdir(target):
            raise ConfigError(f"{flag} {path}: not a directory")


def health_checks(settings: Settings):
    """The 'target' of the host exporter is the host's procfs."""
    stat_path = os.path.join(settings.path_procfs, "stat")

    async def procfs() -> str | None:
        try:
            with open(stat_path, "rb") as f:
                f.read(1)
        except OSError as exc:
            return f"cannot read {stat_path}: {exc.strerror or exc}"
        return None

    return {"procfs": procfs}


SPEC = ExporterSpec(
    name="node",
    namespace="node",
    default_port=9100,
    collectors=node_collectors,
    flags=PATH_FLAGS,
    validate=validate,
    health_checks=health_checks,
    description=description("node"),
)
