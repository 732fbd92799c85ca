"""sysctl (off by default): chosen sysctl values from /proc/sys. ``--collector.sysctl.include=NAME`` serves a
numeric one as ``node_sysctl_<name>`` (untyped; several values get an ``index`` label, or one series each
with ``NAME:key1,key2``); ``--collector.sysctl.include-info=NAME`` serves any as ``node_sysctl_info``."""

from __future__ import annotations

import re

from ..core.collector import Flag
from ..core.metrics import UNTYPED, MetricDef, MetricFamily, gauge
from .registry import HostCollector, node_collectors, read_text

INFO = gauge("node_sysctl_info", "sysctl info", "name", "value", "index")
VALUE = MetricDef("node_sysctl_<name>", UNTYPED, "sysctl <name>")  # the metric reference only
_SANITIZE = re.compile(r"_*[^0-9A-Za-z_]+_*")


def metric_name(sysctl: str) -> str:
    return _SANITIZE.sub("_", sysctl)


def parse_include(text: str) -> tuple[str, list[str]]:
    name, sep, keys = text.partition(":")
    return name, keys.split(",") if sep else []


@node_collectors.register
class SysctlCollector(HostCollector):
    name = "sysctl"
    default_enabled = False
    description = "Chosen sysctl values (/proc/sys), by --collector.sysctl.include / include-info."
    metrics = (VALUE, INFO)
    flags = (
        Flag(
            "--collector.sysctl.include",
            "collector_sysctl_include",
            "Select sysctl metrics to include (NAME or NAME:key1,key2); repeatable.",
            multiple=True,
            default=(),
            metavar="NAME",
        ),
        Flag(
            "--collector.sysctl.include-info",
            "collector_sysctl_include_info",
            "Select sysctl metrics to include as info metrics; repeatable.",
            multiple=True,
            default=(),
            metavar="NAME",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.numeric = [parse_include(t) for t in settings.get("collector_sysctl_include") or ()]
        self.info = [parse_include(t) for t in settings.get("collector_sysctl_include_info") or ()]

    def _values(self, name: str) -> list[str]:
        values = read_text(self.proc("sys", name.replace(".", "/"))).split()
        if not values:
            raise ValueError(f"sysctl {name} has no values")
        return values

    def read(self):
        out: list[MetricFamily] = []
        info = INFO.family()
        for name, keys in self.numeric:
            try:
                values = [int(v) for v in self._values(name)]
            except ValueError as exc:
                raise ValueError(f"sysctl {name}: {exc}") from None
            base, help_ = f"node_sysctl_{metric_name(name)}", f"sysctl {name}"
            if len(values) == 1:
                if keys:
                    raise ValueError(f"sysctl {name} has only one value, but expected {keys}")
                fam = MetricFamily(base, UNTYPED, help_)
                fam.add((), values[0])
                out.append(fam)
            elif not keys:
                fam = MetricFamily(base, UNTYPED, help_, ("index",))
                for i, v in enumerate(values):
                    fam.add((str(i),), v)
                out.append(fam)
            elif len(keys) != len(values):
                raise ValueError(f"sysctl {name} has {len(values)} values but {len(keys)} keys in the flag")
            else:
                for i, (key, v) in enumerate(zip(keys, values)):
                    fam = MetricFamily(f"{base}_{key}", UNTYPED, f"sysctl {name}, field {i}")
                    fam.add((), v)
                    out.append(fam)
        for name, _keys in self.info:
            for i, v in enumerate(self._values(name)):
                info.add((name, v, str(i)), 1)
        out.append(info)
        return out
