"""node_exporter 1.9's flags (and 1.5's spellings) that this exporter accepts without acting on them, so a
unit file or Helm values written for node_exporter start it unchanged. A flag given a value that asks for
something we do not do is reported by one warning line naming it and the reason; docs/node.md lists them.

Three kinds: the Go runtime's flag, which cannot apply here; other ways to read the same data (netlink),
where we read /proc or /sys; and the collectors (with their flags) that node_exporter has off by default
and we do not implement yet (perf, wifi)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..core.collector import Flag, Settings

log = logging.getLogger("exporters.node")

CANNOT_APPLY = "cannot apply"
OTHER_SOURCE = "other source"
NOT_IMPLEMENTED = "not implemented"


@dataclass(frozen=True)
class Ignored:
    """One accepted-but-ignored flag: ``kind`` is bool (warn when on), str (warn when given) or list
    (repeatable; warn when given)."""

    flag: str
    why: str  # the reason, for the warning and the docs
    category: str
    kind: type = bool
    help: str = ""

    @property
    def dest(self) -> str:
        return "ignored_" + self.flag.lstrip("-").replace(".", "_").replace("-", "_")

    def as_flag(self) -> Flag:
        text = (self.help + " " if self.help else "") + f"Accepted for node_exporter compatibility, ignored: {self.why}"
        if self.kind is bool:
            return Flag(self.flag, self.dest, text, default=False, type=bool)
        return Flag(
            self.flag,
            self.dest,
            text,
            multiple=self.kind is list,
            default=() if self.kind is list else None,
            metavar="VALUE",
        )


def _collector(name: str, *flags: tuple[str, type]) -> list[Ignored]:
    why = f"the {name} collector (off by default in node_exporter) is not implemented by flextime-exporter"
    out = [Ignored(f"--collector.{name}", why, NOT_IMPLEMENTED)]
    out += [
        Ignored(f, f"a flag of the {name} collector, which is not implemented", NOT_IMPLEMENTED, kind)
        for f, kind in flags
    ]
    return out


IGNORED: tuple[Ignored, ...] = (
    Ignored(
        "--runtime.gomaxprocs",
        "the number of OS threads of the Go runtime (GOMAXPROCS); the Python runtime has "
        "no such setting (blocking reads run on one worker thread per scrape)",
        CANNOT_APPLY,
        str,
    ),
    Ignored("--collector.arp.netlink", "the arp collector reads /proc/net/arp (the same series)", OTHER_SOURCE),
    Ignored(
        "--collector.netdev.netlink",
        "the netdev collector reads /proc/net/dev and /sys/class/net (the same series)",
        OTHER_SOURCE,
    ),
    Ignored(
        "--collector.netclass.netlink", "the netclass collector reads /sys/class/net (the same series)", OTHER_SOURCE
    ),
    Ignored(
        "--collector.netclass_rtnl.with-stats",
        "needs the netlink netclass reader (--collector.netclass.netlink); "
        "the netdev collector serves these statistics",
        OTHER_SOURCE,
    ),
    *_collector(
        "perf",
        ("--collector.perf.cpus", str),
        ("--collector.perf.tracepoint", list),
        ("--collector.perf.disable-hardware-profilers", bool),
        ("--collector.perf.hardware-profilers", list),
        ("--collector.perf.disable-software-profilers", bool),
        ("--collector.perf.software-profilers", list),
        ("--collector.perf.disable-cache-profilers", bool),
        ("--collector.perf.cache-profilers", list),
    ),
    *_collector("wifi", ("--collector.wifi.fixtures", str)),
)


def still_ignored(collectors) -> tuple[Ignored, ...]:
    """The entries of IGNORED that no registered collector implements (a collector built later wins)."""
    defined = set()
    for cls in collectors:
        defined.add(f"--collector.{cls.name}")
        defined.update(f.flag for f in cls.flags)
        defined.update(alias for f in cls.flags for alias in f.aliases)
    return tuple(item for item in IGNORED if item.flag not in defined)


def warn_ignored(settings: Settings, ignored: tuple[Ignored, ...] = IGNORED) -> list[str]:
    """Log one warning line per ignored flag that was turned on or given a value; returns the flags."""
    named = []
    for item in ignored:
        value = settings.get(item.dest)
        if value in (None, False, (), [], ""):
            continue
        named.append(item.flag)
        log.warning("%s is accepted but ignored: %s", item.flag, item.why)
    return named
