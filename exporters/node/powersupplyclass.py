"""powersupplyclass: batteries, AC adapters and UPSes from <sysfs>/class/power_supply/<supply>/.

Every numeric attribute node_exporter knows becomes ``node_power_supply_<name>{power_supply}`` in base
units (the kernel writes µA, µV, µW, µWh and tenths of a degree), and the text attributes become the labels
of ``node_power_supply_info``, each only when the supply has it (so the label set differs between an AC
adapter and a battery, as in node_exporter).

An attribute the driver cannot answer now (ENODEV while a battery is absent, EOPNOTSUPP, EINVAL) is left
out. A numeric attribute that is not a number leaves that supply out, and the collector reports the failure
while the other supplies are still served.
"""

from __future__ import annotations

import errno
import os
import re

from ..core.collector import Flag, NoData, PartialFailure
from ..core.metrics import MetricFamily, gauge
from .registry import HostCollector, compile_filter, node_collectors
from .sysfs_values import go_int, sys_read


def _raw(v: int) -> float:
    return float(v)


def _micro(v: int) -> float:
    return v / 1e6


def _tenths(v: int) -> float:
    return v / 10.0


# (sysfs attribute, metric name suffix, conversion), in node_exporter's groups: plain numbers, micro-units
# (µA, µV, µW, µWh, µAh) to base units, tenths of a degree Celsius to degrees.
VALUES = (
    ("authentic", "authentic", _raw),
    ("calibrate", "calibrate", _raw),
    ("capacity", "capacity", _raw),
    ("capacity_alert_max", "capacity_alert_max", _raw),
    ("capacity_alert_min", "capacity_alert_min", _raw),
    ("cycle_count", "cyclecount", _raw),
    ("online", "online", _raw),
    ("present", "present", _raw),
    ("time_to_empty_now", "time_to_empty_seconds", _raw),
    ("time_to_full_now", "time_to_full_seconds", _raw),
    ("current_boot", "current_boot", _micro),
    ("current_max", "current_max", _micro),
    ("current_now", "current_ampere", _micro),
    ("energy_empty", "energy_empty", _micro),
    ("energy_empty_design", "energy_empty_design", _micro),
    ("energy_full", "energy_full", _micro),
    ("energy_full_design", "energy_full_design", _micro),
    ("energy_now", "energy_watthour", _micro),
    ("voltage_boot", "voltage_boot", _micro),
    ("voltage_max", "voltage_max", _micro),
    ("voltage_max_design", "voltage_max_design", _micro),
    ("voltage_min", "voltage_min", _micro),
    ("voltage_min_design", "voltage_min_design", _micro),
    ("voltage_now", "voltage_volt", _micro),
    ("voltage_ocv", "voltage_ocv", _micro),
    ("charge_control_limit", "charge_control_limit", _micro),
    ("charge_control_limit_max", "charge_control_limit_max", _micro),
    ("charge_counter", "charge_counter", _micro),
    ("charge_empty", "charge_empty", _micro),
    ("charge_empty_design", "charge_empty_design", _micro),
    ("charge_full", "charge_full", _micro),
    ("charge_full_design", "charge_full_design", _micro),
    ("charge_now", "charge_ampere", _micro),
    ("charge_term_current", "charge_term_current", _micro),
    ("constant_charge_current", "constant_charge_current", _micro),
    ("constant_charge_current_max", "constant_charge_current_max", _micro),
    ("constant_charge_voltage", "constant_charge_voltage", _micro),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", _micro),
    ("precharge_current", "precharge_current", _micro),
    ("input_current_limit", "input_current_limit", _micro),
    ("power_now", "power_watt", _micro),
    ("temp", "temp_celsius", _tenths),
    ("temp_alert_max", "temp_alert_max_celsius", _tenths),
    ("temp_alert_min", "temp_alert_min_celsius", _tenths),
    ("temp_ambient", "temp_ambient_celsius", _tenths),
    ("temp_ambient_max", "temp_ambient_max_celsius", _tenths),
    ("temp_ambient_min", "temp_ambient_min_celsius", _tenths),
    ("temp_max", "temp_max_celsius", _tenths),
    ("temp_min", "temp_min_celsius", _tenths),
)
# Numeric attributes node_exporter parses without exporting them: a bad one fails the supply there too.
PARSED_ONLY = (
    "charge_avg",
    "current_avg",
    "energy_avg",
    "power_avg",
    "time_to_empty_avg",
    "time_to_full_avg",
    "voltage_avg",
)
# Text attributes -> node_power_supply_info label (besides power_supply, the directory name).
INFO_ATTRIBUTES = (
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
)

VALUE_DEFS = {
    attr: gauge(
        f"node_power_supply_{suffix}", f"{suffix} value of /sys/class/power_supply/<power_supply>.", "power_supply"
    )
    for attr, suffix, _ in VALUES
}
INFO = gauge(
    "node_power_supply_info", "info of /sys/class/power_supply/<power_supply>.", "power_supply", *INFO_ATTRIBUTES
)
NUMERIC = {attr: scale for attr, _, scale in VALUES}
SKIP_ERRNOS = (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV, errno.EINVAL)


def read_supply(path: str) -> tuple[dict[str, int], dict[str, str]]:
    """({numeric attribute: value}, {text attribute: text}) of one supply; ValueError naming a bad file."""
    numbers: dict[str, int] = {}
    texts: dict[str, str] = {}
    with os.scandir(path) as entries:
        names = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
    for name in names:
        if name not in NUMERIC and name not in INFO_ATTRIBUTES and name not in PARSED_ONLY:
            continue
        file = os.path.join(path, name)
        try:
            text = sys_read(file)
        except OSError as exc:
            if exc.errno in SKIP_ERRNOS:
                continue
            raise ValueError(f"{file}: {exc.strerror or exc}") from None
        if name in INFO_ATTRIBUTES:
            texts[name] = text
            continue
        value = go_int(text, 0)
        if value is None:
            raise ValueError(f"{file}: not an integer: {text[:40]!r}")
        numbers[name] = value
    return numbers, texts


@node_collectors.register
class PowerSupplyClassCollector(HostCollector):
    name = "powersupplyclass"
    description = "Batteries and power supplies (/sys/class/power_supply): charge, voltage, power, status."
    metrics = tuple(VALUE_DEFS.values()) + (INFO,)
    flags = (
        Flag(
            "--collector.powersupply.ignored-supplies",
            "collector_powersupply_ignored_supplies",
            "Regexp of power supplies to ignore for powersupplyclass collector.",
            default="^$",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        pattern = self.settings.get("collector_powersupply_ignored_supplies", "^$")
        # Go's empty regexp matches every name; compile_filter returns None for "", so compile it here
        self.ignored = compile_filter(
            "collector.powersupply.ignored-supplies", "^$" if pattern is None else pattern
        ) or re.compile("")

    def read(self):
        base = self.sys("class", "power_supply")
        try:
            supplies = sorted(os.listdir(base))
        except FileNotFoundError:
            raise NoData(f"{base} does not exist: no power supply class on this system") from None
        families = {attr: d.family() for attr, d in VALUE_DEFS.items()}
        info = MetricFamily(INFO.name, INFO.type, INFO.help, INFO.labels)
        errors = []
        for supply in supplies:
            if self.ignored.search(supply):
                continue
            try:
                numbers, texts = read_supply(os.path.join(base, supply))
            except (OSError, ValueError) as exc:
                errors.append(str(exc))
                continue
            for attr, value in numbers.items():
                if attr in families:
                    families[attr].add((supply,), NUMERIC[attr](value))
            labels = {"power_supply": supply, **{k: v for k, v in texts.items() if v}}
            info.add_labeled(sorted(labels.items()), 1)
        out = [*families.values(), info]
        if errors:
            raise PartialFailure(f"powersupplyclass: {errors[0]}", out)
        return out
