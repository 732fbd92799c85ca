"""``flextime-exporter node``: host metrics with node_exporter's names, types, labels and units."""

from __future__ import annotations

import os

from ..catalogue import description
from ..core.collector import Flag, Settings
from ..core.errors import ConfigError
from ..core.spec import ExporterSpec
from .compat import still_ignored, warn_ignored
from .registry import node_collectors

# Importing a collector module registers it; the order here is the order of /metrics.
from . import (  # noqa: F401,E402
    arp,
    bcache,
    bonding,
    btrfs,
    conntrack,
    cpu,
    cpufreq,
    diskstats,
    dmi,
    edac,
    entropy,
    fibrechannel,
    filefd,
    filesystem,
    hwmon,
    infiniband,
    ipvs,
    loadavg,
    mdadm,
    meminfo,
    netclass,
    netdev,
    netstat,
    nfs,
    nfsd,
    nvme,
    os_release,
    powersupplyclass,
    pressure,
    rapl,
    schedstat,
    selinux,
    sockstat,
    softnet,
    stat,
    tapestats,
    textfile,
    thermal_zone,
    time,
    timex,
    udp_queues,
    uname,
    vmstat,
    watchdog,
    xfs,
    zfs,
)
from . import (  # noqa: F401,E402  off by default
    buddyinfo,
    cgroups,
    cpu_vulnerabilities,
    drbd,
    drm,
    ethtool,
    interrupts,
    ksmd,
    lnstat,
    logind,
    meminfo_numa,
    mountstats,
    network_route,
    ntp,
    processes,
    qdisc,
    runit,
    slabinfo,
    softirqs,
    supervisord,
    sysctl,
    systemd,
    tcpstat,
    xfrm,
    zoneinfo,
)

# node_exporter flags we accept with one warning: those of collectors not built here (see compat.py)
IGNORED = still_ignored(node_collectors)

PATH_FLAGS = (
    Flag(
        "--path.procfs",
        "path_procfs",
        "procfs mountpoint (the host's /proc when run in a container).",
        default="/proc",
        metavar="PATH",
    ),
    Flag("--path.sysfs", "path_sysfs", "sysfs mountpoint.", default="/sys", metavar="PATH"),
    Flag(
        "--path.rootfs",
        "path_rootfs",
        "rootfs mountpoint: prefix for statvfs, stripped from the mountpoint label.",
        default="/",
        metavar="PATH",
    ),
    Flag(
        "--path.udev.data",
        "path_udev_data",
        "udev data path (disk model, serial, wwn).",
        default="/run/udev/data",
        metavar="PATH",
    ),
)


def validate(settings: Settings) -> None:
    """Refuse to start when the host cannot be read at all; name node_exporter flags we accept but ignore."""
    warn_ignored(settings, IGNORED)
    for flag, path, probe in (
        ("--path.procfs", settings.path_procfs, "stat"),
        ("--path.sysfs", settings.path_sysfs, None),
        ("--path.rootfs", settings.path_rootfs, None),
    ):
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
    flags=PATH_FLAGS + tuple(item.as_flag() for item in IGNORED),
    validate=validate,
    health_checks=health_checks,
    description=description("node"),
    go_build_info="node_exporter_build_info",
)
