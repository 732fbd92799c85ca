"""cpufreq: each CPU's frequency, its limits and its scaling governor from
<sysfs>/devices/system/cpu/cpuN/cpufreq/.

The kernel writes kHz; we report hertz, as node_exporter does. CPUs listed in
``devices/system/cpu/offline`` are left out (their cpufreq files answer EBUSY). ``cpuinfo_*`` is what the
hardware reports, ``scaling_*`` what the governor asks for; a file the driver does not provide (or that
only root may read, such as cpuinfo_cur_freq) leaves its series out. ``node_cpu_scaling_governor`` has one
series per available governor, 1 for the active one.

A frequency file that is not a number leaves that CPU out, and the collector reports the failure.
"""

from __future__ import annotations

import errno
import glob
import os

from ..core.collector import PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import go_uint, read_trimmed, sys_read

FREQUENCY = gauge("node_cpu_frequency_hertz", "Current CPU thread frequency in hertz.", "cpu")
FREQUENCY_MIN = gauge("node_cpu_frequency_min_hertz", "Minimum CPU thread frequency in hertz.", "cpu")
FREQUENCY_MAX = gauge("node_cpu_frequency_max_hertz", "Maximum CPU thread frequency in hertz.", "cpu")
SCALING = gauge("node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz.", "cpu")
SCALING_MIN = gauge("node_cpu_scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz.", "cpu")
SCALING_MAX = gauge("node_cpu_scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz.", "cpu")
GOVERNOR = gauge("node_cpu_scaling_governor", "Current enabled CPU frequency governor.", "cpu", "governor")

# (file under cpufreq/, family), in node_exporter's order.
FREQUENCY_FILES = (
    ("cpuinfo_cur_freq", FREQUENCY),
    ("cpuinfo_min_freq", FREQUENCY_MIN),
    ("cpuinfo_max_freq", FREQUENCY_MAX),
    ("scaling_cur_freq", SCALING),
    ("scaling_min_freq", SCALING_MIN),
    ("scaling_max_freq", SCALING_MAX),
)
_ABSENT = (errno.ENOENT, errno.EACCES, errno.EPERM)


def parse_cpu_list(text: str) -> list[int]:
    """A kernel CPU list (``1,3-5,9``) -> [1, 3, 4, 5, 9]; ValueError when malformed."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            bounds = part.split("-")
            if len(bounds) != 2:
                raise ValueError(f"invalid cpu range: {part!r}")
            start, end = int(bounds[0]), int(bounds[1])
            cpus.extend(range(start, end + 1))
        else:
            cpus.append(int(part))
    return cpus


def cpu_dirs(sysfs_cpu: str) -> list[str]:
    """``cpuN`` directories, sorted as Go's Glob sorts them (by name)."""
    return sorted(glob.glob(os.path.join(glob.escape(sysfs_cpu), "cpu[0-9]*")))


@node_collectors.register
class CPUFreqCollector(HostCollector):
    name = "cpufreq"
    description = "CPU frequencies and scaling governors (/sys/devices/system/cpu/cpu*/cpufreq)."
    metrics = (FREQUENCY, FREQUENCY_MIN, FREQUENCY_MAX, SCALING, SCALING_MIN, SCALING_MAX, GOVERNOR)

    def offline(self) -> set[int]:
        try:
            return set(parse_cpu_list(read_trimmed(self.sys("devices", "system", "cpu", "offline"))))
        except FileNotFoundError:
            return set()

    def read(self):
        fams = [(f, d.family()) for f, d in FREQUENCY_FILES]
        governors = GOVERNOR.family()
        offline = self.offline()
        errors = []
        for cpu_dir in cpu_dirs(self.sys("devices", "system", "cpu")):
            number = os.path.basename(cpu_dir)[3:]
            if number.isdigit() and int(number) in offline:
                continue
            freq_dir = os.path.join(cpu_dir, "cpufreq")
            if not os.path.isdir(freq_dir):
                continue
            try:
                values = self.read_cpu(freq_dir)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            for file, fam in fams:
                if values.get(file) is not None:
                    fam.add((number,), values[file] * 1000.0)
            governor = values.get("scaling_governor")
            if governor:
                for available in (values.get("scaling_available_governors") or "").split(" "):
                    governors.add((number, available), 1 if available == governor else 0)
        families = [fam for _, fam in fams] + [governors]
        if errors:
            raise PartialFailure(f"cpufreq: {errors[0]}", families)
        return families

    @staticmethod
    def read_cpu(freq_dir: str) -> dict:
        values: dict = {}
        for file, _ in FREQUENCY_FILES:
            path = os.path.join(freq_dir, file)
            try:
                text = read_trimmed(path)
            except OSError as exc:
                if exc.errno in _ABSENT:
                    continue
                raise ValueError(f"{path}: {exc.strerror or exc}") from None
            value = go_uint(text)
            if value is None:
                raise ValueError(f"{path}: not a number of kHz: {text[:40]!r}")
            values[file] = value
        for file in ("scaling_governor", "scaling_available_governors"):
            try:
                values[file] = sys_read(os.path.join(freq_dir, file))
            except OSError:
                values[file] = None
        return values
