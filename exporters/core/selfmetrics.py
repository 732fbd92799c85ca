"""The exporter's own process metrics and build info, read from /proc/self.

These always describe this process, so they read the real /proc, never
``--path.procfs`` (which points at the monitored host)."""

from __future__ import annotations

import os
import platform
import resource

from .. import __version__
from .metrics import MetricFamily, counter, gauge

PROCESS_METRICS = (
    counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
    gauge("process_open_fds", "Number of open file descriptors."),
    gauge("process_max_fds", "Maximum number of open file descriptors."),
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes."),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
)
BUILD_INFO = gauge(
    "flextime_exporter_build_info",
    "A metric with a constant '1' value labeled by version, revision, branch, pythonversion and the exporter it serves.",
    "branch",
    "exporter",
    "pythonversion",
    "revision",
    "version",
)

# Go's names for the machine (runtime.GOARCH), for the Go exporters' own build-info metric
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "i386": "386",
    "i686": "386",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
}

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


_BOOT = _boot_time()


def process_families() -> list[MetricFamily]:
    with open("/proc/self/stat") as f:
        # the command name may contain spaces: split after its closing parenthesis
        fields = f.read().rpartition(")")[2].split()
    utime, stime, starttime = int(fields[11]), int(fields[12]), int(fields[19])
    vsize, rss_pages = int(fields[20]), int(fields[21])
    values = (
        (utime + stime) / _TICKS,
        len(os.listdir("/proc/self/fd")),
        resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        vsize,
        rss_pages * _PAGE,
        _BOOT + starttime / _TICKS,
    )
    out = []
    for d, v in zip(PROCESS_METRICS, values):
        fam = d.family()
        fam.add((), v)
        out.append(fam)
    return out


def build_info_family(exporter: str) -> MetricFamily:
    fam = BUILD_INFO.family()
    revision = os.environ.get("FLEXTIME_EXPORTER_REVISION", "unknown")
    fam.add(("", exporter, platform.python_version(), revision, __version__), 1)
    return fam


def go_build_info_family(name: str, program: str) -> MetricFamily:
    """The Go exporter's own build-info metric (``node_exporter_build_info``): dashboards build their
    instance variable from it. Labels as Go's, filled honestly: our version and revision,
    goversion="python<version>" (the runtime that runs us), goos/goarch of this machine in Go's
    spelling, tags="unknown" (we have no build tags)."""
    fam = gauge(
        name,
        f"A metric with a constant '1' value labeled by version, revision, branch, goversion from "
        f"which {program} was built, and the goos and goarch for the build.",
        "branch",
        "goarch",
        "goos",
        "goversion",
        "revision",
        "tags",
        "version",
    ).family()
    machine = platform.machine().lower()
    fam.add(
        (
            "",
            _GOARCH.get(machine, machine),
            platform.system().lower() or "linux",
            "python" + platform.python_version(),
            os.environ.get("FLEXTIME_EXPORTER_REVISION", "unknown"),
            "unknown",
            __version__,
        ),
        1,
    )
    return fam
