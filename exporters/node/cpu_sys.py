"""The cpu collector's series from sysfs (<sysfs>/devices/system/cpu): thermal throttle counters, isolated
CPUs and online state, as node_exporter 1.9's cpu collector serves them beside /proc/stat's times.

- ``node_cpu_core_throttles_total{package,core}`` and ``node_cpu_package_throttles_total{package}``: how often
  the CPU slowed itself down because it ran hot (``thermal_throttle/*_throttle_count``, Intel). Read once per
  core and once per package (the hyperthreads of a core share the counter). A CPU without topology files is
  skipped, as in node_exporter.
- ``node_cpu_isolated{cpu}``: 1 for each CPU in ``isolated`` (the ``isolcpus=`` boot parameter).
- ``node_cpu_online{cpu}``: 1 or 0 per CPU from ``cpuN/online``, only when cpu0 has that file (it often
  has none: the boot CPU cannot go offline).
"""

from __future__ import annotations

import os

from ..core.metrics import counter, gauge
from .cpufreq import cpu_dirs, parse_cpu_list
from .sysfs_values import read_trimmed, read_uint, sys_read

CORE_THROTTLES = counter(
    "node_cpu_core_throttles_total", "Number of times this CPU core has been throttled.", "package", "core"
)
PACKAGE_THROTTLES = counter(
    "node_cpu_package_throttles_total", "Number of times this CPU package has been throttled.", "package"
)
ISOLATED = gauge(
    "node_cpu_isolated", "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.", "cpu"
)
ONLINE = gauge("node_cpu_online", "CPUs that are online and being scheduled.", "cpu")
SYS_METRICS = (CORE_THROTTLES, PACKAGE_THROTTLES, ISOLATED, ONLINE)


def _uint_or_none(path: str) -> int | None:
    try:
        return read_uint(path)
    except (OSError, ValueError):
        return None


def throttle_families(sysfs_cpu: str):
    """(package throttles, core throttles) families."""
    packages: dict[int, int | None] = {}
    cores: dict[int, dict[int, int | None]] = {}
    for cpu in cpu_dirs(sysfs_cpu):
        package = _uint_or_none(os.path.join(cpu, "topology", "physical_package_id"))
        core = _uint_or_none(os.path.join(cpu, "topology", "core_id"))
        if package is None or core is None:
            continue
        per_package = cores.setdefault(package, {})
        if core not in per_package:
            per_package[core] = _uint_or_none(os.path.join(cpu, "thermal_throttle", "core_throttle_count"))
        if package not in packages:
            packages[package] = _uint_or_none(os.path.join(cpu, "thermal_throttle", "package_throttle_count"))
    package_fam, core_fam = PACKAGE_THROTTLES.family(), CORE_THROTTLES.family()
    for package, count in packages.items():
        if count is not None:
            package_fam.add((str(package),), count)
    for package, per_package in cores.items():
        for core, count in per_package.items():
            if count is not None:
                core_fam.add((str(package), str(core)), count)
    return package_fam, core_fam


def isolated_family(sysfs_cpu: str):
    """node_cpu_isolated; ValueError naming the file when its list is malformed."""
    fam = ISOLATED.family()
    path = os.path.join(sysfs_cpu, "isolated")
    try:
        text = read_trimmed(path)
    except FileNotFoundError:
        return fam
    try:
        cpus = parse_cpu_list(text)
    except ValueError:
        raise ValueError(f"{path}: not a CPU list: {text[:40]!r}") from None
    for cpu in cpus:
        fam.add((str(cpu),), 1)
    return fam


def online_family(sysfs_cpu: str):
    fam = ONLINE.family()
    cpus = cpu_dirs(sysfs_cpu)
    if not cpus or not os.path.exists(os.path.join(cpus[0], "online")):
        return fam
    for cpu in cpus:
        try:
            online = sys_read(os.path.join(cpu, "online")) == "1"
        except OSError:
            online = False  # as node_exporter: unreadable counts as offline
        fam.add((os.path.basename(cpu)[3:],), 1 if online else 0)
    return fam
