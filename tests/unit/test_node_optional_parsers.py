"""Unit tests of the off-by-default host collectors (processes, interrupts, cpu info, stat softirqs) on fake
/proc trees, bad input included, and of the systemd collector's pure helpers."""

from __future__ import annotations

import pytest

from node_tree import run, samples, settings, tree, write

from exporters.core.errors import ConfigError
from exporters.node.cpu import CPUCollector
from exporters.node.interrupts import InterruptsCollector, parse_interrupts
from exporters.node.processes import ProcessesCollector, parse_pid_stat
from exporters.node.stat import StatCollector, parse_softirq
from exporters.node.systemd import parse_version, unit_path

INTERRUPTS = """\
           CPU0       CPU1
  0:         31          0   IO-APIC   2-edge      timer
  8:          0          1   IO-APIC   8-edge      rtc0
 24:        755        102   PCI-MSI 65536-edge      ehci_hcd:usb1, mmc0
NMI:          3          4   Non-maskable interrupts
ERR:          0
MIS:          0
"""


def stat_line(pid: int, comm: str, state: str, threads: int) -> str:
    rest = [state, "1"] + ["0"] * 15 + [str(threads)] + ["0"] * 20
    return f"{pid} ({comm}) " + " ".join(rest) + "\n"


def proc_tree(tmp_path):
    roots = tree(tmp_path)
    proc = roots["proc"]
    write(proc / "sys" / "kernel" / "threads-max", "63420\n")
    write(proc / "sys" / "kernel" / "pid_max", "4194304\n")
    write(proc / "1" / "stat", stat_line(1, "systemd", "S", 1))
    write(proc / "1" / "task" / "1" / "stat", stat_line(1, "systemd", "S", 1))
    write(proc / "42" / "stat", stat_line(42, "a (weird) name", "R", 2))
    write(proc / "42" / "task" / "42" / "stat", stat_line(42, "a (weird) name", "R", 2))
    write(proc / "42" / "task" / "43" / "stat", stat_line(43, "worker", "D", 2))
    (proc / "99").mkdir()  # a process that exited between the listing and the read
    return roots


def test_processes_counts_states_threads_and_limits(tmp_path):
    fams = run(ProcessesCollector(settings(proc_tree(tmp_path))), declared=True)
    assert samples(fams["node_processes_pids"]) == {"": 2}
    assert samples(fams["node_processes_threads"]) == {"": 3}
    assert samples(fams["node_processes_state"]) == {'{state="R"}': 1, '{state="S"}': 1}
    assert samples(fams["node_processes_threads_state"]) == {
        '{thread_state="D"}': 1,
        '{thread_state="R"}': 1,
        '{thread_state="S"}': 1,
    }
    assert samples(fams["node_processes_max_threads"]) == {"": 63420}
    assert samples(fams["node_processes_max_processes"]) == {"": 4194304}


def test_processes_truncated_stat_fails_the_collector_with_a_clear_error(tmp_path):
    roots = proc_tree(tmp_path)
    write(roots["proc"] / "42" / "stat", "42 (x) R 1 2")
    with pytest.raises(ValueError, match="short stat line"):
        run(ProcessesCollector(settings(roots)))


def test_pid_stat_with_parentheses_in_the_name():
    assert parse_pid_stat(stat_line(7, "x) (y", "Z", 5)) == ("Z", 5)


def test_interrupts_parse_and_labels(tmp_path):
    parsed = parse_interrupts(INTERRUPTS)
    assert parsed["24"] == ("PCI-MSI", "65536-edge ehci_hcd:usb1, mmc0", ["755", "102"])
    assert parsed["NMI"] == ("Non-maskable interrupts", "", ["3", "4"])
    assert "ERR" not in parsed
    roots = tree(tmp_path)
    write(roots["proc"] / "interrupts", INTERRUPTS)
    fam = run(InterruptsCollector(settings(roots)), declared=True)["node_interrupts_total"]
    got = samples(fam)
    assert got['{cpu="1",type="24",info="PCI-MSI",devices="65536-edge ehci_hcd:usb1, mmc0"}'] == 102
    assert got['{cpu="0",type="8",info="IO-APIC",devices="8-edge rtc0"}'] == 0  # zeros included by default
    no_zeros = run(
        InterruptsCollector(
            settings(roots, collector_interrupts_include_zeros=False, collector_interrupts_name_include="^(0|8|NMI);")
        )
    )
    assert set(samples(no_zeros["node_interrupts_total"])) == {
        '{cpu="0",type="0",info="IO-APIC",devices="2-edge timer"}',
        '{cpu="1",type="8",info="IO-APIC",devices="8-edge rtc0"}',
        '{cpu="0",type="NMI",info="Non-maskable interrupts",devices=""}',
        '{cpu="1",type="NMI",info="Non-maskable interrupts",devices=""}',
    }


def test_interrupts_bad_value_and_bad_regex(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "interrupts", INTERRUPTS.replace("755", "7x5"))
    with pytest.raises(ValueError, match=r"invalid value '7x5' in /proc/interrupts"):
        run(InterruptsCollector(settings(roots)))
    with pytest.raises(ConfigError, match="--collector.interrupts.name-exclude"):
        InterruptsCollector(settings(roots, collector_interrupts_name_exclude="("))


CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 142
model name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
stepping\t: 10
microcode\t: 0xb4
cpu MHz\t\t: 799.998
cache size\t: 8192 KB
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu vme aes avx avx2
bugs\t\t: cpu_meltdown spectre_v1 mds
power management:

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 142
model name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
stepping\t: 10
microcode\t: 0xb4
cpu MHz\t\t: 800.037
cache size\t: 8192 KB
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu vme aes avx avx2
bugs\t\t: cpu_meltdown spectre_v1 mds
"""


def test_cpu_info_series(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    write(roots["proc"] / "cpuinfo", CPUINFO)
    fams = run(CPUCollector(settings(roots, collector_cpu_info_flags_include="^avx")), declared=True)
    info = samples(fams["node_cpu_info"])
    assert len(info) == 2
    assert (
        info[
            '{package="0",core="1",cpu="1",vendor="GenuineIntel",family="6",model="142",model_name="Intel(R) '
            'Core(TM) i7-8650U CPU @ 1.90GHz",microcode="0xb4",stepping="10",cachesize="8192 KB"}'
        ]
        == 1
    )
    assert samples(fams["node_cpu_flag_info"]) == {'{flag="avx"}': 1, '{flag="avx2"}': 1}
    assert "node_cpu_bug_info" not in fams  # no bugs filter: no series, as node_exporter
    assert "node_cpu_info" not in run(CPUCollector(settings(roots)))  # off by default


def test_cpu_info_garbage_fails_the_cpu_collector(tmp_path):
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "cpu0 1 0 1 1 0 0 0 0 0 0\n")
    write(roots["proc"] / "cpuinfo", "model name\t: x\n")
    with pytest.raises(ValueError, match="does not start with a processor line"):
        run(CPUCollector(settings(roots, collector_cpu_info=True)))


def test_stat_softirq(tmp_path):
    line = "softirq 111367 0 18395 4 1733 34962 0 4 40416 0 15853\n"
    assert parse_softirq(line)["rcu"] == 15853 and parse_softirq(line)["hi"] == 0
    roots = tree(tmp_path)
    write(roots["proc"] / "stat", "ctxt 5\n" + line)
    fams = run(StatCollector(settings(roots, collector_stat_softirq=True)), declared=True)
    assert samples(fams["node_softirqs_total"])['{vector="net_rx"}'] == 1733
    assert "node_softirqs_total" not in run(StatCollector(settings(roots)))


def test_systemd_object_paths_and_versions():
    assert unit_path("getty@tty1.service") == "/org/freedesktop/systemd1/unit/getty_40tty1_2eservice"
    assert unit_path("1-x_y.socket") == "/org/freedesktop/systemd1/unit/_31_2dx_5fy_2esocket"
    assert parse_version("252.38-1~deb12u1") == (252.38, "252.38-1~deb12u1")
    assert parse_version("v99") == (0.0, "")


def test_ethtool_statistic_names_as_node_exporter_spells_them():
    from exporters.node.ethtool import stat_name

    assert stat_name("rx_queue_0_bytes") == "node_ethtool_received_queue_0_bytes"
    assert stat_name("tx0_tx_timeouts") == "node_ethtool_tx0_transmitted_timeouts"
    assert stat_name("rx0_xdp_tx") == "node_ethtool_rx0_xdp_transmitted"
    assert stat_name("Rx-CRC errors") == "node_ethtool_received_crc_errors"
