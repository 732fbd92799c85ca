"""Bad hardware input over HTTP: a truncated md array in /proc/mdstat, a bonding master whose slave file is gone,
a non-numeric XFS statistic. The scrape still answers 200 with everything else, only the collectors concerned
report success 0, and each error is logged once, not at every scrape."""

from __future__ import annotations

import shutil

from conftest import samples, value

MDSTAT = """\
Personalities : [raid1]
md0 : active raid1 sdb1[1] sda1[0]
      248896 blocks [2/2] [UU]

md6 : active raid1 sdb2[2](F) sda2[0]
      195310144 blocks
      [=>...................]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec

unused devices: <none>
"""


def test_bad_hardware_files_fail_only_their_device_and_are_logged_once(exporter_factory, tmp_path):
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    proc.mkdir()
    shutil.copyfile("/proc/stat", proc / "stat")
    (proc / "mdstat").write_text(MDSTAT)
    net = sys / "class" / "net"
    for master, slaves in (("bond0", "eth0"), ("bond1", "eth1")):
        (net / master / "bonding").mkdir(parents=True)
        (net / master / "bonding" / "slaves").write_text(slaves + "\n")
    (net / "bonding_masters").write_text("bond0 bond1\n")
    (net / "bond0" / "lower_eth0" / "bonding_slave").mkdir(parents=True)
    (net / "bond0" / "lower_eth0" / "bonding_slave" / "mii_status").write_text("up\n")  # bond1's eth1 has none
    xfs = sys / "fs" / "xfs" / "sda1" / "stats"
    xfs.mkdir(parents=True)
    (xfs / "stats").write_text("extent_alloc 1 872 0 zero\n")
    exp = exporter_factory(
        f"--path.procfs={proc}",
        f"--path.sysfs={sys}",
        "--collector.disable-defaults",
        "--collector.mdadm",
        "--collector.bonding",
        "--collector.xfs",
        "--collector.loadavg",
    )
    for _ in range(3):
        resp = exp.get()
        assert resp.status == 200
        text = resp.text
        assert value(text, "node_md_disks_required", device="md0") == 2
        assert not any(n.startswith("node_md_") and dict(l).get("device") == "md6" for n, l in samples(text))
        assert value(text, "node_bonding_active", master="bond0") == 1
        assert not any(dict(l).get("master") == "bond1" for n, l in samples(text))
        for collector in ("mdadm", "bonding", "xfs"):
            assert value(text, "node_scrape_collector_success", collector=collector) == 0
    log = exp.log()
    for needle in (
        "md array md6: no [total/active] [U_] in status line",
        "bonding master bond1:",
        "xfs sda1: extent_alloc: values are not all numbers",
    ):
        assert log.count(needle) == 1, (needle, log)
