"""edac: memory error counters of the EDAC memory controllers (<sysfs>/devices/system/edac/mc/mcN).

Correctable (ECC-fixed) and uncorrectable errors per controller and per chip-select row (``csrowN``); the
errors the driver could not attribute to a row are counted under ``csrow="unknown"`` (``*_noinfo_count``), as
node_exporter does. A controller whose counters cannot be read fails the collector (naming the file); the
controllers before it are still served.
"""

from __future__ import annotations

import glob
import os
import re

from ..core.collector import PartialFailure
from ..core.metrics import counter
from .registry import HostCollector, node_collectors
from .sysfs_values import read_uint

CORRECTABLE = counter("node_edac_correctable_errors_total", "Total correctable memory errors.", "controller")
UNCORRECTABLE = counter("node_edac_uncorrectable_errors_total", "Total uncorrectable memory errors.", "controller")
CSROW_CORRECTABLE = counter(
    "node_edac_csrow_correctable_errors_total", "Total correctable memory errors for this csrow.", "controller", "csrow"
)
CSROW_UNCORRECTABLE = counter(
    "node_edac_csrow_uncorrectable_errors_total",
    "Total uncorrectable memory errors for this csrow.",
    "controller",
    "csrow",
)


def numbered(directory: str, prefix: str) -> list[tuple[str, str]]:
    """[(number, path)] of ``<prefix>N`` entries, in Go's Glob order (by name)."""
    paths = sorted(glob.glob(os.path.join(glob.escape(directory), prefix + "[0-9]*")))
    return [(re.match(r"[0-9]*", os.path.basename(p)[len(prefix) :]).group(), p) for p in paths]


@node_collectors.register
class EdacCollector(HostCollector):
    name = "edac"
    description = "Correctable and uncorrectable memory (ECC) errors per controller and row (EDAC, sysfs)."
    metrics = (CORRECTABLE, UNCORRECTABLE, CSROW_CORRECTABLE, CSROW_UNCORRECTABLE)

    def read(self):
        ce, ue, row_ce, row_ue = (d.family() for d in self.metrics)
        families = [ce, ue, row_ce, row_ue]
        try:
            for mc, path in numbered(self.sys("devices", "system", "edac", "mc"), "mc"):
                ce.add((mc,), read_uint(os.path.join(path, "ce_count")))
                row_ce.add((mc, "unknown"), read_uint(os.path.join(path, "ce_noinfo_count")))
                ue.add((mc,), read_uint(os.path.join(path, "ue_count")))
                row_ue.add((mc, "unknown"), read_uint(os.path.join(path, "ue_noinfo_count")))
                for row, row_path in numbered(path, "csrow"):
                    row_ce.add((mc, row), read_uint(os.path.join(row_path, "ce_count")))
                    row_ue.add((mc, row), read_uint(os.path.join(row_path, "ue_count")))
        except (OSError, ValueError) as exc:
            message = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
            raise PartialFailure(f"edac: {message}", families) from None
        return families
