"""vmstat: selected /proc/vmstat counters, one untyped family per field.

``pgfault 21177347`` becomes ``node_vmstat_pgfault 21177347``. Which fields are
exported is chosen by ``--collector.vmstat.fields`` (a regex searched in the
field name, as Go's ``MatchString`` does: anchor it to match whole names).
The set of fields depends on the kernel, so families are built at read time.
"""

from __future__ import annotations

import re

from ..core.collector import Flag
from ..core.metrics import UNTYPED, MetricDef, MetricFamily
from .registry import HostCollector, compile_filter, node_collectors, read_text

DEFAULT_FIELDS = r"^(oom_kill|pgpg|pswp|pg.*fault).*"

# For the generated metric reference only: the real names come from the file.
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

VMSTAT = MetricDef("node_vmstat_<key>", UNTYPED, "/proc/vmstat information field <key>.")


def parse_vmstat(text: str) -> dict[str, float]:
    """Return ``{field: value}`` from /proc/vmstat text (``name value`` lines).

    Lines without exactly a name and a number, and names that cannot be part
    of a metric name, are skipped."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2 or not _NAME.match(fields[0]):
            continue
        try:
            out[fields[0]] = int(fields[1])
        except ValueError:
            try:
                out[fields[0]] = float(fields[1])
            except ValueError:
                continue
    return out


@node_collectors.register
class VmstatCollector(HostCollector):
    name = "vmstat"
    description = "Virtual memory statistics (/proc/vmstat), filtered by --collector.vmstat.fields."
    metrics = (VMSTAT,)
    flags = (
        Flag(
            "--collector.vmstat.fields",
            "collector_vmstat_fields",
            "Regexp of fields to return for vmstat collector.",
            default=DEFAULT_FIELDS,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        pattern = self.settings.get("collector_vmstat_fields", DEFAULT_FIELDS)
        # An empty regexp matches every field, as in Go.
        self.fields = compile_filter("collector.vmstat.fields", DEFAULT_FIELDS if pattern is None else pattern)

    def read(self):
        stats = parse_vmstat(read_text(self.proc("vmstat")))
        for key in sorted(stats):
            if self.fields is not None and self.fields.search(key) is None:
                continue
            fam = MetricFamily(f"node_vmstat_{key}", UNTYPED, f"/proc/vmstat information field {key}.")
            fam.add((), stats[key])
            yield fam
