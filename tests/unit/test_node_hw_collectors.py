"""Unit tests of the hardware collectors (hwmon, thermal_zone, cpufreq, the cpu collector's sysfs series,
powersupplyclass, rapl, dmi, edac, watchdog, nfs, nfsd) against fake sysfs/procfs trees, above all with bad
input: a truncated or non-numeric file, a hwmon chip with no name, an unreadable chip. Only that value or
that device is affected, and the collector says which file was wrong. The good values match what
node_exporter 1.9 reads from its own fixtures (the integration test compares every sample)."""

from __future__ import annotations

import logging
import os

import pytest

from node_tree import run as _run
from node_tree import samples, settings, tree, write

from exporters.core.collector import NoData, PartialFailure
from exporters.node.cpu import CPUCollector
from exporters.node.cpufreq import CPUFreqCollector, parse_cpu_list
from exporters.node.dmi import DMICollector
from exporters.node.edac import EdacCollector
from exporters.node.hwmon import HwmonCollector, clean_name, split_sensor_file
from exporters.node.nfs import NFSCollector
from exporters.node.nfsd import NFSdCollector
from exporters.node.powersupplyclass import PowerSupplyClassCollector
from exporters.node.rapl import RaplCollector, sanitize
from exporters.node.sysfs_values import go_float, go_int, go_uint, valid_utf8
from exporters.node.thermal_zone import ThermalZoneCollector
from exporters.node.watchdog import WatchdogCollector


def run(collector) -> dict:
    return _run(collector, declared=not isinstance(collector, (HwmonCollector, RaplCollector)))


def partial(collector) -> tuple[str, dict]:
    """Read once expecting a partial failure: (its message, {family: {labels: value}} of what was still served)."""
    with pytest.raises(PartialFailure) as info:
        collector.read_guarded()
    return str(info.value), {f.name: samples(f) for f in info.value.families if f.samples}


def files(base, mapping: dict) -> None:
    for name, text in mapping.items():
        write(base / name, text)


# --------------------------------------------------------------------------- Go number parsing


def test_numbers_are_parsed_as_go_parses_them():
    assert go_int("-12") == -12 and go_int(" 12") is None and go_int("1_0") is None and go_int("") is None
    assert go_int("0x1f", 0) == 31 and go_int("017", 0) == 15 and go_int("1_000", 0) == 1000
    assert go_int("9223372036854775808") is None
    assert go_uint("-1") is None and go_uint("18446744073709551615") == 2**64 - 1
    assert go_float("1e3") == 1000.0 and go_float("0x1p3") == 8.0 and go_float("1e400") is None
    assert go_float("12,5") is None and go_float("") is None and go_float("١") is None


def test_invalid_utf8_runs_become_one_replacement_character():
    assert valid_utf8(b"LNV\xff\xfe-45") == "LNV\ufffd-45"
    assert valid_utf8("Gerät".encode()) == "Gerät"


# --------------------------------------------------------------------------- hwmon


def hwmon_chip(roots, name: str, device: str | None, chip_name: str | None, values: dict) -> None:
    """class/hwmon/<name> as a link to devices/<device>/hwmon/<name> (or a plain directory without device)."""
    sys = roots["sys"]
    if device is None:
        target = sys / "class" / "hwmon" / name
    else:
        target = sys / "devices" / "platform" / device / "hwmon" / name
        (sys / "class" / "hwmon").mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target, sys / "class" / "hwmon"), sys / "class" / "hwmon" / name)
        target.mkdir(parents=True)
        os.symlink("../..", target / "device")
    files(target, values)
    if chip_name is not None:
        write(target / "name", chip_name + "\n")


def test_hwmon_names_units_and_labels(tmp_path):
    roots = tree(tmp_path)
    hwmon_chip(
        roots,
        "hwmon0",
        "coretemp.0",
        "coretemp",
        {
            "temp1_input": "55000\n",
            "temp1_crit": "100000\n",
            "temp1_crit_alarm": "0\n",
            "temp1_label": "Core 0\n",
            "fan1_input": "1200\n",
            "in0_input": "1176\n",
            "power1_average": "5002000\n",
            "energy1_input": "3000000\n",
        },
    )
    fams = run(HwmonCollector(settings(roots)))
    chip = 'chip="platform_coretemp_0"'
    assert samples(fams["node_hwmon_temp_celsius"]) == {f'{{{chip},sensor="temp1"}}': 55.0}
    assert samples(fams["node_hwmon_temp_crit_celsius"]) == {f'{{{chip},sensor="temp1"}}': 100.0}
    assert samples(fams["node_hwmon_fan_rpm"]) == {f'{{{chip},sensor="fan1"}}': 1200}
    assert samples(fams["node_hwmon_in_volts"]) == {f'{{{chip},sensor="in0"}}': 1.176}
    assert samples(fams["node_hwmon_power_average_watt"]) == {f'{{{chip},sensor="power1"}}': 5.002}
    assert fams["node_hwmon_energy_joule_total"].type == "counter"
    assert samples(fams["node_hwmon_sensor_label"]) == {f'{{{chip},sensor="temp1",label="Core 0"}}': 1}
    assert samples(fams["node_hwmon_chip_names"]) == {f'{{{chip},chip_name="coretemp"}}': 1}
    assert fams["node_hwmon_temp_celsius"].help == "Hardware monitor for temperature (input)"


def test_hwmon_file_names_and_chip_names_are_split_and_cleaned_as_node_exporter_does():
    assert split_sensor_file("temp1_crit_alarm") == ("temp", 1, "crit_alarm")
    assert split_sensor_file("beep_enable") == ("beep_enable", 0, "")
    assert split_sensor_file("pwm1") == ("pwm", 1, "")
    assert clean_name("applesmc.768\n") == "applesmc_768"
    assert clean_name("__Foo-Bar__") == "foo_bar"


def test_hwmon_chip_without_name_is_named_after_its_directory_and_the_others_are_served(tmp_path):
    roots = tree(tmp_path)
    hwmon_chip(roots, "hwmon0", "coretemp.0", "coretemp", {"temp1_input": "41000\n"})
    hwmon_chip(roots, "hwmon1", None, None, {"temp1_input": "42000\n"})  # no device link, no name file
    fams = run(HwmonCollector(settings(roots)))
    assert samples(fams["node_hwmon_temp_celsius"]) == {
        '{chip="platform_coretemp_0",sensor="temp1"}': 41.0,
        '{chip="hwmon1",sensor="temp1"}': 42.0,
    }
    assert list(samples(fams["node_hwmon_chip_names"])) == ['{chip="platform_coretemp_0",chip_name="coretemp"}']


def test_hwmon_non_numeric_or_truncated_value_leaves_out_that_value_only_and_logs_once(tmp_path, caplog):
    roots = tree(tmp_path)
    hwmon_chip(
        roots,
        "hwmon0",
        "nct6775.656",
        "nct6779",
        {
            "temp1_input": "4x000\n",
            "temp2_input": "",
            "temp3_input": "38000\n",
            "fan1_input": "1200\n",
        },
    )
    collector = HwmonCollector(settings(roots))
    with caplog.at_level(logging.WARNING, logger="exporters.node.hwmon"):
        fams = run(collector)
        run(collector)
    assert samples(fams["node_hwmon_temp_celsius"]) == {'{chip="platform_nct6775_656",sensor="temp3"}': 38.0}
    assert samples(fams["node_hwmon_fan_rpm"]) == {'{chip="platform_nct6775_656",sensor="fan1"}': 1200}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings  # the bad file, once over two scrapes; the empty one is not an error
    assert "temp1_input" in warnings[0] and "'4x000'" in warnings[0]


def test_hwmon_unreadable_chip_fails_the_collector_and_the_other_chips_are_served(tmp_path, monkeypatch):
    roots = tree(tmp_path)
    hwmon_chip(roots, "hwmon0", "coretemp.0", "coretemp", {"temp1_input": "41000\n"})
    hwmon_chip(roots, "hwmon1", "it87.2608", "it8728", {"temp1_input": "42000\n"})
    broken = os.path.join(str(roots["sys"]), "class", "hwmon", "hwmon1")
    real_listdir = os.listdir

    def listdir(path="."):
        if str(path) == broken:
            raise OSError(5, "Input/output error", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    message, served = partial(HwmonCollector(settings(roots)))
    assert "hwmon1" in message and "Input/output error" in message
    assert served["node_hwmon_temp_celsius"] == {'{chip="platform_coretemp_0",sensor="temp1"}': 41.0}


def test_hwmon_duplicate_chip_keeps_the_first_directory(tmp_path):
    roots = tree(tmp_path)
    hwmon_chip(roots, "hwmon10", "wifi", "mt_0", {"temp1_input": "56000\n"})
    target = roots["sys"] / "devices" / "platform" / "wifi" / "hwmon" / "hwmon8"
    target.mkdir(parents=True)
    os.symlink("../..", target / "device")
    write(target / "temp1_input", "55000\n")
    os.symlink(os.path.relpath(target, roots["sys"] / "class" / "hwmon"), roots["sys"] / "class" / "hwmon" / "hwmon8")
    fams = run(HwmonCollector(settings(roots)))
    assert samples(fams["node_hwmon_temp_celsius"]) == {'{chip="platform_wifi",sensor="temp1"}': 56.0}


def test_hwmon_chip_and_sensor_filters(tmp_path):
    roots = tree(tmp_path)
    hwmon_chip(roots, "hwmon0", "coretemp.0", "coretemp", {"temp1_input": "41000\n", "temp2_input": "43000\n"})
    hwmon_chip(roots, "hwmon1", "it87.2608", "it8728", {"temp1_input": "42000\n"})
    fams = run(
        HwmonCollector(
            settings(roots, collector_hwmon_chip_exclude="it87", collector_hwmon_sensor_exclude="coretemp_0;temp2")
        )
    )
    assert samples(fams["node_hwmon_temp_celsius"]) == {'{chip="platform_coretemp_0",sensor="temp1"}': 41.0}


def test_hwmon_without_class_hwmon_is_no_data(tmp_path):
    with pytest.raises(NoData):
        HwmonCollector(settings(tree(tmp_path))).read_guarded()


# --------------------------------------------------------------------------- thermal_zone


def thermal(roots, zones: dict, cooling: dict) -> None:
    base = roots["sys"] / "class" / "thermal"
    for name, (zone_type, temp) in zones.items():
        files(base / name, {"type": zone_type + "\n", "policy": "step_wise\n", "temp": temp})
    for name, (dev_type, cur, maximum) in cooling.items():
        files(base / name, {"type": dev_type + "\n", "cur_state": cur, "max_state": maximum})


def test_thermal_zone_collector(tmp_path):
    roots = tree(tmp_path)
    thermal(roots, {"thermal_zone0": ("cpu-thermal", "12376\n")}, {"cooling_device0": ("Processor", "-1\n", "3\n")})
    fams = run(ThermalZoneCollector(settings(roots)))
    assert samples(fams["node_thermal_zone_temp"]) == {'{zone="0",type="cpu-thermal"}': 12.376}
    assert samples(fams["node_cooling_device_cur_state"]) == {'{name="0",type="Processor"}': -1}
    assert samples(fams["node_cooling_device_max_state"]) == {'{name="0",type="Processor"}': 3}


def test_thermal_zone_non_numeric_temp_fails_that_zone_only(tmp_path):
    roots = tree(tmp_path)
    thermal(
        roots,
        {"thermal_zone0": ("acpitz", "4a000\n"), "thermal_zone1": ("x86_pkg_temp", "38000\n")},
        {"cooling_device0": ("Fan", "0\n", "1\n")},
    )
    message, served = partial(ThermalZoneCollector(settings(roots)))
    assert "thermal_zone0/temp" in message and "'4a000'" in message
    assert served["node_thermal_zone_temp"] == {'{zone="1",type="x86_pkg_temp"}': 38.0}
    assert served["node_cooling_device_max_state"] == {'{name="0",type="Fan"}': 1}


def test_thermal_zone_truncated_cooling_state_fails_that_device_only(tmp_path):
    roots = tree(tmp_path)
    thermal(
        roots,
        {"thermal_zone0": ("acpitz", "27800\n")},
        {"cooling_device0": ("Fan", "", "1\n"), "cooling_device1": ("Processor", "0\n", "3\n")},
    )
    message, served = partial(ThermalZoneCollector(settings(roots)))
    assert "cooling_device0" in message
    assert served["node_cooling_device_cur_state"] == {'{name="1",type="Processor"}': 0}
    assert served["node_thermal_zone_temp"] == {'{zone="0",type="acpitz"}': 27.8}


# --------------------------------------------------------------------------- cpufreq and the cpu collector's sysfs


def cpu_tree(roots, cpus: dict, offline: str = "\n", isolated: str | None = None) -> None:
    base = roots["sys"] / "devices" / "system" / "cpu"
    write(base / "offline", offline)
    if isolated is not None:
        write(base / "isolated", isolated)
    for name, freq in cpus.items():
        files(base / name / "cpufreq", freq)


FREQ = {
    "scaling_cur_freq": "1699981\n",
    "scaling_min_freq": "800000\n",
    "scaling_max_freq": "3700000\n",
    "scaling_governor": "powersave\n",
    "scaling_available_governors": "performance powersave\n",
}


def test_cpufreq_collector(tmp_path):
    roots = tree(tmp_path)
    cpu_tree(roots, {"cpu0": FREQ, "cpu1": FREQ, "cpu2": FREQ}, offline="2\n")
    fams = run(CPUFreqCollector(settings(roots)))
    assert samples(fams["node_cpu_scaling_frequency_hertz"]) == {'{cpu="0"}': 1699981000.0, '{cpu="1"}': 1699981000.0}
    assert samples(fams["node_cpu_scaling_governor"]) == {
        '{cpu="0",governor="performance"}': 0,
        '{cpu="0",governor="powersave"}': 1,
        '{cpu="1",governor="performance"}': 0,
        '{cpu="1",governor="powersave"}': 1,
    }
    assert not fams["node_cpu_frequency_hertz"].samples  # cpuinfo_cur_freq: root only, absent here


def test_cpufreq_non_numeric_frequency_fails_that_cpu_only(tmp_path):
    roots = tree(tmp_path)
    cpu_tree(roots, {"cpu0": FREQ, "cpu1": {**FREQ, "scaling_cur_freq": "fast\n"}})
    message, served = partial(CPUFreqCollector(settings(roots)))
    assert "cpu1/cpufreq/scaling_cur_freq" in message and "'fast'" in message
    assert served["node_cpu_scaling_frequency_hertz"] == {'{cpu="0"}': 1699981000.0}


def test_parse_cpu_list():
    assert parse_cpu_list("1,3-5,9\n") == [1, 3, 4, 5, 9]
    assert parse_cpu_list("\n") == []
    with pytest.raises(ValueError):
        parse_cpu_list("1-2-3")


def test_cpu_collector_serves_isolated_cpus_and_throttles(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    cpu_tree(roots, {}, isolated="1,3-4\n")
    base = roots["sys"] / "devices" / "system" / "cpu"
    for cpu, core, core_count, package_count in (("cpu0", 0, 5, 30), ("cpu1", 0, 5, 30), ("cpu2", 1, 0, 30)):
        files(
            base / cpu,
            {
                "topology/physical_package_id": "0\n",
                "topology/core_id": f"{core}\n",
                "thermal_throttle/core_throttle_count": f"{core_count}\n",
                "thermal_throttle/package_throttle_count": f"{package_count}\n",
            },
        )
    fams = run(CPUCollector(settings(roots)))
    assert samples(fams["node_cpu_isolated"]) == {'{cpu="1"}': 1, '{cpu="3"}': 1, '{cpu="4"}': 1}
    assert samples(fams["node_cpu_core_throttles_total"]) == {'{package="0",core="0"}': 5, '{package="0",core="1"}': 0}
    assert samples(fams["node_cpu_package_throttles_total"]) == {'{package="0"}': 30}
    assert "node_cpu_online" not in fams  # cpu0 has no online file


def test_cpu_collector_malformed_isolated_list_keeps_the_cpu_times(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    cpu_tree(roots, {}, isolated="1-x\n")
    message, served = partial(CPUCollector(settings(roots)))
    assert "isolated" in message and "'1-x'" in message
    assert len(served["node_cpu_seconds_total"]) == 8


# --------------------------------------------------------------------------- powersupplyclass


def test_power_supply_collector_and_a_bad_supply(tmp_path):
    roots = tree(tmp_path)
    base = roots["sys"] / "class" / "power_supply"
    files(base / "AC", {"online": "0\n", "type": "Mains\n"})
    files(
        base / "BAT0",
        {
            "capacity": "81\n",
            "energy_now": "36580000\n",
            "status": "Discharging\n",
            "type": "Battery\n",
            "model_name": "LNV-45N1\n",
            "voltage_now": "11660000\n",
        },
    )
    fams = run(PowerSupplyClassCollector(settings(roots)))
    assert samples(fams["node_power_supply_energy_watthour"]) == {'{power_supply="BAT0"}': 36.58}
    assert samples(fams["node_power_supply_info"]) == {
        '{power_supply="AC",type="Mains"}': 1,
        '{model_name="LNV-45N1",power_supply="BAT0",status="Discharging",type="Battery"}': 1,
    }

    write(base / "BAT0" / "capacity", "eighty\n")
    message, served = partial(PowerSupplyClassCollector(settings(roots)))
    assert "BAT0/capacity" in message and "'eighty'" in message
    assert served["node_power_supply_online"] == {'{power_supply="AC"}': 0}
    assert "node_power_supply_capacity" not in served

    ignored = run(PowerSupplyClassCollector(settings(roots, collector_powersupply_ignored_supplies="^BAT")))
    assert list(samples(ignored["node_power_supply_info"])) == ['{power_supply="AC",type="Mains"}']


# --------------------------------------------------------------------------- rapl, dmi, edac, watchdog


def test_rapl_collector_and_zone_label(tmp_path):
    roots = tree(tmp_path)
    base = roots["sys"] / "class" / "powercap"
    files(base / "intel-rapl:0", {"name": "package-0\n", "energy_uj": "240422366267\n", "max_energy_range_uj": "1\n"})
    files(base / "intel-rapl:0:0", {"name": "core\n", "energy_uj": "118821284256\n", "max_energy_range_uj": "1\n"})
    path = os.path.join(str(roots["sys"]), "class", "powercap")
    fams = run(RaplCollector(settings(roots)))
    assert samples(fams["node_rapl_package_joules_total"]) == {
        f'{{index="0",path="{path}/intel-rapl:0"}}': 240422.366267
    }
    assert samples(fams["node_rapl_core_joules_total"]) == {
        f'{{index="0",path="{path}/intel-rapl:0:0"}}': 118821.284256
    }
    labelled = run(RaplCollector(settings(roots, collector_rapl_enable_zone_label=True)))
    assert list(labelled) == ["node_rapl_joules_total"] and len(labelled["node_rapl_joules_total"].samples) == 2
    assert sanitize("psys-x y") == "psys_x_y"

    write(base / "intel-rapl:0:0" / "energy_uj", "12\x00")
    message, served = partial(RaplCollector(settings(roots)))
    assert "intel-rapl:0:0/energy_uj" in message and "node_rapl_package_joules_total" in served


def test_dmi_collector(tmp_path):
    roots = tree(tmp_path)
    with pytest.raises(NoData):
        DMICollector(settings(roots)).read_guarded()
    dmi = roots["sys"] / "class" / "dmi" / "id"
    files(dmi, {"bios_vendor": "Dell Inc.\n", "sys_vendor": "Dell Inc.\n", "modalias": "dmi:x\n"})
    (dmi / "product_version").write_bytes(b"\x80\x80[\x81\n")  # invalid UTF-8: one U+FFFD per run
    fams = run(DMICollector(settings(roots)))
    assert samples(fams["node_dmi_info"]) == {
        '{bios_vendor="Dell Inc.",product_version="\ufffd[\ufffd",system_vendor="Dell Inc."}': 1
    }


def test_edac_collector_and_a_bad_counter(tmp_path):
    roots = tree(tmp_path)
    mc = roots["sys"] / "devices" / "system" / "edac" / "mc" / "mc0"
    files(
        mc,
        {
            "ce_count": "1\n",
            "ce_noinfo_count": "2\n",
            "ue_count": "5\n",
            "ue_noinfo_count": "6\n",
            "csrow0/ce_count": "3\n",
            "csrow0/ue_count": "4\n",
        },
    )
    fams = run(EdacCollector(settings(roots)))
    assert samples(fams["node_edac_csrow_correctable_errors_total"]) == {
        '{controller="0",csrow="unknown"}': 2,
        '{controller="0",csrow="0"}': 3,
    }
    write(mc / "csrow0" / "ue_count", "")
    message, served = partial(EdacCollector(settings(roots)))
    assert "csrow0/ue_count" in message
    assert served["node_edac_correctable_errors_total"] == {'{controller="0"}': 1}


def test_watchdog_collector_and_a_bad_watchdog(tmp_path):
    roots = tree(tmp_path)
    base = roots["sys"] / "class" / "watchdog"
    files(
        base / "watchdog0",
        {"timeout": "60\n", "options": "0x8380\n", "identity": "Software Watchdog\n", "bootstatus": "0x1\n"},
    )
    (base / "watchdog1").mkdir()
    fams = run(WatchdogCollector(settings(roots)))
    assert samples(fams["node_watchdog_timeout_seconds"]) == {'{name="watchdog0"}': 60}
    assert samples(fams["node_watchdog_bootstatus"]) == {'{name="watchdog0"}': 1}
    assert (
        samples(fams["node_watchdog_info"])[
            '{name="watchdog1",options="",identity="",state="",status="",pretimeout_governor=""}'
        ]
        == 1
    )
    write(base / "watchdog1" / "timeleft", "soon\n")
    message, served = partial(WatchdogCollector(settings(roots)))
    assert "watchdog1/timeleft" in message
    assert served["node_watchdog_timeout_seconds"] == {'{name="watchdog0"}': 60}


# --------------------------------------------------------------------------- nfs, nfsd

NFS = """\
net 70 70 69 45
rpc 1218785755 374636 1218815394
proc2 18 16 57 74 52 71 73 45 86 0 52 83 61 17 53 50 23 70 82
proc3 22 0 1061909262 48906 4077635 117661341 5 29391916 2570425 2993289 590 0 0 7815 15 1130 0 3983 92385 13332 2 1 23729
proc4 3 98 51 54
"""


def test_nfs_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "net" / "rpc" / "nfs", NFS)
    fams = run(NFSCollector(settings(roots)))
    requests = samples(fams["node_nfs_requests_total"])
    assert requests['{proto="3",method="GetAttr"}'] == 1061909262
    assert requests['{proto="4",method="Write"}'] == 54 and requests['{proto="4",method="Clone"}'] == 0
    assert len(requests) == 18 + 22 + 59
    assert samples(fams["node_nfs_packets_total"]) == {'{protocol="udp"}': 70, '{protocol="tcp"}': 69}


@pytest.mark.parametrize(
    "bad, says",
    [
        ("rpc 1 2 x\n", "not a number"),
        ("proc3 23 1 2\n", "proc3"),
        ("net 1 2 3\n", "net"),
        ("frob 1\n", "frob"),
        ("rpc\n", "invalid"),
    ],
)
def test_nfs_malformed_line_fails_with_its_name(tmp_path, bad, says):
    roots = tree(tmp_path)
    write(roots["proc"] / "net" / "rpc" / "nfs", "net 70 70 69 45\n" + bad)
    with pytest.raises(ValueError, match=says):
        NFSCollector(settings(roots)).read_guarded()


def test_nfsd_collector(tmp_path):
    roots = tree(tmp_path)
    with pytest.raises(NoData):
        NFSdCollector(settings(roots)).read_guarded()
    write(
        roots["proc"] / "net" / "rpc" / "nfsd",
        "rc 0 6 18622\nth 8 0 0.000 0.000\nio 157286400 72864\n"
        "proc4ops 40 " + " ".join(str(i) for i in range(40)) + "\nwdeleg_getattr 15\n",
    )
    fams = run(NFSdCollector(settings(roots)))
    assert samples(fams["node_nfsd_server_threads"]) == {"": 8}
    assert samples(fams["node_nfsd_disk_bytes_read_total"]) == {"": 157286400}
    requests = samples(fams["node_nfsd_requests_total"])
    assert requests['{proto="4",method="Access"}'] == 3 and requests['{proto="4",method="RelLockOwner"}'] == 39
    assert requests['{proto="4",method="WdelegGetattr"}'] == 15 and '{proto="4",method="PutRootFH"}' not in requests
    assert len(requests) == 17 + 21 + 35 + 1
    write(roots["proc"] / "net" / "rpc" / "nfsd", "th 8\n")
    with pytest.raises(ValueError, match="th"):
        NFSdCollector(settings(roots)).read_guarded()


def test_cpu_online_when_cpu0_has_the_file(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    base = roots["sys"] / "devices" / "system" / "cpu"
    files(base, {"cpu0/online": "1\n", "cpu1/online": "0\n", "cpu2/online": "garbage\n"})
    fams = run(CPUCollector(settings(roots)))
    assert samples(fams["node_cpu_online"]) == {'{cpu="0"}': 1, '{cpu="1"}': 0, '{cpu="2"}': 0}
