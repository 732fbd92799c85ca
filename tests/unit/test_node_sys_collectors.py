"""Unit tests of the pressure, entropy, netclass, conntrack, timex and selinux
collectors: their pure parsers, and each collector run against a fake
procfs/sysfs/rootfs tree. Fixture texts are copied from a Debian 12 VM with a
6.x kernel (two CPUs, virtio eth0, two ifb devices) unless a test says otherwise;
the expected values are what Debian's node_exporter 1.5.0 printed on that VM."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from node_tree import run as _run
from node_tree import samples, settings, tree, write

from exporters.core.collector import Settings
from exporters.core.errors import ConfigError
from exporters.core.metrics import COUNTER, GAUGE, render_text
from exporters.node.conntrack import ConntrackCollector, ConntrackUnavailable, parse_conntrack_stat, parse_uint
from exporters.node.entropy import EntropyCollector, parse_bits
from exporters.node.netclass import NetclassCollector, parse_int, speed_bytes
from exporters.node.pressure import PressureCollector, PSIUnavailable, parse_psi, us_to_seconds
from exporters.node.selinux import SelinuxCollector, parse_enforce, parse_selinux_config
from exporters.node.timex import (
    LP64_TIMEX_SIZE,
    STA_NANO,
    TIME_ERROR,
    Timex,
    TimexCollector,
    adjtimex_read,
    timex_values,
)


def run(collector) -> dict:
    return _run(collector, declared=True)


# --------------------------------------------------------------------------- helpers


def values(fams: dict) -> dict:
    """{family name: value} of label-less families."""
    out = {}
    for name, fam in fams.items():
        assert len(fam.samples) == 1 and fam.samples[0][1] == "", name
        out[name] = fam.samples[0][2]
    return out


# --------------------------------------------------------------------------- pressure

PSI_CPU = """\
some avg10=0.22 avg60=0.32 avg300=0.65 total=101030819
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""
# Kernels 4.20 to 5.12 have no "full" line for cpu.
PSI_CPU_OLD = "some avg10=1.05 avg60=0.77 avg300=0.31 total=115115994\n"
PSI_IO = """\
some avg10=0.00 avg60=0.16 avg300=0.17 total=8209308
full avg10=0.00 avg60=0.15 avg300=0.16 total=7634576
"""
PSI_MEMORY = """\
some avg10=0.00 avg60=0.00 avg300=0.00 total=0
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""
# Linux 6.1+ with CONFIG_IRQ_TIME_ACCOUNTING: a "full" line only.
PSI_IRQ = "full avg10=0.00 avg60=0.00 avg300=0.00 total=8494\n"


def test_parse_psi():
    assert parse_psi(PSI_CPU) == {"some": 101030819, "full": 0}
    assert parse_psi(PSI_CPU_OLD) == {"some": 115115994}
    assert parse_psi(PSI_IO) == {"some": 8209308, "full": 7634576}
    # A future kind of line is ignored, not an error.
    assert parse_psi(PSI_IO + "partial avg10=0.00 total=5\n") == {"some": 8209308, "full": 7634576}
    with pytest.raises(ValueError):
        parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00\n")
    with pytest.raises(ValueError):
        parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=abc\n")


def test_psi_seconds_print_as_node_exporter_does():
    # node_exporter 1.5.0 printed these for the same totals.
    assert us_to_seconds(115115994) == 115.115994
    assert us_to_seconds(8330442) == 8.330442
    assert us_to_seconds(9646958) == 9.646958


def psi_tree(tmp_path, cpu=PSI_CPU):
    roots = tree(tmp_path)
    write(roots["proc"] / "pressure" / "cpu", cpu)
    write(roots["proc"] / "pressure" / "io", PSI_IO)
    write(roots["proc"] / "pressure" / "memory", PSI_MEMORY)
    write(roots["proc"] / "pressure" / "irq", PSI_IRQ)
    return roots


def test_pressure_collector(tmp_path):
    fams = run(PressureCollector(settings(psi_tree(tmp_path))))
    assert values(fams) == {
        "node_pressure_cpu_waiting_seconds_total": us_to_seconds(101030819),
        "node_pressure_io_waiting_seconds_total": 8.209308,
        "node_pressure_io_stalled_seconds_total": 7.634576,
        "node_pressure_memory_waiting_seconds_total": 0,
        "node_pressure_memory_stalled_seconds_total": 0,
        "node_pressure_irq_stalled_seconds_total": 0.008494,
    }
    assert all(f.type == COUNTER for f in fams.values())
    text = render_text(fams.values())
    assert (
        "# HELP node_pressure_cpu_waiting_seconds_total Total time in seconds that processes have waited for CPU time\n"
        "# TYPE node_pressure_cpu_waiting_seconds_total counter\n"
        # Go's float64(total)/1000.0/1000.0 rounds twice: node_exporter prints this digit for digit.
        "node_pressure_cpu_waiting_seconds_total 101.03081900000001\n"
    ) in text
    assert "node_pressure_io_stalled_seconds_total 7.634576\n" in text
    assert "node_pressure_memory_stalled_seconds_total 0\n" in text


def test_pressure_collector_irq_since_linux_6_1(tmp_path):
    """1.9 adds IRQ pressure (only a "full" line); a kernel without /proc/pressure/irq (before 6.1, or without
    CONFIG_IRQ_TIME_ACCOUNTING) still has the other series and the collector succeeds."""
    roots = psi_tree(tmp_path)
    write(roots["proc"] / "pressure" / "irq", "full avg10=0.00 avg60=0.00 avg300=0.00 total=8494\n")
    fams = run(PressureCollector(settings(roots)))
    assert values(fams)["node_pressure_irq_stalled_seconds_total"] == 0.008494
    assert len(fams) == 6


def test_pressure_collector_old_kernel_without_cpu_full_line(tmp_path):
    fams = run(PressureCollector(settings(psi_tree(tmp_path, cpu=PSI_CPU_OLD))))
    assert values(fams)["node_pressure_cpu_waiting_seconds_total"] == 115.115994
    assert len(fams) == 6  # cpu's "full" was never exported


def test_pressure_collector_kernel_without_irq_psi(tmp_path):
    """Before Linux 6.1 there is no /proc/pressure/irq: cpu, io and memory are served and the collector succeeds,
    as in node_exporter 1.10 (1.9 reported it failed there, its issue #3263)."""
    roots = psi_tree(tmp_path)
    (roots["proc"] / "pressure" / "irq").unlink()
    fams = run(PressureCollector(settings(roots)))
    assert list(fams) == [
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_io_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
        "node_pressure_memory_waiting_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
    ]


def test_pressure_collector_resource_without_full_line(tmp_path):
    """A memory file without its "full" line: what was read before is served, success 0 (no data, as 1.9)."""
    from exporters.core.collector import NoData, PartialFailure

    roots = psi_tree(tmp_path)
    write(roots["proc"] / "pressure" / "memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    with pytest.raises(PartialFailure, match="pressure/memory has no 'full' line") as info:
        run(PressureCollector(settings(roots)))
    assert isinstance(info.value, NoData)
    assert [f.name for f in info.value.families] == [
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_io_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
    ]


def test_pressure_collector_without_psi_fails_clearly(tmp_path):
    roots = tree(tmp_path)  # no /proc/pressure: kernel < 4.20 or CONFIG_PSI=n
    with pytest.raises(PSIUnavailable, match=r"pressure/cpu does not exist.*4\.20"):
        run(PressureCollector(settings(roots)))


def test_pressure_collector_psi_disabled_on_command_line(tmp_path, monkeypatch):
    roots = psi_tree(tmp_path)
    real_open = os.open

    def fake_open(path, *args, **kw):  # psi=0: the files exist, reading them answers EOPNOTSUPP
        if str(path).startswith(str(roots["proc"] / "pressure")):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP), str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    with pytest.raises(PSIUnavailable, match="psi=1"):
        run(PressureCollector(settings(roots)))


# --------------------------------------------------------------------------- entropy


def test_parse_bits():
    assert parse_bits("256\n") == 256
    with pytest.raises(ValueError):
        parse_bits("")
    with pytest.raises(ValueError):
        parse_bits("-1\n")


def test_entropy_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "sys" / "kernel" / "random" / "entropy_avail", "3534\n")  # a 5.10 kernel
    write(roots["proc"] / "sys" / "kernel" / "random" / "poolsize", "4096\n")
    fams = run(EntropyCollector(settings(roots)))
    assert values(fams) == {"node_entropy_available_bits": 3534, "node_entropy_pool_size_bits": 4096}
    assert {f.type for f in fams.values()} == {GAUGE}
    assert render_text(fams.values()) == (
        "# HELP node_entropy_available_bits Bits of available entropy.\n"
        "# TYPE node_entropy_available_bits gauge\n"
        "node_entropy_available_bits 3534\n"
        "# HELP node_entropy_pool_size_bits Bits of entropy pool.\n"
        "# TYPE node_entropy_pool_size_bits gauge\n"
        "node_entropy_pool_size_bits 4096\n"
    )


def test_entropy_collector_missing_file_fails(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "sys" / "kernel" / "random" / "entropy_avail", "256\n")
    with pytest.raises(FileNotFoundError):
        run(EntropyCollector(settings(roots)))


# --------------------------------------------------------------------------- netclass

# /sys/class/net/<iface>/<attribute> of the VM; None = the read fails with EINVAL.
NETCLASS = {
    "eth0": {
        "addr_assign_type": "0",
        "address": "02:fc:00:00:00:01",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "carrier": "1",
        "carrier_changes": "2",
        "carrier_up_count": "1",
        "carrier_down_count": "1",
        "dev_id": "0x0",
        "dormant": "0",
        "duplex": "unknown",
        "flags": "0x1003",
        "ifalias": "",
        "ifindex": "4",
        "iflink": "4",
        "link_mode": "0",
        "mtu": "1400",
        "name_assign_type": "1",
        "netdev_group": "0",
        "operstate": "up",
        "speed": "-1",
        "tx_queue_len": "1000",
        "type": "1",
    },
    "lo": {
        "addr_assign_type": "0",
        "address": "00:00:00:00:00:00",
        "broadcast": "00:00:00:00:00:00",
        "carrier": "1",
        "carrier_changes": "0",
        "carrier_up_count": "0",
        "carrier_down_count": "0",
        "dev_id": "0x0",
        "dormant": "0",
        "duplex": None,
        "flags": "0x9",
        "ifalias": "",
        "ifindex": "1",
        "iflink": "1",
        "link_mode": "0",
        "mtu": "65536",
        "name_assign_type": "2",
        "netdev_group": "0",
        "operstate": "unknown",
        "speed": None,
        "tx_queue_len": "1000",
        "type": "772",
    },
    # down: carrier, dormant, duplex, speed and name_assign_type answer EINVAL
    "ifb0": {
        "addr_assign_type": "1",
        "address": "6a:81:b6:10:3a:a6",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "carrier": None,
        "carrier_changes": "0",
        "carrier_up_count": "0",
        "carrier_down_count": "0",
        "dev_id": "0x0",
        "dormant": None,
        "duplex": None,
        "flags": "0x82",
        "ifalias": "",
        "ifindex": "2",
        "iflink": "2",
        "link_mode": "0",
        "mtu": "1500",
        "name_assign_type": None,
        "netdev_group": "0",
        "operstate": "down",
        "speed": None,
        "tx_queue_len": "32",
        "type": "1",
    },
    # A physical NIC (from a bare-metal Debian 12 host), with an alias.
    "enp3s0": {
        "addr_assign_type": "0",
        "address": "d4:5d:64:bb:0e:11",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "carrier": "1",
        "carrier_changes": "5",
        "carrier_up_count": "3",
        "carrier_down_count": "2",
        "dev_id": "0x0",
        "dormant": "0",
        "duplex": "full",
        "flags": "0x1003",
        "ifalias": 'uplink "A"',
        "ifindex": "2",
        "iflink": "2",
        "link_mode": "0",
        "mtu": "9000",
        "name_assign_type": "4",
        "netdev_group": "0",
        "operstate": "up",
        "speed": "1000",
        "tx_queue_len": "1000",
        "type": "1",
    },
}


def netclass_tree(tmp_path, monkeypatch):
    """The fake /sys/class/net. EINVAL files exist, and reading them fails as on
    the real sysfs; ifb1's speed is a directory (not a regular file)."""
    roots = tree(tmp_path)
    net = roots["sys"] / "class" / "net"
    einval = set()
    for device, attrs in NETCLASS.items():
        for name, value in attrs.items():
            write(net / device / name, f"{value}\n" if value is not None else "")
            if value is None:
                einval.add(str(net / device / name))
        (net / device / "statistics").mkdir()
    ifb1 = dict(NETCLASS["ifb0"], address="fa:fb:a5:63:2a:f6", ifindex="3", iflink="3", speed=None)
    for name, value in ifb1.items():
        if name == "speed":
            (net / "ifb1" / "speed").mkdir(parents=True)
            continue
        write(net / "ifb1" / name, f"{value}\n" if value is not None else "")
        if value is None:
            einval.add(str(net / "ifb1" / name))
    write(net / "bonding_masters", "\n")  # a regular file: not an interface

    real_open = os.open

    def fake_open(path, *args, **kw):
        if str(path) in einval:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    return roots


def test_parse_int_as_go_base_zero():
    assert parse_int("0x1003") == 4099
    assert parse_int("0x0") == 0
    assert parse_int("-1") == -1
    assert parse_int("65536\n") == 65536
    assert parse_int("010") == 8  # Go's leading-zero octal
    assert parse_int("") is None
    assert parse_int("up") is None
    assert parse_int(str(2**63)) is None
    assert speed_bytes(1000) == 125_000_000
    assert speed_bytes(-1) == -125000


def test_netclass_collector(tmp_path, monkeypatch):
    fams = run(NetclassCollector(settings(netclass_tree(tmp_path, monkeypatch))))
    assert set(fams) == {d.name for d in NetclassCollector.metrics}
    assert samples(fams["node_network_up"]) == {
        '{device="enp3s0"}': 1,
        '{device="eth0"}': 1,
        '{device="ifb0"}': 0,
        '{device="ifb1"}': 0,
        '{device="lo"}': 0,
    }
    info = fams["node_network_info"]
    assert info.labelnames == ("address", "adminstate", "broadcast", "device", "duplex", "ifalias", "operstate")
    text = render_text([info])
    # adminstate (node_exporter 1.9) is IFF_UP of flags: ifb0/ifb1 (0x82) are administratively down.
    assert (
        'node_network_info{address="02:fc:00:00:00:01",adminstate="up",broadcast="ff:ff:ff:ff:ff:ff",device="eth0",'
        'duplex="unknown",ifalias="",operstate="up"} 1\n'
    ) in text
    assert (
        'node_network_info{address="00:00:00:00:00:00",adminstate="up",broadcast="00:00:00:00:00:00",device="lo",'
        'duplex="",ifalias="",operstate="unknown"} 1\n'
    ) in text
    assert 'adminstate="down",broadcast="ff:ff:ff:ff:ff:ff",device="ifb0"' in text
    assert 'device="enp3s0",duplex="full",ifalias="uplink \\"A\\"",operstate="up"} 1\n' in text
    assert 'device="ifb1",duplex="",ifalias="",operstate="down"} 1\n' in text

    # Speed: -1 (unknown) is exported as node_exporter does, EINVAL and a directory leave it out.
    assert samples(fams["node_network_speed_bytes"]) == {'{device="enp3s0"}': 125000000, '{device="eth0"}': -125000}
    # EINVAL on the down interfaces: no sample, not a failure.
    assert samples(fams["node_network_carrier"]) == {'{device="enp3s0"}': 1, '{device="eth0"}': 1, '{device="lo"}': 1}
    assert set(samples(fams["node_network_dormant"])) == {'{device="enp3s0"}', '{device="eth0"}', '{device="lo"}'}
    assert samples(fams["node_network_name_assign_type"]) == {
        '{device="enp3s0"}': 4,
        '{device="eth0"}': 1,
        '{device="lo"}': 2,
    }
    # Hex attributes.
    assert samples(fams["node_network_flags"]) == {
        '{device="enp3s0"}': 4099,
        '{device="eth0"}': 4099,
        '{device="ifb0"}': 130,
        '{device="ifb1"}': 130,
        '{device="lo"}': 9,
    }
    assert samples(fams["node_network_device_id"])['{device="eth0"}'] == 0
    eth0 = {name: samples(f).get('{device="eth0"}') for name, f in fams.items()}
    assert eth0 == {
        "node_network_up": 1,
        "node_network_info": None,
        "node_network_address_assign_type": 0,
        "node_network_carrier": 1,
        "node_network_carrier_changes_total": 2,
        "node_network_carrier_up_changes_total": 1,
        "node_network_carrier_down_changes_total": 1,
        "node_network_device_id": 0,
        "node_network_dormant": 0,
        "node_network_flags": 4099,
        "node_network_iface_id": 4,
        "node_network_iface_link": 4,
        "node_network_iface_link_mode": 0,
        "node_network_mtu_bytes": 1400,
        "node_network_name_assign_type": 1,
        "node_network_net_dev_group": 0,
        "node_network_transmit_queue_length": 1000,
        "node_network_protocol_type": 1,
        "node_network_speed_bytes": -125000,
    }
    assert samples(fams["node_network_protocol_type"])['{device="lo"}'] == 772
    assert samples(fams["node_network_mtu_bytes"])['{device="lo"}'] == 65536
    types = {name: f.type for name, f in fams.items()}
    assert [n for n, t in types.items() if t == COUNTER] == [
        "node_network_carrier_changes_total",
        "node_network_carrier_up_changes_total",
        "node_network_carrier_down_changes_total",
    ]
    assert fams["node_network_mtu_bytes"].help == "Network device property: mtu_bytes"
    assert fams["node_network_up"].help == "Value is 1 if operstate is 'up', 0 otherwise."


def test_netclass_flags(tmp_path, monkeypatch):
    roots = netclass_tree(tmp_path, monkeypatch)
    fams = run(NetclassCollector(settings(roots, collector_netclass_ignore_invalid_speed=True)))
    assert samples(fams["node_network_speed_bytes"]) == {'{device="enp3s0"}': 125000000}

    fams = run(NetclassCollector(settings(roots, collector_netclass_ignored_devices="^(ifb|lo)")))
    assert set(samples(fams["node_network_up"])) == {'{device="enp3s0"}', '{device="eth0"}'}

    # The default "^$" ignores nothing; so does an unset value.
    fams = run(NetclassCollector(settings(roots, collector_netclass_ignored_devices=None)))
    assert len(samples(fams["node_network_up"])) == 5

    with pytest.raises(ConfigError, match="collector.netclass.ignored-devices"):
        NetclassCollector(settings(roots, collector_netclass_ignored_devices="(eth"))


def test_netclass_other_read_errors_fail(tmp_path, monkeypatch):
    roots = netclass_tree(tmp_path, monkeypatch)
    bad = str(roots["sys"] / "class" / "net" / "eth0" / "mtu")
    patched_open = os.open

    def eio_open(path, *args, **kw):
        if str(path) == bad:
            raise OSError(errno.EIO, os.strerror(errno.EIO), bad)
        return patched_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", eio_open)
    with pytest.raises(OSError) as info:
        run(NetclassCollector(settings(roots)))
    assert info.value.errno == errno.EIO


def test_netclass_without_class_net_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        run(NetclassCollector(settings(tree(tmp_path))))


# --------------------------------------------------------------------------- conntrack

# Kernel 6.x header; three CPUs of a busy host (values made to differ per CPU).
CONNTRACK_STAT = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000002e  00000000 00000003 00000000 0000001a 00000c1e 00000000 00000000 00000000 00000000 00000002 00000000 00000000  00000000 00000000 00000000 00000007
0000002e  00000001 00000004 00000000 00000005 00000290 00000000 00000000 00000000 00000001 00000000 00000000 00000000  00000000 00000000 00000000 00000000
0000002e  00000000 00000000 00000000 00000100 0000000a 00000000 00000000 00000000 00000000 00000000 00000003 00000000  00000000 00000000 00000000 0000000a
"""
# Kernel 4.19 header ("searched" and "delete_list" were renamed later).
CONNTRACK_STAT_419 = """\
entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000009  00000000 00000011 00000000 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001
"""


def test_parse_conntrack_stat_sums_cpus():
    totals = parse_conntrack_stat(CONNTRACK_STAT)
    assert totals["found"] == 7
    assert totals["invalid"] == 0x1A + 5 + 0x100
    assert totals["ignore"] == 0xC1E + 0x290 + 0xA
    assert totals["insert_failed"] == 1
    assert totals["drop"] == 2
    assert totals["early_drop"] == 3
    assert totals["search_restart"] == 17
    assert parse_conntrack_stat(CONNTRACK_STAT_419)["found"] == 17
    with pytest.raises(ValueError):
        parse_conntrack_stat("entries found\n00000001\n")
    with pytest.raises(ValueError):
        parse_conntrack_stat("")
    assert parse_uint("262144\n") == 262144


def test_conntrack_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "sys" / "net" / "netfilter" / "nf_conntrack_count", "46\n")
    write(roots["proc"] / "sys" / "net" / "netfilter" / "nf_conntrack_max", "262144\n")
    write(roots["proc"] / "net" / "stat" / "nf_conntrack", CONNTRACK_STAT)
    fams = run(ConntrackCollector(settings(roots)))
    assert values(fams) == {
        "node_nf_conntrack_entries": 46,
        "node_nf_conntrack_entries_limit": 262144,
        "node_nf_conntrack_stat_found": 7,
        "node_nf_conntrack_stat_invalid": 287,
        "node_nf_conntrack_stat_ignore": 3768,
        "node_nf_conntrack_stat_insert": 0,
        "node_nf_conntrack_stat_insert_failed": 1,
        "node_nf_conntrack_stat_drop": 2,
        "node_nf_conntrack_stat_early_drop": 3,
        "node_nf_conntrack_stat_search_restart": 17,
    }
    assert {f.type for f in fams.values()} == {GAUGE}
    assert (
        "# HELP node_nf_conntrack_entries_limit Maximum size of connection tracking table.\n"
        "# TYPE node_nf_conntrack_entries_limit gauge\n"
        "node_nf_conntrack_entries_limit 262144\n"
    ) in render_text(fams.values())


def test_conntrack_collector_without_module_fails_clearly(tmp_path):
    with pytest.raises(ConntrackUnavailable, match="nf_conntrack module is probably not loaded"):
        run(ConntrackCollector(settings(tree(tmp_path))))


# --------------------------------------------------------------------------- timex

# The raw fields adjtimex returned on the VM (clock not disciplined: STA_UNSYNC).
RAW_UNSYNCED = dict(
    offset=0,
    freq=0,
    maxerror=16000000,
    esterror=16000000,
    status=0x40,
    constant=2,
    tick=10000,
    ppsfreq=0,
    jitter=0,
    shift=0,
    stabil=0,
    jitcnt=0,
    calcnt=0,
    errcnt=0,
    stbcnt=0,
    tai=0,
)
# A host synchronised by chrony (STA_PLL | STA_NANO), with PPS counters.
RAW_CHRONY = dict(
    offset=-152300,
    freq=-1245184,
    maxerror=2500,
    esterror=12,
    status=0x2001,
    constant=7,
    tick=10000,
    ppsfreq=65536,
    jitter=4000,
    shift=2,
    stabil=131072,
    jitcnt=1,
    calcnt=2,
    errcnt=3,
    stbcnt=4,
    tai=37,
)


def named(pairs) -> dict:
    return {d.name: v for d, v in pairs}


def test_timex_values_unsynced():
    assert named(timex_values(TIME_ERROR, RAW_UNSYNCED)) == {
        "node_timex_sync_status": 0,
        "node_timex_offset_seconds": 0,
        "node_timex_frequency_adjustment_ratio": 1,
        "node_timex_maxerror_seconds": 16,
        "node_timex_estimated_error_seconds": 16,
        "node_timex_status": 64,
        "node_timex_loop_time_constant": 2,
        "node_timex_tick_seconds": 0.01,
        "node_timex_pps_frequency_hertz": 0,
        "node_timex_pps_jitter_seconds": 0,
        "node_timex_pps_shift_seconds": 0,
        "node_timex_pps_stability_hertz": 0,
        "node_timex_pps_jitter_total": 0,
        "node_timex_pps_calibration_total": 0,
        "node_timex_pps_error_total": 0,
        "node_timex_pps_stability_exceeded_total": 0,
        "node_timex_tai_offset_seconds": 0,
    }


def test_timex_values_synced_nanosecond_mode():
    v = named(timex_values(0, RAW_CHRONY))  # TIME_OK
    assert v["node_timex_sync_status"] == 1
    assert v["node_timex_offset_seconds"] == pytest.approx(-0.0001523)  # ns with STA_NANO
    assert v["node_timex_pps_jitter_seconds"] == pytest.approx(4e-6)
    assert v["node_timex_frequency_adjustment_ratio"] == pytest.approx(1 - 19 / 1e6, rel=1e-15)  # -19 ppm
    assert v["node_timex_maxerror_seconds"] == pytest.approx(0.0025)
    assert v["node_timex_estimated_error_seconds"] == pytest.approx(12e-6)
    assert v["node_timex_status"] == 0x2001
    assert v["node_timex_pps_frequency_hertz"] == pytest.approx(1e-6)
    assert v["node_timex_pps_stability_hertz"] == pytest.approx(2e-6)
    assert v["node_timex_pps_shift_seconds"] == 2
    assert (
        v["node_timex_pps_jitter_total"],
        v["node_timex_pps_calibration_total"],
        v["node_timex_pps_error_total"],
        v["node_timex_pps_stability_exceeded_total"],
    ) == (1, 2, 3, 4)
    assert v["node_timex_tai_offset_seconds"] == 37
    # Without STA_NANO the offset and jitter are microseconds; other states are "synchronised".
    micro = named(timex_values(4, dict(RAW_CHRONY, status=0x0001)))  # TIME_WAIT
    assert micro["node_timex_offset_seconds"] == pytest.approx(-0.1523)
    assert micro["node_timex_pps_jitter_seconds"] == pytest.approx(0.004)
    assert micro["node_timex_sync_status"] == 1
    assert STA_NANO == 0x2000


def test_struct_timex_layout():
    assert ctypes.sizeof(Timex) == LP64_TIMEX_SIZE == 208
    offsets = {name: getattr(Timex, name).offset for name, _ in Timex._fields_}
    assert offsets["offset"] == 8
    assert offsets["status"] == 40
    assert offsets["time_sec"] == 72
    assert offsets["tick"] == 88
    assert offsets["shift"] == 112
    assert offsets["stabil"] == 120
    assert offsets["tai"] == 160


def test_adjtimex_real_syscall_is_sane():
    state, raw = adjtimex_read()
    assert 0 <= state <= 5
    assert isinstance(raw["status"], int)
    v = named(timex_values(state, raw))
    assert v["node_timex_tick_seconds"] == pytest.approx(1 / os.sysconf("SC_CLK_TCK"), rel=0.01)
    assert 0.999 < v["node_timex_frequency_adjustment_ratio"] < 1.001  # the kernel caps freq at 500 ppm
    assert 0 <= v["node_timex_maxerror_seconds"] <= 16
    assert v["node_timex_sync_status"] == (0 if state == TIME_ERROR else 1)


def test_timex_collector():
    fams = run(TimexCollector(Settings()))
    assert len(fams) == 17
    types = {name: f.type for name, f in fams.items()}
    assert sorted(n for n, t in types.items() if t == COUNTER) == [
        "node_timex_pps_calibration_total",
        "node_timex_pps_error_total",
        "node_timex_pps_jitter_total",
        "node_timex_pps_stability_exceeded_total",
    ]
    assert "# HELP node_timex_tick_seconds Seconds between clock ticks.\n" in render_text(fams.values())


# --------------------------------------------------------------------------- selinux

SELINUX_CONFIG = """\
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=permissive
# SELINUXTYPE= can take one of these three values:
SELINUXTYPE=targeted
"""


def test_parse_selinux_config():
    assert parse_selinux_config(SELINUX_CONFIG) == 0
    assert parse_selinux_config('SELINUX="enforcing"\n') == 1
    assert parse_selinux_config("SELINUX=disabled\n") == -1
    assert parse_selinux_config("SELINUXTYPE=targeted\n") == -1
    assert parse_selinux_config("") == -1
    assert parse_enforce("1") == 1
    assert parse_enforce("0\n") == 0
    assert parse_enforce("") == -1


def test_selinux_collector_disabled(tmp_path):
    fams = run(SelinuxCollector(settings(tree(tmp_path))))
    assert values(fams) == {"node_selinux_enabled": 0}
    assert render_text(fams.values()) == (
        "# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n"
        "# TYPE node_selinux_enabled gauge\n"
        "node_selinux_enabled 0\n"
    )


def test_selinux_collector_enabled(tmp_path):
    roots = tree(tmp_path)
    write(roots["sys"] / "fs" / "selinux" / "enforce", "1")
    write(roots["root"] / "etc" / "selinux" / "config", SELINUX_CONFIG)
    write(roots["proc"] / "self" / "attr" / "current", "system_u:system_r:node_exporter_t:s0\x00")
    fams = run(SelinuxCollector(settings(roots)))
    assert values(fams) == {"node_selinux_enabled": 1, "node_selinux_config_mode": 0, "node_selinux_current_mode": 1}
    assert fams["node_selinux_config_mode"].help == "Configured SELinux enforcement mode"
    assert fams["node_selinux_current_mode"].help == "Current SELinux enforcement mode"

    # No config file: the configured mode reads as disabled (-1).
    os.remove(roots["root"] / "etc" / "selinux" / "config")
    assert values(run(SelinuxCollector(settings(roots))))["node_selinux_config_mode"] == -1

    # selinuxfs mounted but no policy loaded: every task has the "kernel" context.
    write(roots["proc"] / "self" / "attr" / "current", "kernel\x00")
    assert values(run(SelinuxCollector(settings(roots)))) == {"node_selinux_enabled": 0}
