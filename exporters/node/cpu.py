"""cpu: per-CPU time by mode from the ``cpuN`` lines of /proc/stat.

The kernel counts in USER_HZ ticks; we report seconds. Some kernels let the
idle and iowait counters step backwards a little (NO_HZ accounting), which a
``rate()`` would read as a counter reset. So, as node_exporter does, we remember
the last value reported per (cpu, mode) and never report less than it. The one
exception is a real reset: when any mode of a CPU drops by at least
``JUMP_BACK_RESET_SECONDS`` (a CPU taken offline and back, whose counters
restart), we take that CPU's new values as they are.
"""

from __future__ import annotations

import os

from ..core.collector import Flag, PartialFailure
from ..core.metrics import counter
from . import cpuinfo
from .cpu_sys import SYS_METRICS, isolated_family, online_family, throttle_families
from .registry import HostCollector, compile_filter, node_collectors, read_text

CPU_SECONDS = counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", "cpu", "mode")
CPU_GUEST_SECONDS = counter(
    "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.", "cpu", "mode"
)

# Field order of a cpuN line after the name (proc(5)); guest time is also
# included in user/nice by the kernel.
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
CPU_MODES = STAT_FIELDS[:8]
# /proc/stat field -> the mode label of node_cpu_guest_seconds_total.
GUEST_MODES = (("guest", "user"), ("guest_nice", "nice"))

# A drop at least this large (in seconds) is a counter reset, not jitter.
JUMP_BACK_RESET_SECONDS = 3.0

try:
    USER_HZ = os.sysconf("SC_CLK_TCK")
except (ValueError, OSError, AttributeError):  # pragma: no cover - every Linux has it
    USER_HZ = 100


def parse_cpu_stat(text: str, user_hz: int = USER_HZ) -> dict[str, dict[str, float]]:
    """Return ``{cpu number: {field: seconds}}`` for every ``cpuN`` line of /proc/stat.

    The aggregate ``cpu`` line is skipped. Fields an old kernel does not print
    (steal, guest, guest_nice) read as 0, so every CPU has all ten fields."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        parts = line.split()
        label = parts[0][3:]
        if not label.isdigit():
            continue  # the "cpu" total line
        ticks = [int(v) for v in parts[1 : 1 + len(STAT_FIELDS)]]
        ticks += [0] * (len(STAT_FIELDS) - len(ticks))
        out[label] = {name: t / user_hz for name, t in zip(STAT_FIELDS, ticks)}
    return out


class MonotonicCPUTimes:
    """Remembers the last reported value per (cpu, field) and clamps small drops."""

    def __init__(self, reset_seconds: float = JUMP_BACK_RESET_SECONDS) -> None:
        self.reset_seconds = reset_seconds
        self.last: dict[str, dict[str, float]] = {}

    def update(self, current: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        for cpu, fields in current.items():
            prev = self.last.get(cpu)
            if prev is None or any(prev.get(k, 0.0) - v >= self.reset_seconds for k, v in fields.items()):
                kept = dict(fields)  # first sight, or a hot-plug reset: start over
            else:
                kept = {k: max(v, prev.get(k, v)) for k, v in fields.items()}
            result[cpu] = kept
        # CPUs that went away are forgotten, so their return starts fresh.
        self.last = result
        return result


def cpufreq_disabled(settings) -> bool:
    """node_exporter serves node_cpu_frequency_hertz from /proc/cpuinfo only when it has a cpufreq
    collector and that collector is turned off."""
    if "cpufreq" not in node_collectors.names():
        return False
    explicit = settings.get("enable_collector_cpufreq")
    if explicit is not None:
        return not explicit
    return bool(settings.get("collector_disable_defaults")) or not node_collectors.get("cpufreq").default_enabled


@node_collectors.register
class CPUCollector(HostCollector):
    name = "cpu"
    description = "Seconds each CPU spent per mode (/proc/stat); thermal throttles, isolated and online CPUs (sysfs)."
    metrics = (CPU_SECONDS, CPU_GUEST_SECONDS, *cpuinfo.METRICS) + SYS_METRICS
    flags = (
        Flag(
            "--collector.cpu.guest",
            "collector_cpu_guest",
            "Enables metric node_cpu_guest_seconds_total.",
            default=True,
            type=bool,
        ),
        *cpuinfo.FLAGS,
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.guest = bool(self.settings.get("collector_cpu_guest", True))
        self._times = MonotonicCPUTimes()
        self.flags_include = compile_filter(
            "collector.cpu.info.flags-include", settings.get("collector_cpu_info_flags_include")
        )
        self.bugs_include = compile_filter(
            "collector.cpu.info.bugs-include", settings.get("collector_cpu_info_bugs_include")
        )
        # a flags or bugs filter turns the info on, as in node_exporter
        self.info = bool(settings.get("collector_cpu_info")) or bool(self.flags_include or self.bugs_include)
        self.info_frequency = self.info and cpufreq_disabled(settings)

    def read(self):
        families = []
        if self.info:
            families += cpuinfo.info_families(
                cpuinfo.parse_cpuinfo(read_text(self.proc("cpuinfo"))),
                self.flags_include,
                self.bugs_include,
                self.info_frequency,
            )
        families += self.read_stat()
        sysfs_cpu = self.sys("devices", "system", "cpu")
        try:
            isolated = [isolated_family(sysfs_cpu)]
        except ValueError as exc:  # the other series are still served
            isolated, error = [], f"cpu: {exc}"
        else:
            error = None
        families += [f for f in (*isolated, *throttle_families(sysfs_cpu), online_family(sysfs_cpu)) if f.samples]
        if error:
            raise PartialFailure(error, families)
        return families

    def read_stat(self):
        times = self._times.update(parse_cpu_stat(read_text(self.proc("stat"))))
        seconds = CPU_SECONDS.family()
        for cpu, fields in times.items():
            for mode in CPU_MODES:
                seconds.add((cpu, mode), fields[mode])
        yield seconds
        if self.guest:
            guest = CPU_GUEST_SECONDS.family()
            for cpu, fields in times.items():
                for field, mode in GUEST_MODES:
                    guest.add((cpu, mode), fields[field])
            yield guest
