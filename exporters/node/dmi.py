"""dmi: the machine's vendor, model, BIOS and serial numbers from <sysfs>/class/dmi/id, as one info series.

The labels are the DMI fields the firmware provides; the serials and the product UUID are readable by root
only, so without root their labels are absent (as in node_exporter). DMI does not change while the machine
runs, so the files are read once, at the first scrape that finds them.
"""

from __future__ import annotations

import os

from ..core.collector import NoData
from ..core.metrics import MetricFamily, gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import sys_read

# sysfs file -> label, for the fields node_exporter serves (chassis_type is not one of them).
FIELDS = {
    "bios_date": "bios_date",
    "bios_release": "bios_release",
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "board_asset_tag": "board_asset_tag",
    "board_name": "board_name",
    "board_serial": "board_serial",
    "board_vendor": "board_vendor",
    "board_version": "board_version",
    "chassis_asset_tag": "chassis_asset_tag",
    "chassis_serial": "chassis_serial",
    "chassis_vendor": "chassis_vendor",
    "chassis_version": "chassis_version",
    "product_family": "product_family",
    "product_name": "product_name",
    "product_serial": "product_serial",
    "product_sku": "product_sku",
    "product_uuid": "product_uuid",
    "product_version": "product_version",
    "sys_vendor": "system_vendor",
}
INFO = gauge(
    "node_dmi_info",
    "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, "
    "board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, "
    "chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, "
    "product_sku, product_uuid, product_version, system_vendor if provided by DMI.",
    *sorted(FIELDS.values()),
)


def read_dmi(directory: str) -> dict[str, str]:
    """{label: value} of the regular DMI files of ``directory`` that can be read."""
    labels = {}
    with os.scandir(directory) as entries:
        names = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
    for name in names:
        if name not in FIELDS:
            continue
        try:
            labels[FIELDS[name]] = sys_read(os.path.join(directory, name))
        except PermissionError:
            continue  # serials and the UUID: root only
    return labels


@node_collectors.register
class DMICollector(HostCollector):
    name = "dmi"
    description = "Machine vendor, model, BIOS and serials (/sys/class/dmi/id), as node_dmi_info."
    metrics = (INFO,)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.labels: dict[str, str] | None = None

    def read(self):
        if self.labels is None:
            directory = self.sys("class", "dmi", "id")
            try:
                self.labels = read_dmi(directory)
            except FileNotFoundError:
                raise NoData(f"{directory} does not exist: no DMI information on this platform") from None
        if not self.labels:
            raise NoData("no DMI fields could be read")
        fam = MetricFamily(INFO.name, INFO.type, INFO.help, INFO.labels)
        fam.add_labeled(sorted(self.labels.items()), 1)
        return [fam]
