"""Unit tests of the host collectors: the pure /proc parsers, and each collector
run against a fake procfs/sysfs/rootfs tree. Fixture texts are copied from a
real Debian 12 VM (kernel 6.x) unless a test says otherwise."""

from __future__ import annotations

import os
import time

import pytest

from node_tree import run, samples, settings, tree, write

from exporters.core.errors import ConfigError
from exporters.core.metrics import COUNTER, GAUGE, render_text
from exporters.node.cpu import CPUCollector, MonotonicCPUTimes, parse_cpu_stat
from exporters.node.diskstats import DiskstatsCollector, parse_diskstats, parse_udev_data
from exporters.node.filefd import FilefdCollector, parse_file_nr
from exporters.node.meminfo import MeminfoCollector, parse_meminfo
from exporters.node.netdev import NetdevCollector, parse_net_dev
from exporters.node.os_release import OSCollector, os_version, parse_os_release
from exporters.node.stat import StatCollector, parse_stat
from exporters.node.time import TimeCollector, clocksource_device, parse_clocksources
from exporters.node.uname import UnameCollector, parse_domainname

HZ = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------- fixtures

PROC_STAT = """\
cpu  3755 0 1752 308673 370 0 64 37 0 0
cpu0 1421 0 692 155058 72 0 20 19 0 0
cpu1 2333 0 1059 153614 298 0 43 18 7 3
intr 147124 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 8 0 0 0 0 315 35 0 38
ctxt 279770
btime 1795748584
processes 3950
procs_running 2
procs_blocked 1
softirq 111367 0 18395 4 1733 34962 0 4 40416 0 15853
"""

MEMINFO = """\
MemTotal:       24683656 kB
MemFree:        24508980 kB
MemAvailable:   24439112 kB
Buffers:             976 kB
Active(anon):       1512 kB
Inactive(file):    29296 kB
SwapTotal:             0 kB
NFS_Unstable:          0 kB
VmallocTotal:   34359738367 kB
HugePages_Total:       4
HugePages_Free:        2
Hugepagesize:       2048 kB
DirectMap1G:    25165824 kB
"""

# 20 columns (5.5+ kernel: discards and flushes), a loop device, and a zram device.
DISKSTATS = """\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 32706 8528 2220954 8550 6508 6649 1135776 3109 2 5036 13056 3453 68 76288 744 904 651
 254       1 vda1 30000 8000 2000000 8000 6000 6000 1000000 3000 0 4000 12000 3000 60 70000 700 0 0
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"""
# 14 columns: a 4.x kernel before discard stats (4.18).
DISKSTATS_OLD = "   8       0 sda 96183 2517 3812614 29836 166398 240426 10316880 251428 0 92176 281088\n"
# 18 columns: 4.18 to 5.4, discards but no flushes.
DISKSTATS_418 = " 259       0 nvme0n1 100 2 3000 40 50 6 7000 80 1 90 130 11 12 1300 14\n"

NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 38500460    1276    1    2    3     4          5         6    77216     871    7    8    9    10      11         12
"""

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def assert_declared(cls, fams: dict) -> None:
    declared = {d.name: d for d in cls.metrics}
    for name, fam in fams.items():
        assert name in declared, f"{name} missing from {cls.__name__}.metrics"
        assert fam.type == declared[name].type
        assert fam.labelnames == declared[name].labels


# --------------------------------------------------------------------------- cpu


def test_parse_cpu_stat_per_cpu_seconds():
    cpus = parse_cpu_stat(PROC_STAT, user_hz=100)
    assert sorted(cpus) == ["0", "1"]  # the aggregate "cpu" line is not a CPU
    assert cpus["0"]["user"] == pytest.approx(14.21)
    assert cpus["0"]["idle"] == pytest.approx(1550.58)
    assert cpus["1"]["iowait"] == pytest.approx(2.98)
    assert cpus["1"]["steal"] == pytest.approx(0.18)
    assert cpus["1"]["guest"] == pytest.approx(0.07)
    assert cpus["1"]["guest_nice"] == pytest.approx(0.03)


def test_parse_cpu_stat_old_kernel_missing_fields_read_as_zero():
    # 2.6.24-era line: no steal, guest, guest_nice.
    cpus = parse_cpu_stat("cpu  10 0 10 100 0 0 0\ncpu3 200 100 50 1000 20 10 5\n", user_hz=100)
    assert list(cpus) == ["3"]
    assert cpus["3"]["nice"] == 1.0
    assert cpus["3"]["softirq"] == 0.05
    assert cpus["3"]["steal"] == 0 and cpus["3"]["guest"] == 0 and cpus["3"]["guest_nice"] == 0


def test_monotonic_cpu_times_clamps_small_drops_and_accepts_resets():
    mono = MonotonicCPUTimes(reset_seconds=3.0)
    first = mono.update({"0": {"idle": 100.0, "iowait": 5.0, "user": 1.0}})
    assert first["0"]["idle"] == 100.0
    # iowait steps back 0.5 s: jitter, keep reporting 5.0; idle moves on.
    second = mono.update({"0": {"idle": 101.0, "iowait": 4.5, "user": 1.5}})
    assert second["0"] == {"idle": 101.0, "iowait": 5.0, "user": 1.5}
    # Once it is above the old value again it is reported as is.
    third = mono.update({"0": {"idle": 102.0, "iowait": 5.2, "user": 1.6}})
    assert third["0"]["iowait"] == 5.2
    # Idle drops by 100 s: the CPU was re-plugged, every counter restarts.
    fourth = mono.update({"0": {"idle": 2.0, "iowait": 0.1, "user": 0.2}})
    assert fourth["0"] == {"idle": 2.0, "iowait": 0.1, "user": 0.2}


def test_monotonic_cpu_times_forgets_cpus_that_go_away():
    mono = MonotonicCPUTimes()
    mono.update({"0": {"idle": 10.0}, "1": {"idle": 10.0}})
    assert list(mono.update({"0": {"idle": 11.0}})) == ["0"]
    # cpu1 comes back with a lower (small-drop) value: it starts fresh, not clamped.
    assert mono.update({"0": {"idle": 12.0}, "1": {"idle": 9.0}})["1"]["idle"] == 9.0


def test_cpu_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", PROC_STAT)
    collector = CPUCollector(settings(roots))
    fams = run(collector)
    assert_declared(CPUCollector, fams)
    assert set(fams) == {"node_cpu_seconds_total", "node_cpu_guest_seconds_total"}
    secs = fams["node_cpu_seconds_total"]
    assert secs.type == COUNTER and secs.labelnames == ("cpu", "mode")
    s = samples(secs)
    assert len(s) == 2 * 8
    assert s['{cpu="0",mode="idle"}'] == pytest.approx(155058 / HZ)
    assert s['{cpu="1",mode="user"}'] == pytest.approx(2333 / HZ)
    assert '{cpu="0",mode="guest"}' not in s
    guest = samples(fams["node_cpu_guest_seconds_total"])
    assert guest == pytest.approx(
        {
            '{cpu="0",mode="user"}': 0,
            '{cpu="0",mode="nice"}': 0,
            '{cpu="1",mode="user"}': 7 / HZ,
            '{cpu="1",mode="nice"}': 3 / HZ,
        }
    )

    # Next scrape: cpu0's idle went back by one tick; the reported value must not.
    write(roots["proc"] / "stat", PROC_STAT.replace("cpu0 1421 0 692 155058", "cpu0 1500 0 692 155057"))
    s2 = samples(run(collector)["node_cpu_seconds_total"])
    assert s2['{cpu="0",mode="idle"}'] == pytest.approx(155058 / HZ)
    assert s2['{cpu="0",mode="user"}'] == pytest.approx(1500 / HZ)


def test_cpu_collector_guest_flag_off(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", PROC_STAT)
    fams = run(CPUCollector(settings(roots, collector_cpu_guest=False)))
    assert list(fams) == ["node_cpu_seconds_total"]
    flag = CPUCollector.flags[0]
    assert (flag.flag, flag.dest, flag.default) == ("--collector.cpu.guest", "collector_cpu_guest", True)


# --------------------------------------------------------------------------- meminfo


def test_parse_meminfo_names_and_units():
    m = parse_meminfo(MEMINFO)
    assert m["MemTotal_bytes"] == 24683656 * 1024
    assert m["Active_anon_bytes"] == 1512 * 1024
    assert m["Inactive_file_bytes"] == 29296 * 1024
    assert m["VmallocTotal_bytes"] == 34359738367 * 1024
    assert m["SwapTotal_bytes"] == 0
    # No unit: the bare key, the raw count.
    assert m["HugePages_Total"] == 4
    assert m["HugePages_Free"] == 2
    assert "HugePages_Total_bytes" not in m
    assert m["Hugepagesize_bytes"] == 2 * 1024 * 1024
    assert len(m) == 13


def test_parse_meminfo_skips_garbage():
    m = parse_meminfo("MemTotal: 10 kB\n\nnot a field\nBroken:   x kB\nOdd:  5 MB\n")
    assert m == {"MemTotal_bytes": 10240}


def test_meminfo_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "meminfo", MEMINFO)
    fams = run(MeminfoCollector(settings(roots)))
    assert "node_memory_MemTotal_bytes" in fams
    assert "node_memory_Active_anon_bytes" in fams
    assert "node_memory_HugePages_Total" in fams
    assert "node_memory_Active(anon)_bytes" not in fams
    total = fams["node_memory_MemTotal_bytes"]
    assert total.type == GAUGE and total.labelnames == ()
    assert total.help == "Memory information field MemTotal_bytes."
    assert samples(total) == {"": 25276063744}
    assert fams["node_memory_HugePages_Free"].help == "Memory information field HugePages_Free."
    assert all(f.type == GAUGE for f in fams.values())
    assert "node_memory_MemTotal_bytes 25276063744\n" in render_text(fams.values())


# --------------------------------------------------------------------------- diskstats


def test_parse_diskstats_kernel_generations():
    rows = {r.device: r for r in parse_diskstats(DISKSTATS + DISKSTATS_OLD + DISKSTATS_418)}
    assert list(rows) == ["loop0", "vda", "vda1", "zram0", "sda", "nvme0n1"]
    vda = rows["vda"]
    assert (vda.major, vda.minor) == ("254", "0")
    assert len(vda.stats) == 17
    assert vda.stats[0] == 32706 and vda.stats[16] == 651
    assert len(rows["sda"].stats) == 11
    assert len(rows["nvme0n1"].stats) == 15


def test_parse_diskstats_skips_short_and_bad_lines():
    text = "   8    1 sda1 1 2 3 4\n   8 0 sdb 1 2 3 4 5 6 7 8 9 10 x\n\n"
    assert parse_diskstats(text) == []


def test_parse_udev_data():
    text = (
        "S:disk/by-id/ata-Samsung_SSD_860_EVO_S3Z1NB0K\n"
        "E:ID_MODEL=Samsung_SSD_860_EVO_500GB\n"
        "E:ID_SERIAL_SHORT=S3Z1NB0K123456A\n"
        "E:ID_PATH=pci-0000:00:1f.2-ata-1\n"
        "E:ID_FS_LABEL=a=b\n"
        "G:systemd\n"
    )
    props = parse_udev_data(text)
    assert props["ID_MODEL"] == "Samsung_SSD_860_EVO_500GB"
    assert props["ID_PATH"] == "pci-0000:00:1f.2-ata-1"
    assert props["ID_FS_LABEL"] == "a=b"
    assert "ID_WWN" not in props
    assert len(props) == 4


def test_diskstats_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "diskstats", DISKSTATS + DISKSTATS_OLD + DISKSTATS_418)
    udev = tmp_path / "udev"
    write(
        udev / "b8:0",
        "E:ID_MODEL=Samsung_SSD_860_EVO_500GB\nE:ID_SERIAL_SHORT=S3Z1NB0K\nE:ID_REVISION=RVT04B6Q\n"
        "E:ID_WWN=0x5002538e40a0eb0e\nE:ID_PATH=pci-0000:00:1f.2-ata-1\n",
    )
    fams = run(DiskstatsCollector(settings(roots, path_udev_data=str(udev))))
    assert_declared(DiskstatsCollector, fams)
    # Default exclude: loop0, partition vda1, zram0 go.
    reads = samples(fams["node_disk_reads_completed_total"])
    assert reads == {'{device="vda"}': 32706, '{device="sda"}': 96183, '{device="nvme0n1"}': 100}

    vda = '{device="vda"}'
    assert samples(fams["node_disk_read_bytes_total"])[vda] == 2220954 * 512
    assert samples(fams["node_disk_written_bytes_total"])[vda] == 1135776 * 512
    assert samples(fams["node_disk_read_time_seconds_total"])[vda] == pytest.approx(8.55)
    assert samples(fams["node_disk_io_time_seconds_total"])[vda] == pytest.approx(5.036)
    assert samples(fams["node_disk_io_time_weighted_seconds_total"])[vda] == pytest.approx(13.056)
    assert samples(fams["node_disk_io_now"])[vda] == 2
    assert fams["node_disk_io_now"].type == GAUGE
    assert samples(fams["node_disk_discarded_sectors_total"])[vda] == 76288  # sectors, not bytes
    assert samples(fams["node_disk_discard_time_seconds_total"])[vda] == pytest.approx(0.744)
    assert samples(fams["node_disk_flush_requests_total"])[vda] == 904
    assert samples(fams["node_disk_flush_requests_time_seconds_total"])[vda] == pytest.approx(0.651)

    # The old kernel's sda has no discard or flush series; the 4.18 nvme has discards only.
    assert set(samples(fams["node_disk_discards_completed_total"])) == {vda, '{device="nvme0n1"}'}
    assert set(samples(fams["node_disk_flush_requests_total"])) == {vda}

    info = fams["node_disk_info"]
    assert info.labelnames == ("device", "major", "minor", "model", "path", "revision", "rotational", "serial", "wwn")
    assert samples(info) == {
        '{device="vda",major="254",minor="0",model="",path="",revision="",rotational="0",serial="",wwn=""}': 1,
        '{device="sda",major="8",minor="0",model="Samsung_SSD_860_EVO_500GB",path="pci-0000:00:1f.2-ata-1",'
        'revision="RVT04B6Q",rotational="0",serial="S3Z1NB0K",wwn="0x5002538e40a0eb0e"}': 1,
        '{device="nvme0n1",major="259",minor="0",model="",path="",revision="",rotational="0",serial="",wwn=""}': 1,
    }
    # No udev filesystem, device-mapper or ATA properties: those families are empty.
    assert not fams["node_disk_filesystem_info"].samples and not fams["node_disk_ata_write_cache"].samples


def test_diskstats_udev_and_queue(tmp_path):
    """node_exporter 1.9's udev families, SCSI_IDENT_SERIAL before ID_SERIAL_SHORT, and rotational
    (base 2) only when all of the block queue's attributes are there."""
    from exporters.node.diskstats import QUEUE_FILES

    roots = tree(tmp_path)
    write(roots["proc"] / "diskstats", DISKSTATS)
    udev = tmp_path / "udev"
    write(
        udev / "b254:0",
        "S:disk/by-id/x\nE:ID_FS_TYPE=ext4\nE:ID_FS_USAGE=filesystem\nE:ID_FS_UUID=u-1\n"
        "E:ID_FS_VERSION=1.0\nE:DM_NAME=vg-root\nE:DM_UUID=LVM-x\nE:DM_VG_NAME=vg\nE:DM_LV_NAME=root\n"
        "E:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=1\nE:ID_ATA_WRITE_CACHE_ENABLED=0\nE:ID_ATA_ROTATION_RATE_RPM=junk\n"
        "E:SCSI_IDENT_SERIAL=LABEL1\nE:ID_SERIAL_SHORT=SHORT1\n",
    )
    queue = roots["sys"] / "block" / "vda" / "queue"
    for name in QUEUE_FILES:
        write(queue / name, "0\n")
    write(queue / "rotational", "1\n")
    fams = run(DiskstatsCollector(settings(roots, path_udev_data=str(udev))))
    vda = '{device="vda"}'
    info = samples(fams["node_disk_info"])
    assert (
        '{device="vda",major="254",minor="0",model="",path="",revision="",rotational="1",serial="LABEL1",wwn=""}'
        in info
    )
    assert samples(fams["node_disk_filesystem_info"]) == {
        '{device="vda",type="ext4",usage="filesystem",uuid="u-1",version="1.0"}': 1
    }
    assert samples(fams["node_disk_device_mapper_info"]) == {
        '{device="vda",lv_layer="",lv_name="root",name="vg-root",uuid="LVM-x",vg_name="vg"}': 1
    }
    assert samples(fams["node_disk_ata_write_cache"]) == {vda: 1}
    assert samples(fams["node_disk_ata_write_cache_enabled"]) == {vda: 0}
    assert not fams["node_disk_ata_rotation_rate_rpm"].samples  # not a number: left out
    # A kernel without one of the queue attributes: node_exporter reads none, rotational "0".
    (queue / "zoned").unlink()
    info = samples(run(DiskstatsCollector(settings(roots, path_udev_data=str(udev))))["node_disk_info"])
    assert any('device="vda"' in k and 'rotational="0"' in k for k in info)


def test_diskstats_filters(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "diskstats", DISKSTATS + DISKSTATS_OLD)
    inc = run(DiskstatsCollector(settings(roots, collector_diskstats_device_include="^vda")))
    assert set(samples(inc["node_disk_io_now"])) == {'{device="vda"}', '{device="vda1"}'}
    exc = run(DiskstatsCollector(settings(roots, collector_diskstats_device_exclude="^sd")))
    # A user exclude replaces the default one: loop0 and zram0 come back.
    assert set(samples(exc["node_disk_io_now"])) == {
        '{device="loop0"}',
        '{device="vda"}',
        '{device="vda1"}',
        '{device="zram0"}',
    }
    with pytest.raises(ConfigError):
        DiskstatsCollector(
            settings(roots, collector_diskstats_device_include="a", collector_diskstats_device_exclude="b")
        )
    dests = {f.dest for f in DiskstatsCollector.flags}
    assert dests == {"collector_diskstats_device_include", "collector_diskstats_device_exclude"}


# --------------------------------------------------------------------------- netdev


def test_parse_net_dev():
    devs = parse_net_dev(NET_DEV)
    assert list(devs) == ["lo", "ifb0", "eth0"]
    eth0 = devs["eth0"]
    assert eth0["receive_bytes"] == 38500460
    assert eth0["receive_packets"] == 1276
    assert eth0["receive_multicast"] == 6
    assert eth0["transmit_bytes"] == 77216
    assert eth0["transmit_colls"] == 10
    assert eth0["transmit_carrier"] == 11
    assert eth0["transmit_compressed"] == 12
    assert len(eth0) == 16


def test_parse_net_dev_wide_numbers_touch_the_colon():
    text = "eth1:123456789012 5 0 0 0 0 0 0 987654321098 6 0 0 0 0 0 0\nbad: 1 2 3\n"
    devs = parse_net_dev(text)
    assert list(devs) == ["eth1"]
    assert devs["eth1"]["receive_bytes"] == 123456789012
    assert devs["eth1"]["transmit_packets"] == 6


def test_netdev_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "net" / "dev", NET_DEV)
    write(roots["sys"] / "class" / "net" / "eth0" / "statistics" / "rx_nohandler", "42\n")
    fams = run(NetdevCollector(settings(roots)))
    assert_declared(NetdevCollector, fams)
    assert len(fams) == 17
    rx = fams["node_network_receive_bytes_total"]
    assert rx.type == COUNTER and rx.labelnames == ("device",)
    assert rx.help == "Network device statistic receive_bytes."
    assert samples(rx) == {'{device="lo"}': 3193, '{device="ifb0"}': 0, '{device="eth0"}': 38500460}
    assert samples(fams["node_network_transmit_errs_total"])['{device="eth0"}'] == 7
    assert samples(fams["node_network_receive_frame_total"])['{device="eth0"}'] == 4
    # Only eth0 has the sysfs file.
    assert samples(fams["node_network_receive_nohandler_total"]) == {'{device="eth0"}': 42}

    excluded = run(NetdevCollector(settings(roots, collector_netdev_device_exclude="^lo$")))
    assert set(samples(excluded["node_network_transmit_packets_total"])) == {'{device="ifb0"}', '{device="eth0"}'}
    included = run(NetdevCollector(settings(roots, collector_netdev_device_include="^eth")))
    assert set(samples(included["node_network_receive_packets_total"])) == {'{device="eth0"}'}


# --------------------------------------------------------------------------- stat


def test_parse_stat():
    assert parse_stat(PROC_STAT) == {
        "intr": 147124,
        "ctxt": 279770,
        "btime": 1795748584,
        "processes": 3950,
        "procs_running": 2,
        "procs_blocked": 1,
    }


def test_stat_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", PROC_STAT)
    fams = run(StatCollector(settings(roots)))
    assert_declared(StatCollector, fams)
    expected = {
        "node_boot_time_seconds": (GAUGE, 1795748584),
        "node_context_switches_total": (COUNTER, 279770),
        "node_forks_total": (COUNTER, 3950),
        "node_intr_total": (COUNTER, 147124),
        "node_procs_running": (GAUGE, 2),
        "node_procs_blocked": (GAUGE, 1),
    }
    assert {n: (f.type, samples(f)[""]) for n, f in fams.items()} == expected


# --------------------------------------------------------------------------- uname


def test_parse_domainname():
    assert parse_domainname("(none)\n") == "(none)"
    assert parse_domainname("corp.example.org\n") == "corp.example.org"
    assert parse_domainname("\n") == "(none)"


def test_uname_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "sys" / "kernel" / "domainname", "corp.example.org\n")
    fams = run(UnameCollector(settings(roots)))
    info = fams["node_uname_info"]
    assert info.type == GAUGE
    assert info.labelnames == ("domainname", "machine", "nodename", "release", "sysname", "version")
    u = os.uname()
    ((_, block, value),) = info.samples
    assert value == 1
    assert block.startswith('{domainname="corp.example.org",')
    for part in (f'machine="{u.machine}"', f'nodename="{u.nodename}"', f'release="{u.release}"', 'sysname="Linux"'):
        assert part in block

    os.remove(roots["proc"] / "sys" / "kernel" / "domainname")
    ((_, block, _),) = run(UnameCollector(settings(roots)))["node_uname_info"].samples
    assert block.startswith('{domainname="(none)",')


# --------------------------------------------------------------------------- os


def test_parse_os_release_debian():
    r = parse_os_release(OS_RELEASE)
    assert r["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert r["VERSION_CODENAME"] == "bookworm"
    assert r["ID"] == "debian"
    assert r["HOME_URL"] == "https://www.debian.org/"


def test_parse_os_release_quoting_escapes_and_comments():
    text = r"""
# a comment line
   # an indented comment
NAME='Single quoted $HOME \n stays'
PRETTY_NAME="Fancy \"Distro\" \$5 \\ back\slash"
VARIANT=Server\ Edition
ID_LIKE="rhel fedora"
VERSION_ID=9.3 # trailing comment
BUILD_ID="abc"'def'ghi
IMAGE_ID=#not-a-value
not an assignment
LOWER_key=1
EMPTY=
=novalue
"""
    r = parse_os_release(text)
    assert r["NAME"] == r"Single quoted $HOME \n stays"
    assert r["PRETTY_NAME"] == 'Fancy "Distro" $5 \\ back\\slash'
    assert r["VARIANT"] == "Server Edition"
    assert r["ID_LIKE"] == "rhel fedora"
    assert r["VERSION_ID"] == "9.3"
    assert r["BUILD_ID"] == "abcdefghi"
    assert r["IMAGE_ID"] == ""
    assert r["LOWER_key"] == "1"
    assert r["EMPTY"] == ""
    assert len(r) == 9


def test_os_version():
    assert os_version("12") == 12
    assert os_version("22.04") == 22.04
    assert os_version("9.3.1") == 9.3
    assert os_version("2023.1.20230912") == 2023.1
    assert os_version("rolling") is None
    assert os_version("") is None


def test_os_collector(tmp_path):
    roots = tree(tmp_path)
    path = roots["root"] / "etc" / "os-release"
    write(path, OS_RELEASE)
    collector = OSCollector(settings(roots))
    fams = run(collector)
    assert_declared(OSCollector, fams)
    assert samples(fams["node_os_info"]) == {
        '{build_id="",id="debian",id_like="",image_id="",image_version="",name="Debian GNU/Linux",'
        'pretty_name="Debian GNU/Linux 12 (bookworm)",variant="",variant_id="",version="12 (bookworm)",'
        'version_codename="bookworm",version_id="12"}': 1
    }
    assert samples(fams["node_os_version"]) == {'{id="debian",id_like="",name="Debian GNU/Linux"}': 12}

    # Same mtime: the cached parse is used, the new content is not read.
    st = os.stat(path)
    path.write_text(OS_RELEASE.replace('VERSION_ID="12"', 'VERSION_ID="13"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert samples(run(collector)["node_os_version"]) == {'{id="debian",id_like="",name="Debian GNU/Linux"}': 12}
    # A new mtime: re-read.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert samples(run(collector)["node_os_version"]) == {'{id="debian",id_like="",name="Debian GNU/Linux"}': 13}


def test_os_collector_falls_back_to_usr_lib(tmp_path):
    roots = tree(tmp_path)
    write(roots["root"] / "usr" / "lib" / "os-release", 'NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n')
    collector = OSCollector(settings(roots))
    fams = run(collector)
    ((_, block, _),) = fams["node_os_info"].samples
    assert 'build_id="rolling"' in block and 'name="Arch Linux"' in block and 'version_id=""' in block
    assert "node_os_version" not in fams  # no VERSION_ID: no version series
    # /etc/os-release appears later: it wins.
    write(roots["root"] / "etc" / "os-release", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n')
    assert samples(run(collector)["node_os_version"]) == {'{id="alpine",id_like="",name="Alpine Linux"}': 3.19}


def test_os_collector_without_file_fails(tmp_path):
    roots = tree(tmp_path)
    with pytest.raises(OSError):
        run(OSCollector(settings(roots)))


# --------------------------------------------------------------------------- time


def test_clocksource_helpers():
    assert parse_clocksources("tsc kvm-clock acpi_pm \n") == ["tsc", "kvm-clock", "acpi_pm"]
    assert clocksource_device("/sys/devices/system/clocksource/clocksource0") == "0"
    assert clocksource_device("clocksource12/") == "12"
    assert clocksource_device("/sys/devices/system/clocksource/power") is None
    assert clocksource_device("clocksourcex") is None


def test_time_collector(tmp_path):
    roots = tree(tmp_path)
    base = roots["sys"] / "devices" / "system" / "clocksource"
    write(base / "clocksource0" / "available_clocksource", "tsc kvm-clock \n")
    write(base / "clocksource0" / "current_clocksource", "tsc\n")
    write(base / "clocksource1" / "available_clocksource", "hpet\n")
    write(base / "clocksource1" / "current_clocksource", "hpet\n")
    (base / "power").mkdir()
    before = time.time()
    fams = run(TimeCollector(settings(roots)))
    after = time.time()
    assert_declared(TimeCollector, fams)
    assert set(fams) == {
        "node_time_seconds",
        "node_time_zone_offset_seconds",
        "node_time_clocksource_available_info",
        "node_time_clocksource_current_info",
    }
    assert before <= samples(fams["node_time_seconds"])[""] <= after
    zone = fams["node_time_zone_offset_seconds"]
    assert zone.labelnames == ("time_zone",)
    local = time.localtime()
    assert samples(zone) == {f'{{time_zone="{local.tm_zone}"}}': local.tm_gmtoff}
    assert samples(fams["node_time_clocksource_available_info"]) == {
        '{clocksource="tsc",device="0"}': 1,
        '{clocksource="kvm-clock",device="0"}': 1,
        '{clocksource="hpet",device="1"}': 1,
    }
    assert samples(fams["node_time_clocksource_current_info"]) == {
        '{clocksource="tsc",device="0"}': 1,
        '{clocksource="hpet",device="1"}': 1,
    }


# --------------------------------------------------------------------------- filefd


def test_parse_file_nr():
    assert parse_file_nr("133\t0\t2466174\n") == (133, 2466174)
    with pytest.raises(ValueError):
        parse_file_nr("133 0\n")


def test_filefd_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "sys" / "fs" / "file-nr", "3611\t0\t2466183\n")
    fams = run(FilefdCollector(settings(roots)))
    assert_declared(FilefdCollector, fams)
    assert {n: (f.type, samples(f)) for n, f in fams.items()} == {
        "node_filefd_allocated": (GAUGE, {"": 3611}),
        "node_filefd_maximum": (GAUGE, {"": 2466183}),
    }
    assert "node_filefd_maximum 2466183\n" in render_text(fams.values())
