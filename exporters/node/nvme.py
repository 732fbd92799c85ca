"""nvme: NVMe controllers from <sysfs>/class/nvme, as node_exporter 1.9 reports them.

One info series per controller with its firmware revision, model, serial and
state (``live``, ``resetting``, ``dead``...). A controller whose attributes
cannot be read is left out (the others are served, success 0); no class/nvme
is "no data".
"""

from __future__ import annotations

import os

from ..core.collector import NoData, PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import sys_read

INFO = gauge(
    "node_nvme_info",
    "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
    "device",
    "firmware_revision",
    "model",
    "serial",
    "state",
)
ATTRIBUTES = ("firmware_rev", "model", "serial", "state")


@node_collectors.register
class NVMeCollector(HostCollector):
    name = "nvme"
    description = "NVMe controllers: model, serial, firmware and state (<sysfs>/class/nvme)."
    metrics = (INFO,)

    def read(self):
        base = self.sys("class", "nvme")
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError as exc:
            raise NoData(f"{base} does not exist (no NVMe controllers)") from exc
        fam = INFO.family()
        errors = []
        for name in names:
            try:
                values = [sys_read(os.path.join(base, name, attr)) for attr in ATTRIBUTES]
            except OSError as exc:
                errors.append(f"nvme {name}: {exc.strerror or exc}: {exc.filename}")
                continue
            fam.add((name, *values), 1)
        if errors:
            raise PartialFailure("; ".join(errors), (fam,))
        yield fam
