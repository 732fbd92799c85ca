"""The cpu collector's ``--collector.cpu.info`` part: node_cpu_info (one series per logical CPU, labelled
from /proc/cpuinfo), node_cpu_flag_info / node_cpu_bug_info (the first CPU's flags and bugs that match
``--collector.cpu.info.flags-include`` / ``bugs-include``), and node_cpu_frequency_hertz when the
cpufreq collector is turned off (as node_exporter: the MHz of /proc/cpuinfo stands in for it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.collector import Flag
from ..core.metrics import gauge

CPU_INFO = gauge(
    "node_cpu_info",
    "CPU information from /proc/cpuinfo.",
    "package",
    "core",
    "cpu",
    "vendor",
    "family",
    "model",
    "model_name",
    "microcode",
    "stepping",
    "cachesize",
)
CPU_FREQUENCY = gauge(
    "node_cpu_frequency_hertz", "CPU frequency in hertz from /proc/cpuinfo.", "package", "core", "cpu"
)
CPU_FLAG_INFO = gauge(
    "node_cpu_flag_info", "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.", "flag"
)
CPU_BUG_INFO = gauge(
    "node_cpu_bug_info", "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.", "bug"
)
METRICS = (CPU_INFO, CPU_FREQUENCY, CPU_FLAG_INFO, CPU_BUG_INFO)

FLAGS = (
    Flag("--collector.cpu.info", "collector_cpu_info", "Enables metric node_cpu_info.", default=False, type=bool),
    Flag(
        "--collector.cpu.info.flags-include",
        "collector_cpu_info_flags_include",
        "Filter the `flags` field in cpuInfo with a value that must be a regular expression (implies "
        "--collector.cpu.info).",
        metavar="REGEX",
    ),
    Flag(
        "--collector.cpu.info.bugs-include",
        "collector_cpu_info_bugs_include",
        "Filter the `bugs` field in cpuInfo with a value that must be a regular expression (implies "
        "--collector.cpu.info).",
        metavar="REGEX",
    ),
)

# /proc/cpuinfo key -> CPUInfo attribute (x86 layout; other architectures leave the labels empty)
_TEXT_KEYS = {
    "vendor": "vendor",
    "vendor_id": "vendor",
    "cpu family": "family",
    "model": "model",
    "model name": "model_name",
    "stepping": "stepping",
    "microcode": "microcode",
    "cache size": "cachesize",
    "physical id": "package",
    "core id": "core",
}


@dataclass
class CPUInfo:
    processor: int
    vendor: str = ""
    family: str = ""
    model: str = ""
    model_name: str = ""
    stepping: str = ""
    microcode: str = ""
    cachesize: str = ""
    package: str = ""
    core: str = ""
    mhz: float = 0.0
    flags: list[str] = field(default_factory=list)
    bugs: list[str] = field(default_factory=list)


def parse_cpuinfo(text: str) -> list[CPUInfo]:
    """Every ``processor`` block of /proc/cpuinfo. Values are kept as the kernel writes them
    (after ``": "``), as node_exporter's reader keeps them."""
    cpus: list[CPUInfo] = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, sep, value = line.partition(": ")
        key = key.strip()
        if key == "processor":
            cpus.append(CPUInfo(int(value.strip(), 0)))
            continue
        if not cpus:
            raise ValueError(f"/proc/cpuinfo does not start with a processor line: {line[:80]!r}")
        cpu = cpus[-1]
        if key in _TEXT_KEYS:
            setattr(cpu, _TEXT_KEYS[key], value)
        elif key == "cpu MHz":
            cpu.mhz = float(value)
        elif key == "flags":
            cpu.flags = value.split()
        elif key == "bugs":
            cpu.bugs = value.split()
    if not cpus:
        raise ValueError("/proc/cpuinfo lists no processor")
    return cpus


def info_families(cpus: list[CPUInfo], flags_include, bugs_include, with_frequency: bool):
    info = CPU_INFO.family()
    for c in cpus:
        info.add(
            (
                c.package,
                c.core,
                str(c.processor),
                c.vendor,
                c.family,
                c.model,
                c.model_name,
                c.microcode,
                c.stepping,
                c.cachesize,
            ),
            1,
        )
    out = [info]
    if with_frequency:
        freq = CPU_FREQUENCY.family()
        for c in cpus:
            freq.add((c.package, c.core, str(c.processor)), c.mhz * 1e6)
        out.append(freq)
    for d, values, pattern in (
        (CPU_FLAG_INFO, cpus[0].flags, flags_include),
        (CPU_BUG_INFO, cpus[0].bugs, bugs_include),
    ):
        if pattern is None:
            continue
        fam = d.family()
        for v in values:
            if pattern.search(v):
                fam.add((v,), 1)
        out.append(fam)
    return out
