"""hwmon: temperature, fan, voltage, current, power and energy sensors from <sysfs>/class/hwmon (lm-sensors' source).

Each ``hwmonN`` directory (and its ``device/``) holds files ``<type><n>_<element>``: ``temp1_input``,
``fan2_min``, ``in0_alarm``. As node_exporter does, every numeric file becomes a gauge named after its
type and element with the unit the type implies (``temp1_crit`` -> ``node_hwmon_temp_crit_celsius``,
millidegrees to degrees), labelled by chip and sensor. The chip label is built from the device path
(``platform_coretemp_0``), else the ``name`` file, else the directory name, so it stays stable when
the kernel numbers the hwmon directories differently after a reboot.

A file that is not a number is left out (logged once), as in node_exporter; a chip whose directory
cannot be read fails the collector, and the other chips are still served. Two directories that resolve
to the same chip and sensor (one device, several hwmon directories) keep the first one's value in
directory order, as node_exporter's registry does.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Callable

from ..core.collector import Flag, NoData, PartialFailure
from ..core.metrics import COUNTER, GAUGE, MetricFamily, counter, gauge
from .registry import HostCollector, node_collectors
from .sysfs_values import IncludeExclude, WarnOnce, go_float, sys_read

log = logging.getLogger("exporters.node.hwmon")

SENSOR_TYPES = frozenset(
    {
        "vrm",
        "beep_enable",
        "update_interval",
        "in",
        "cpu",
        "fan",
        "pwm",
        "temp",
        "curr",
        "power",
        "energy",
        "humidity",
        "intrusion",
        "freq",
    }
)
_FILENAME = re.compile(r"(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?")
_INVALID = re.compile(r"[^a-z0-9:_]")
LABELS = ("chip", "sensor")

CHIP_NAMES = gauge("node_hwmon_chip_names", "Annotation metric for human-readable chip names", "chip", "chip_name")
SENSOR_LABEL = gauge("node_hwmon_sensor_label", "Label for given chip and sensor", "chip", "sensor", "label")
BEEP_ENABLED = gauge("node_hwmon_beep_enabled", "Hardware beep enabled", *LABELS)
VRM = gauge("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", *LABELS)
UPDATE_INTERVAL = gauge("node_hwmon_update_interval_seconds", "Hardware monitor update interval", *LABELS)


def _milli(v: float) -> float:
    return v * 0.001


def _micro(v: float) -> float:
    return v / 1000000.0


def _same(v: float) -> float:
    return v


@dataclass(frozen=True)
class Rule:
    """How one (sensor type, element) becomes a metric: the name suffix, the help text and the unit conversion.
    ``elements`` None means any element; the first rule that applies wins, as in node_exporter."""

    types: frozenset | None
    elements: frozenset | None
    suffix: str
    help: str  # {type} and {element} are filled in
    scale: Callable[[float], float] = _same
    type: str = GAUGE


def _rule(types, elements, suffix, help, scale=_same, typ=GAUGE) -> Rule:
    return Rule(
        frozenset(types) if types else None,
        frozenset(elements) if elements is not None else None,
        suffix,
        help,
        scale,
        typ,
    )


RULES = (
    _rule(None, {"fault", "alarm"}, "", "Hardware sensor {element} status ({type})"),
    _rule(None, {"beep"}, "_enabled", "Hardware monitor sensor has beeping enabled"),
    _rule({"in", "cpu"}, None, "_volts", "Hardware monitor for voltage ({element})", _milli),
    _rule({"temp"}, None, "_celsius", "Hardware monitor for temperature ({element})", _milli),
    _rule({"curr"}, None, "_amps", "Hardware monitor for current ({element})", _milli),
    _rule({"energy"}, None, "_joule_total", "Hardware monitor for joules used so far ({element})", _micro, COUNTER),
    _rule({"power"}, {"accuracy"}, "", "Hardware monitor power meter accuracy, as a ratio", _micro),
    _rule(
        {"power"},
        {"average_interval", "average_interval_min", "average_interval_max"},
        "_seconds",
        "Hardware monitor power usage update interval ({element})",
        _milli,
    ),
    _rule({"power"}, None, "_watt", "Hardware monitor for power usage in watts ({element})", _micro),
    _rule(
        {"humidity"},
        None,
        "",
        "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) "
        "({element})",
        _micro,
    ),
    _rule(
        {"fan"},
        {"input", "min", "max", "target"},
        "_rpm",
        "Hardware monitor for fan revolutions per minute ({element})",
    ),
)
FALLBACK = _rule(None, None, "", "Hardware monitor {type} element {element}")
FREQ_MHZ_SUFFIX, FREQ_MHZ_HELP = "_freq_mhz", "Hardware monitor for GPU frequency in MHz"

# For the generated metric reference: the names come from the sensor files.
DOC_METRICS = (
    CHIP_NAMES,
    SENSOR_LABEL,
    BEEP_ENABLED,
    VRM,
    UPDATE_INTERVAL,
    gauge(
        "node_hwmon_temp_<element>_celsius",
        "Hardware monitor for temperature (<element>): temp*_input, _max, _crit",
        *LABELS,
    ),
    gauge("node_hwmon_fan_<element>_rpm", "Hardware monitor for fan revolutions per minute (<element>)", *LABELS),
    gauge("node_hwmon_in_<element>_volts", "Hardware monitor for voltage (<element>)", *LABELS),
    gauge("node_hwmon_curr_<element>_amps", "Hardware monitor for current (<element>)", *LABELS),
    gauge("node_hwmon_power_<element>_watt", "Hardware monitor for power usage in watts (<element>)", *LABELS),
    counter("node_hwmon_energy_<element>_joule_total", "Hardware monitor for joules used so far (<element>)", *LABELS),
    gauge("node_hwmon_humidity_<element>", "Hardware monitor for humidity, as a ratio (<element>)", *LABELS),
    gauge("node_hwmon_freq_freq_mhz", FREQ_MHZ_HELP, *LABELS),
    gauge("node_hwmon_<type>_alarm", "Hardware sensor alarm status (<type>); also _fault", *LABELS),
    gauge("node_hwmon_<type>_<element>", "Hardware monitor <type> element <element> (pwm, intrusion, ...)", *LABELS),
)


def clean_name(name: str) -> str:
    """node_exporter's cleanMetricName: lower case, other characters than [a-z0-9:_] to _, no _ at the ends."""
    return _INVALID.sub("_", name.lower()).strip("_")


def split_sensor_file(filename: str) -> tuple[str, int, str] | None:
    """``temp1_crit_alarm`` -> ("temp", 1, "crit_alarm"); ``beep_enable`` -> ("beep_enable", 0, "")."""
    m = _FILENAME.fullmatch(filename)
    if m is None:
        return None
    return m.group("type"), int(m.group("id") or 0), m.group("property") or ""


def chip_name(hwmon_dir: str) -> str:
    """The chip label: ``<bus>_<device>`` of the device link, else the name file, else the directory name."""
    try:
        device = os.path.realpath(os.path.join(hwmon_dir, "device"), strict=True)
    except OSError:
        device = None
    if device is not None:
        prefix, dev_name = os.path.split(device)
        dev_type = clean_name(os.path.basename(prefix.rstrip("/")))
        dev_name = clean_name(dev_name)
        if dev_type and dev_name:
            return f"{dev_type}_{dev_name}"
        if dev_name:
            return dev_name
    try:
        with open(os.path.join(hwmon_dir, "name"), "rb") as f:
            name = clean_name(f.read().decode("utf-8", errors="replace"))
        if name:
            return name
    except OSError:
        pass
    name = clean_name(os.path.basename(os.path.realpath(hwmon_dir, strict=True)))
    if not name:
        raise ValueError(f"cannot derive a chip name for {hwmon_dir}")
    return name


def human_chip_name(hwmon_dir: str) -> str | None:
    try:
        with open(os.path.join(hwmon_dir, "name"), "rb") as f:
            return clean_name(f.read().decode("utf-8", errors="replace")) or None
    except OSError:
        return None


def read_sensor_files(directory: str, data: dict[str, dict[str, str]]) -> None:
    """Add ``{sensor: {element: text}}`` for every sensor file of ``directory`` (unreadable files are left out)."""
    for entry in sorted(os.listdir(directory)):
        parts = split_sensor_file(entry)
        if parts is None or parts[0] not in SENSOR_TYPES:
            continue
        sensor_type, number, element = parts
        try:
            text = sys_read(os.path.join(directory, entry))
        except OSError:
            continue  # a directory, a write-only attribute, a driver that answers EAGAIN or EIO
        data.setdefault(f"{sensor_type}{number}", {})[element] = text


def rule_for(sensor_type: str, element: str) -> Rule:
    for rule in RULES:
        if rule.types is not None and sensor_type not in rule.types:
            continue
        if rule.elements is not None and element not in rule.elements:
            continue
        if sensor_type == "temp" and element == "type":
            continue  # temp*_type is a code, not a temperature
        return rule
    return FALLBACK


class Families:
    """Families by name, built as samples arrive. A sample whose help or type contradicts the first one of its
    name, or whose chip and sensor were already served, is dropped (logged once), as node_exporter's registry
    drops it: several hwmon directories of one device give the same chip label."""

    def __init__(self, warn) -> None:
        self.by_name: dict[str, MetricFamily] = {}
        self.seen: set = set()
        self.warn = warn

    def add(self, name: str, typ: str, help: str, labelnames: tuple, labelvalues: tuple, value: float) -> None:
        fam = self.by_name.get(name)
        if fam is None:
            fam = self.by_name[name] = MetricFamily(name, typ, help, labelnames)
        elif fam.type != typ or fam.help != help or fam.labelnames != labelnames:
            self.warn(f"hwmon: {name}{dict(zip(labelnames, labelvalues))} conflicts with an earlier {name}; left out")
            return
        key = (name, labelvalues)
        if key in self.seen:
            self.warn(
                f"hwmon: {name}{dict(zip(labelnames, labelvalues))} was already collected from another "
                "hwmon directory of the same device; the first is kept"
            )
            return
        self.seen.add(key)
        fam.add(labelvalues, value)


@node_collectors.register
class HwmonCollector(HostCollector):
    name = "hwmon"
    description = "Hardware sensors (/sys/class/hwmon): temperatures, fans, voltages, power."
    metrics = DOC_METRICS
    flags = (
        Flag(
            "--collector.hwmon.chip-include",
            "collector_hwmon_chip_include",
            "Regexp of hwmon chip to include (mutually exclusive to device-exclude).",
        ),
        Flag(
            "--collector.hwmon.chip-exclude",
            "collector_hwmon_chip_exclude",
            "Regexp of hwmon chip to exclude (mutually exclusive to device-include).",
        ),
        Flag(
            "--collector.hwmon.sensor-include",
            "collector_hwmon_sensor_include",
            "Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude); matched against "
            "'<chip>;<sensor>', e.g. 'platform_coretemp_0;temp3'.",
        ),
        Flag(
            "--collector.hwmon.sensor-exclude",
            "collector_hwmon_sensor_exclude",
            "Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include); matched against "
            "'<chip>;<sensor>'.",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        get = self.settings.get
        self.chips = IncludeExclude(
            "collector.hwmon.chip", get("collector_hwmon_chip_include"), get("collector_hwmon_chip_exclude")
        )
        self.sensors = IncludeExclude(
            "collector.hwmon.sensor", get("collector_hwmon_sensor_include"), get("collector_hwmon_sensor_exclude")
        )
        self.warn = WarnOnce(log)
        # chip label by (class/hwmon entry, its link target): resolving the device path costs a dozen
        # syscalls per chip; a hwmon directory that reappears elsewhere (module reload) has a new target
        self.chip_names: dict[tuple[str, str], str] = {}

    def read(self):
        base = self.sys("class", "hwmon")
        try:
            entries = sorted(os.listdir(base))
        except FileNotFoundError:
            raise NoData(f"{base} does not exist: no hardware monitoring on this system") from None
        out = Families(self.warn)
        errors = []
        for entry in entries:
            path = os.path.join(base, entry)
            if not os.path.isdir(path):
                continue
            try:
                self.read_chip(path, out)
            except (OSError, ValueError) as exc:
                errors.append(f"{path}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}")
        families = list(out.by_name.values())
        if errors:
            raise PartialFailure(f"hwmon: {len(errors)} chip(s) unreadable: {errors[0]}", families)
        return families

    def chip_name(self, path: str) -> str:
        try:
            key = (path, os.readlink(path))
        except OSError:  # a plain directory, not a link: resolve every time
            return chip_name(path)
        chip = self.chip_names.get(key)
        if chip is None:
            if len(self.chip_names) >= 1000:
                self.chip_names.clear()
            chip = self.chip_names[key] = chip_name(path)
        return chip

    def read_chip(self, path: str, out: Families) -> None:
        chip = self.chip_name(path)
        if self.chips.ignored(chip):
            return
        data: dict[str, dict[str, str]] = {}
        read_sensor_files(path, data)
        device = os.path.join(path, "device")
        if os.path.exists(device):
            read_sensor_files(device, data)
        human = human_chip_name(path)
        if human is not None:
            out.add(CHIP_NAMES.name, GAUGE, CHIP_NAMES.help, CHIP_NAMES.labels, (chip, human), 1)
        for sensor in sorted(data):
            if self.sensors.ignored(f"{chip};{sensor}"):
                continue
            self.sensor_samples(path, chip, sensor, data[sensor], out)

    def sensor_samples(self, path: str, chip: str, sensor: str, elements: dict[str, str], out: Families) -> None:
        sensor_type = split_sensor_file(sensor)[0]
        labels = (chip, sensor)
        if "label" in elements:
            out.add(
                SENSOR_LABEL.name, GAUGE, SENSOR_LABEL.help, SENSOR_LABEL.labels, (chip, sensor, elements["label"]), 1
            )
        whole = elements.get("")
        if sensor_type == "beep_enable":
            out.add(BEEP_ENABLED.name, GAUGE, BEEP_ENABLED.help, LABELS, labels, 1 if whole == "1" else 0)
            return
        if sensor_type in ("vrm", "update_interval"):
            value = go_float(whole) if whole is not None else None
            if value is None:
                if whole:
                    self.warn(f"hwmon: {path} {sensor}: not a number: {whole[:40]!r}")
            elif sensor_type == "vrm":
                out.add(VRM.name, GAUGE, VRM.help, LABELS, labels, value)
            else:
                out.add(UPDATE_INTERVAL.name, GAUGE, UPDATE_INTERVAL.help, LABELS, labels, value * 0.001)
            return
        prefix = "node_hwmon_" + sensor_type
        for element in sorted(elements):
            if element == "label":
                continue
            text = elements[element]
            name = prefix
            if element == "input":
                if "" in elements:
                    name += "_input"
            elif element:
                name += "_" + clean_name(element)
            value = go_float(text)
            if value is None:
                if text:  # an empty attribute (fan1_safe) is common and means "no value"
                    self.warn(f"hwmon: {path} {sensor}_{element}: not a number: {text[:40]!r}")
                continue
            if sensor_type == "freq" and element == "input":
                if "label" in elements:
                    out.add(
                        name + FREQ_MHZ_SUFFIX,
                        GAUGE,
                        FREQ_MHZ_HELP,
                        LABELS,
                        (chip, clean_name(elements["label"])),
                        value / 1000000.0,
                    )
                continue
            rule = rule_for(sensor_type, element)
            shown = "input" if (rule.suffix == "_celsius" and element == "") else element
            out.add(
                name + rule.suffix,
                rule.type,
                rule.help.format(type=sensor_type, element=shown),
                LABELS,
                labels,
                rule.scale(value),
            )
