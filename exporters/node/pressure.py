"""pressure: pressure stall information (PSI) from /proc/pressure/{cpu,io,memory,irq}.

Each file has a ``some`` line (time in which at least one task was stalled on
the resource) and, for io and memory (and cpu since Linux 5.13), a ``full``
line (time in which all non-idle tasks were stalled)::

    some avg10=0.22 avg60=0.32 avg300=0.65 total=101030819
    full avg10=0.00 avg60=0.00 avg300=0.00 total=0

We export the ``total=`` microsecond counters in seconds, as node_exporter 1.9
does: ``some`` of cpu, io and memory (``*_waiting_seconds_total``) and ``full``
of io, memory and irq (``*_stalled_seconds_total``; irq has only a full line).

A kernel without PSI (before 4.20, or built without CONFIG_PSI) has no
/proc/pressure; one booted with ``psi=0`` answers EOPNOTSUPP. node_exporter
then reports the collector as failed (success 0, logged at debug level only);
we fail too, with a message saying which of the two it is. A kernel with PSI but
without irq PSI (before 6.1, or without CONFIG_IRQ_TIME_ACCOUNTING) has no
/proc/pressure/irq: we serve cpu, io and memory and succeed, as node_exporter
does since 1.10 (1.9 reported the whole collector as failed there, its issue
#3263).
"""

from __future__ import annotations

import errno
import os

from ..core.collector import NoData, PartialFailure
from ..core.metrics import counter
from .registry import HostCollector, node_collectors, read_text

CPU_WAITING = counter(
    "node_pressure_cpu_waiting_seconds_total", "Total time in seconds that processes have waited for CPU time"
)
IO_WAITING = counter(
    "node_pressure_io_waiting_seconds_total", "Total time in seconds that processes have waited due to IO congestion"
)
IO_STALLED = counter(
    "node_pressure_io_stalled_seconds_total",
    "Total time in seconds no process could make progress due to IO congestion",
)
MEMORY_WAITING = counter(
    "node_pressure_memory_waiting_seconds_total", "Total time in seconds that processes have waited for memory"
)
MEMORY_STALLED = counter(
    "node_pressure_memory_stalled_seconds_total",
    "Total time in seconds no process could make progress due to memory congestion",
)

IRQ_STALLED = counter(
    "node_pressure_irq_stalled_seconds_total",
    "Total time in seconds no process could make progress due to IRQ congestion",
)

# resource file -> (family of its "some" line or None, family of its "full" line or None)
RESOURCES = (
    ("cpu", CPU_WAITING, None),
    ("io", IO_WAITING, IO_STALLED),
    ("memory", MEMORY_WAITING, MEMORY_STALLED),
    ("irq", None, IRQ_STALLED),
)


class PSIUnavailable(NoData):
    """The kernel does not provide pressure stall information."""


class PSIPartlyUnavailable(PartialFailure, NoData):
    """Some resources have PSI, a later one does not: what was read is served, success 0, debug log."""


IRQ_OPTIONAL = "irq"  # only in Linux 6.1+ with CONFIG_IRQ_TIME_ACCOUNTING


def parse_psi(text: str) -> dict[str, int]:
    """``{"some": total_us, "full": total_us}`` from one /proc/pressure file.

    A line of an unknown kind is ignored (new kinds may be added); a ``some``
    or ``full`` line without a numeric ``total=`` raises ValueError. ``full``
    is absent from the result when the file has no such line (cpu before 5.13)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] not in ("some", "full"):
            continue
        total = None
        for field in fields[1:]:
            key, sep, value = field.partition("=")
            if sep and key == "total":
                total = int(value)
        if total is None:
            raise ValueError(f"malformed PSI line: {line[:80]!r}")
        out[fields[0]] = total
    return out


def us_to_seconds(us: int) -> float:
    """Microseconds to seconds, computed as node_exporter does (two divisions),
    so the printed values are the same to the last digit."""
    return us / 1000.0 / 1000.0


@node_collectors.register
class PressureCollector(HostCollector):
    name = "pressure"
    description = "Pressure stall information (/proc/pressure); needs Linux 4.20+ with PSI enabled."
    metrics = (CPU_WAITING, IO_WAITING, IO_STALLED, MEMORY_WAITING, MEMORY_STALLED, IRQ_STALLED)

    def read_resource(self, resource: str) -> dict[str, int]:
        path = self.proc("pressure", resource)
        try:
            return parse_psi(read_text(path))
        except FileNotFoundError:
            raise PSIUnavailable(
                f"{path} does not exist: pressure information needs Linux >= 4.20 with CONFIG_PSI"
            ) from None
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                raise PSIUnavailable(
                    f"{path}: pressure information is disabled, add psi=1 to the kernel command line"
                ) from None
            raise

    def read(self):
        fams = []
        for resource, some_def, full_def in RESOURCES:
            if resource == IRQ_OPTIONAL and not os.path.exists(self.proc("pressure", resource)):
                continue
            try:
                totals = self.read_resource(resource)
                # As 1.9: cpu may lack "full" (before 5.13), irq has no "some"; anything else is no data.
                for kind, needed in (("some", resource != "irq"), ("full", resource != "cpu")):
                    if needed and kind not in totals:
                        raise PSIUnavailable(f"{self.proc('pressure', resource)} has no '{kind}' line")
            except PSIUnavailable as exc:
                if not fams:
                    raise
                raise PSIPartlyUnavailable(str(exc), fams) from None
            for definition, kind in ((some_def, "some"), (full_def, "full")):
                if definition is not None and kind in totals:
                    fam = definition.family()
                    fam.add((), us_to_seconds(totals[kind]))
                    fams.append(fam)
        return fams
