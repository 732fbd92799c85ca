"""interrupts (off by default): interrupts serviced per CPU and interrupt, from /proc/interrupts.

The first line names one column per CPU. A numbered interrupt has its chip (``info``) and
device names after the counts; a named one (NMI, LOC, ...) has its description as ``info``.
Lines with fewer counts than CPUs (ERR, MIS) are left out, as node_exporter leaves them out.
``--collector.interrupts.name-include`` / ``-exclude`` match "<name>;<info>;<devices>"."""

from __future__ import annotations

from ..core.collector import Flag
from ..core.metrics import counter
from .registry import HostCollector, compile_filter, node_collectors, read_text

INTERRUPTS = counter("node_interrupts_total", "Interrupt details.", "cpu", "type", "info", "devices")


def parse_interrupts(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """{name: (info, devices, [count per CPU])} of /proc/interrupts."""
    lines = text.splitlines()
    if not lines:
        raise ValueError("/proc/interrupts is empty")
    ncpu = len(lines[0].split())
    out: dict[str, tuple[str, str, list[str]]] = {}
    for line in lines[1:]:
        name, sep, rest = line.partition(":")  # aarch64 may put no space between name and counts
        if not sep:
            continue
        parts = rest.split()
        if len(parts) < ncpu + 1:
            continue
        name = name.lstrip(" ")
        if name.isdigit():
            info, devices = parts[ncpu], " ".join(parts[ncpu + 1 :])
        else:
            info, devices = " ".join(parts[ncpu:]), ""
        out[name] = (info, devices, parts[:ncpu])
    return out


@node_collectors.register
class InterruptsCollector(HostCollector):
    name = "interrupts"
    default_enabled = False
    description = "Interrupts serviced per CPU and interrupt (/proc/interrupts)."
    metrics = (INTERRUPTS,)
    flags = (
        Flag(
            "--collector.interrupts.name-include",
            "collector_interrupts_name_include",
            "Regexp of interrupts name to include (mutually exclusive to --collector.interrupts.name-exclude).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.interrupts.name-exclude",
            "collector_interrupts_name_exclude",
            "Regexp of interrupts name to exclude (mutually exclusive to --collector.interrupts.name-include).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.interrupts.include-zeros",
            "collector_interrupts_include_zeros",
            "Include interrupts that have a zero value.",
            default=True,
            type=bool,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.include = compile_filter(
            "collector.interrupts.name-include", settings.get("collector_interrupts_name_include")
        )
        self.exclude = compile_filter(
            "collector.interrupts.name-exclude", settings.get("collector_interrupts_name_exclude")
        )
        self.include_zeros = bool(settings.get("collector_interrupts_include_zeros", True))

    def ignored(self, name: str) -> bool:
        return bool(
            (self.exclude is not None and self.exclude.search(name))
            or (self.include is not None and not self.include.search(name))
        )

    def read(self):
        fam = INTERRUPTS.family()
        for name, (info, devices, counts) in parse_interrupts(read_text(self.proc("interrupts"))).items():
            if self.ignored(f"{name};{info};{devices}"):
                continue
            for cpu, text in enumerate(counts):
                try:
                    value = float(text)
                except ValueError:
                    raise ValueError(f"invalid value {text!r} in /proc/interrupts") from None
                if value == 0 and not self.include_zeros:
                    continue
                fam.add((str(cpu), name, info, devices), value)
        yield fam
