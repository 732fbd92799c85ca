"""Bad sysfs input seen by a user of the running exporter: a hwmon chip with no name, a non-numeric sensor
value, a truncated thermal zone temperature, a battery whose capacity is not a number. The scrape still
answers HTTP 200, only the device (or the value) with the bad file is missing, only its collector reports
failure, and each problem is logged once over several scrapes."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import samples


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def bad_tree(root: Path) -> Path:
    write(root / "proc" / "stat", "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    sys = root / "sys"
    # hwmon0: a named chip with one non-numeric value; hwmon1: no name file and no device link
    chip = sys / "devices" / "platform" / "coretemp.0" / "hwmon" / "hwmon0"
    write(chip / "name", "coretemp\n")
    write(chip / "temp1_input", "41000\n")
    write(chip / "temp2_input", "n/a\n")
    os.symlink("../..", chip / "device")
    (sys / "class" / "hwmon").mkdir(parents=True)
    os.symlink("../../devices/platform/coretemp.0/hwmon/hwmon0", sys / "class" / "hwmon" / "hwmon0")
    write(sys / "class" / "hwmon" / "hwmon1" / "temp1_input", "42000\n")
    # thermal_zone0 truncated, thermal_zone1 good
    for zone, temp in (("thermal_zone0", "4x"), ("thermal_zone1", "38000\n")):
        write(sys / "class" / "thermal" / zone / "type", "acpitz\n")
        write(sys / "class" / "thermal" / zone / "policy", "step_wise\n")
        write(sys / "class" / "thermal" / zone / "temp", temp)
    # BAT0's capacity is not a number, AC is fine
    write(sys / "class" / "power_supply" / "AC" / "online", "1\n")
    write(sys / "class" / "power_supply" / "BAT0" / "capacity", "full\n")
    return root


def test_bad_sysfs_files_affect_only_their_device_and_are_logged_once(tmp_path, exporter_factory):
    root = bad_tree(tmp_path / "tree")
    exp = exporter_factory(
        f"--path.procfs={root / 'proc'}",
        f"--path.sysfs={root / 'sys'}",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.hwmon",
        "--collector.thermal_zone",
        "--collector.powersupplyclass",
    )
    scrapes = [exp.get() for _ in range(3)]
    assert [r.status for r in scrapes] == [200, 200, 200]
    got = samples(scrapes[-1].text)

    def success(collector):
        return got[("node_scrape_collector_success", (("collector", collector),))]

    assert (success("cpu"), success("hwmon"), success("thermal_zone"), success("powersupplyclass")) == (1, 1, 0, 0)
    temps = {
        dict(l)["chip"] + "/" + dict(l)["sensor"]: v for (n, l), v in got.items() if n == "node_hwmon_temp_celsius"
    }
    assert temps == {"platform_coretemp_0/temp1": 41.0, "hwmon1/temp1": 42.0}  # the nameless chip is still served
    zones = {dict(l)["zone"]: v for (n, l), v in got.items() if n == "node_thermal_zone_temp"}
    assert zones == {"1": 38.0}
    assert got[("node_power_supply_online", (("power_supply", "AC"),))] == 1

    log = exp.log()
    assert log.count("temp2_input: not a number: 'n/a'") == 1, log
    assert log.count("thermal_zone0/temp: not an integer: '4x'") == 1, log
    assert log.count("BAT0/capacity: not an integer: 'full'") == 1, log
