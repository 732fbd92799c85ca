"""node_exporter 1.9 and ours on node_exporter's own recorded hardware (tests/data/node-fixtures), with the
same flags: every sample 1.9 serves (name, labels, value) must be served by ours, collector by collector,
in a family of the same type and help text, and ours must serve no other series in those families.

How to extend (several people do, in parallel):
- a collector of 1.9 gets its families through FAMILY_PREFIX (longest prefix wins);
- while nobody has built a collector yet, its name is in NOT_YET_IMPLEMENTED: the per-collector test
  leaves it out, and test_every_collector_of_1_9_is_implemented stays red until the set is empty.
  Finishing a collector means removing its name from that set, nothing else;
- a sample that legitimately differs (it reads the live host, not the fixture tree) goes into EXCEPTIONS
  with its reason;
- where 1.9 and Debian 12's 1.5 differ, ours follows 1.9; each such difference is named in
  DIFFERENCES_FROM_1_5 (test_differences_from_1_5_are_listed; docs/node.md shows the same list), and
  test_ours_follows_1_9_where_1_5_differs checks that ours serves 1.9's version.

Run with ``-s`` to see the per-collector match counts (e.g. ``hwmon 136/136``).
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from conftest import (
    ROOT,
    exporter_cmd,
    newer_go_binary,
    parse_families,
    require_program,
    samples,
    start_exporter,
    start_go_exporter,
)

# The same for 1.9, 1.5 and ours: the fixture tree, and no collector that reads the live host's mounts,
# clock, kernel name or SELinux state (the fixture has none of them).
COMMON_FLAGS = (
    "--path.procfs={tree}/proc",
    "--path.sysfs={tree}/sys",
    "--path.udev.data={tree}/udev/data",
    "--no-collector.filesystem",
    "--no-collector.time",
    "--no-collector.timex",
    "--no-collector.uname",
    "--no-collector.selinux",
)
# Flags that turn a Go exporter from the live host to the fixture tree. Ours gets each one its --help
# lists (every 1.9 flag is accepted once that work is merged); a flag ours does not know yet is left out
# for ours, which reads the fixture anyway.
GO_FLAGS = (
    "--no-collector.systemd",  # Debian enables it by default; it asks the live host's systemd over D-Bus
    "--no-collector.netdev.netlink",  # 1.9's default reads the live host's interfaces over netlink
    "--no-collector.arp.netlink",  # 1.9's default reads the live host's neighbour table over netlink
)
GO_ONLY_1_9 = {"--no-collector.arp.netlink"}  # 1.5 has no such flag

# Family name prefix -> the 1.9 collector that serves it. The longest matching prefix wins;
# node_scrape_collector_success{collector="X"} belongs to X.
FAMILY_PREFIX = {
    "node_arp_": "arp",
    "node_bcache_": "bcache",
    "node_bonding_": "bonding",
    "node_btrfs_": "btrfs",
    "node_nf_conntrack_": "conntrack",
    "node_cpu_seconds_total": "cpu",
    "node_cpu_guest_seconds_total": "cpu",
    "node_cpu_core_throttles_total": "cpu",
    "node_cpu_package_throttles_total": "cpu",
    "node_cpu_isolated": "cpu",
    "node_cpu_info": "cpu",
    "node_cpu_flag_info": "cpu",
    "node_cpu_bug_info": "cpu",
    "node_cpu_frequency_": "cpufreq",
    "node_cpu_scaling_": "cpufreq",
    "node_disk_": "diskstats",
    "node_dmi_": "dmi",
    "node_edac_": "edac",
    "node_entropy_": "entropy",
    "node_fibrechannel_": "fibrechannel",
    "node_filefd_": "filefd",
    "node_hwmon_": "hwmon",
    "node_infiniband_": "infiniband",
    "node_ipvs_": "ipvs",
    "node_load": "loadavg",
    "node_md_": "mdadm",
    "node_memory_": "meminfo",
    "node_network_": "netclass",
    "node_network_receive_": "netdev",
    "node_network_transmit_": "netdev",
    "node_network_transmit_queue_length": "netclass",
    "node_netstat_": "netstat",
    "node_nfs_": "nfs",
    "node_nfsd_": "nfsd",
    "node_nvme_": "nvme",
    "node_os_": "os",
    "node_power_supply_": "powersupplyclass",
    "node_pressure_": "pressure",
    "node_rapl_": "rapl",
    "node_schedstat_": "schedstat",
    "node_sockstat_": "sockstat",
    "node_softnet_": "softnet",
    "node_boot_time_seconds": "stat",
    "node_context_switches_total": "stat",
    "node_forks_total": "stat",
    "node_intr_total": "stat",
    "node_procs_blocked": "stat",
    "node_procs_running": "stat",
    "node_systemd_": "systemd",
    "node_tape_": "tapestats",
    "node_textfile_": "textfile",
    "node_thermal_zone_": "thermal_zone",
    "node_cooling_device_": "thermal_zone",
    "node_udp_queues": "udp_queues",
    "node_vmstat_": "vmstat",
    "node_watchdog_": "watchdog",
    "node_xfs_": "xfs",
    "node_zfs_": "zfs",
}
COLLECTORS = sorted(set(FAMILY_PREFIX.values()) - {"systemd"})  # systemd: off here (GO_FLAGS)

# Collectors of 1.9 nobody has built yet. Remove a name when its collector is done; the summary test
# fails while this set is not empty.
NOT_YET_IMPLEMENTED = {}

# Series (matched from the start of 'name{label="value",...}', labels sorted) that are not compared,
# each with the reason.
EXCEPTIONS = {
    r"go_": "the Go runtime's own metrics; ours is not a Go program",
    r"process_": "the exporter process itself (memory, CPU, file descriptors), not the host",
    r"promhttp_": "the Go HTTP handler's own counters",
    r"node_scrape_collector_duration_seconds\{": "how long each collector took: timing, differs run to run",
    r"node_exporter_build_info\{": "its version, revision and branch labels name the build that serves it",
    r"node_textfile_": "the textfile directory is a live host directory (Debian sets one by default), not the fixture",
    r"node_os_": "read from the live host's /etc/os-release (--path.rootfs is /), not the fixture",
}
EXCEPTION_RE = re.compile("|".join(f"(?:{p})" for p in EXCEPTIONS))

# Where Debian 12's node_exporter 1.5 serves something else than 1.9 on the same tree (ours follows 1.9):
# family name pattern -> what changed. test_differences_from_1_5_are_listed keeps this list complete and true.
DIFFERENCES_FROM_1_5 = {
    r"node_btrfs_(commit_seconds_total|commits_total|last_commit_seconds|max_commit_seconds)$": "1.9 adds btrfs transaction commit statistics",
    r"node_cpu_scaling_governor$": "1.9 adds the cpufreq governor of each CPU (one series per available governor)",
    r"node_disk_info$": "1.9 adds the rotational label",
    r"node_fibrechannel_": "1.5 fails on this tree's fibrechannel hosts; 1.9 reads them",
    r"node_hwmon_freq_freq_mhz$": "1.9 reads hwmon freqN_input files (GPU clocks)",
    r"node_hwmon_sensor_label$": "1.9 also labels freq sensors",
    r"node_netstat_TcpExt_(TCPOFOQueue|TCPRcvQDrop)$": "1.9 adds two TcpExt counters to the default field set",
    r"node_network_info$": "1.9 adds the adminstate label",
    r"node_nfsd_": "1.5 fails on this tree's /proc/net/rpc/nfsd (a newer layout); 1.9 reads it",
    r"node_pressure_irq_stalled_seconds_total$": "1.9 adds IRQ pressure (/proc/pressure/irq)",
    r"node_scrape_collector_success$": "collectors 1.5 fails on this tree (fibrechannel, nfsd) succeed in 1.9",
    r"node_softnet_(backlog_len|cpu_collision_total|flow_limit_count_total|received_rps_total)$": "1.9 adds these /proc/net/softnet_stat columns",
    r"node_watchdog_": "1.9 adds the watchdog collector (default on); 1.5 has none",
    r"node_zfs_arc_memory_available_bytes$": "1.9 reads this newer arcstats field",
    r"node_zfs_dbuf_": "1.9 adds the dbufstats kstat",
    r"node_zfs_zpool_dataset_": "1.9 keeps the spaces of a dataset name in the dataset label",
    r"node_zfs_zpool_state$": "1.9 adds the pool state",
}


def series(name: str, labels: tuple) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def collector_of(name: str, labels: tuple) -> str | None:
    if name in ("node_scrape_collector_success", "node_scrape_collector_duration_seconds"):
        return dict(labels).get("collector")
    best = max((p for p in FAMILY_PREFIX if name.startswith(p)), key=len, default=None)
    return FAMILY_PREFIX[best] if best else None


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def flags_for(tree: Path, go_flags=GO_FLAGS) -> list[str]:
    return [f.format(tree=tree) for f in COMMON_FLAGS] + list(go_flags)


def our_flags(tree: Path) -> list[str]:
    """The common flags, and each of GO_FLAGS that our --help lists."""
    help_text = subprocess.run(exporter_cmd("node", "--help"), capture_output=True, text=True, cwd=ROOT).stdout
    return flags_for(tree, [f for f in GO_FLAGS if re.search(re.escape(f) + r"\b", help_text)])


@pytest.fixture(scope="module")
def scrapes(node_fixture_tree, tmp_path_factory) -> dict[str, dict]:
    """{"1.9": samples, "ours": samples} of one scrape each on the fixture tree."""
    logs = tmp_path_factory.mktemp("node-fixtures-run")
    go19 = start_go_exporter(
        newer_go_binary("prometheus-node-exporter"),
        *flags_for(node_fixture_tree),
        log_path=logs / "node_exporter-1.9.log",
    )
    try:
        ours = start_exporter(logs, *our_flags(node_fixture_tree))
        try:
            go_text, our_text = go19.get().text, ours.get().text
            return {
                "1.9": samples(go_text),
                "ours": samples(our_text),
                "ours_log": ours.log(),
                "types": {"1.9": sample_types(go_text), "ours": sample_types(our_text)},
            }
        finally:
            ours.stop()
    finally:
        go19.stop()


@pytest.fixture(scope="module")
def scrape_1_5(node_fixture_tree, tmp_path_factory) -> dict:
    binary = require_program("prometheus-node-exporter")
    logs = tmp_path_factory.mktemp("node-fixtures-1.5")
    go15 = start_go_exporter(
        binary,
        *flags_for(node_fixture_tree, [f for f in GO_FLAGS if f not in GO_ONLY_1_9]),
        log_path=logs / "node_exporter-1.5.log",
    )
    try:
        return samples(go15.get().text)
    finally:
        go15.stop()


def sample_types(text: str) -> dict[str, tuple[str, str]]:
    """{sample name: (type, help) of its family}."""
    return {s.name: (fam.type, fam.documentation) for fam in parse_families(text).values() for s in fam.samples}


def by_collector(scrape: dict) -> dict[str | None, dict]:
    out: dict[str | None, dict] = {}
    for (name, labels), v in scrape.items():
        if EXCEPTION_RE.match(series(name, labels)):
            continue
        out.setdefault(collector_of(name, labels), {})[(name, labels)] = v
    return out


def compare(reference: dict, ours: dict) -> tuple[int, list[str]]:
    """(samples of ``reference`` reproduced exactly, problems): missing, different, or only in ours."""
    matched, problems = 0, []
    for key, want in sorted(reference.items()):
        got = ours.get(key)
        if got is None:
            problems.append(f"missing   {series(*key)} {want}")
        elif not same(got, want):
            problems.append(f"different {series(*key)}: ours {got}, node_exporter {want}")
        else:
            matched += 1
    families = {name for name, _ in reference}
    problems += [
        f"extra     {series(*key)} {v}"
        for key, v in sorted(ours.items())
        if key not in reference and key[0] in families
    ]
    return matched, problems


def test_every_1_9_family_belongs_to_a_known_collector(scrapes):
    """A family FAMILY_PREFIX does not place would be compared by no test."""
    unplaced = sorted({name for name, labels in by_collector(scrapes["1.9"]).get(None, {})})
    assert not unplaced, f"add these families to FAMILY_PREFIX: {unplaced}"
    succeeded = {
        dict(l)["collector"] for (n, l), v in scrapes["1.9"].items() if n == "node_scrape_collector_success" and v == 1
    }
    assert succeeded <= set(COLLECTORS), (
        f"1.9 collectors missing from FAMILY_PREFIX: {sorted(succeeded - set(COLLECTORS))}"
    )
    assert len(succeeded) >= 40, sorted(succeeded)


@pytest.mark.parametrize("collector", [c for c in COLLECTORS if c not in NOT_YET_IMPLEMENTED])
def test_collector_reproduces_1_9_samples(scrapes, collector):
    reference = by_collector(scrapes["1.9"]).get(collector, {})
    ours = by_collector(scrapes["ours"]).get(collector, {})
    matched, problems = compare(reference, ours)
    types = scrapes["types"]
    problems += [
        f"type/help {name}: ours {types['ours'][name]}, node_exporter {types['1.9'][name]}"
        for name in sorted({n for n, _ in reference} & set(types["ours"]))
        if types["ours"][name] != types["1.9"][name]
    ]
    print(f"{collector} {matched}/{len(reference)}")
    assert reference, f"1.9 serves nothing of {collector} on the fixture tree"
    assert not problems, f"{collector}: {matched}/{len(reference)} samples of 1.9 reproduced\n" + "\n".join(problems)


def test_every_collector_of_1_9_is_implemented(scrapes):
    """Red until every collector 1.9 runs on the tree is built (NOT_YET_IMPLEMENTED is empty).
    Prints every collector's match count."""
    reference, ours = by_collector(scrapes["1.9"]), by_collector(scrapes["ours"])
    lines, total, total_matched = [], 0, 0
    for collector in COLLECTORS:
        matched, _ = compare(reference.get(collector, {}), ours.get(collector, {}))
        n = len(reference.get(collector, {}))
        total, total_matched = total + n, total_matched + matched
        lines.append(f"{collector} {matched}/{n}")
    print("\n".join(lines) + f"\nall {total_matched}/{total}")
    missing = sorted(c for c in COLLECTORS if c in reference and c not in ours)
    done_but_listed = sorted(c for c in NOT_YET_IMPLEMENTED if c in ours)
    assert not done_but_listed, f"implemented now, remove from NOT_YET_IMPLEMENTED: {done_but_listed}"
    assert not missing and not NOT_YET_IMPLEMENTED, (
        f"collectors of 1.9 entirely missing in ours: {missing}; NOT_YET_IMPLEMENTED: {sorted(NOT_YET_IMPLEMENTED)}"
    )


def test_differences_from_1_5_are_listed(scrapes, scrape_1_5):
    """Every family in which 1.5 and 1.9 differ on the tree (a series only one has, or another value) is named in
    DIFFERENCES_FROM_1_5, and every entry there is such a family: the list the node docs give stays complete."""
    go19, go15 = scrapes["1.9"], scrape_1_5
    keys = {k for k in set(go19) | set(go15) if not EXCEPTION_RE.match(series(*k))}
    differing = sorted({k[0] for k in keys if k not in go19 or k not in go15 or not same(go19[k], go15[k])})
    listed = {p: re.compile(p) for p in DIFFERENCES_FROM_1_5}
    unlisted = [name for name in differing if not any(rx.match(name) for rx in listed.values())]
    stale = [p for p, rx in listed.items() if not any(rx.match(name) for name in differing)]
    assert not unlisted, f"1.5 and 1.9 differ in these families; name the change in DIFFERENCES_FROM_1_5: {unlisted}"
    assert not stale, f"1.5 and 1.9 agree here; drop from DIFFERENCES_FROM_1_5: {stale}"


def test_node_docs_list_every_difference_from_1_5():
    """docs/node.md gives the user the same list as DIFFERENCES_FROM_1_5."""
    docs = (ROOT / "docs" / "node.md").read_text()
    missing = [reason for reason in DIFFERENCES_FROM_1_5.values() if reason not in docs]
    assert not missing, f"add to docs/node.md: {missing}"


def test_ours_follows_1_9_where_1_5_differs(scrapes, scrape_1_5):
    """Where 1.5 serves a series that 1.9 does not (an older label set) or another value, ours has 1.9's."""
    go19, ours = scrapes["1.9"], scrapes["ours"]
    problems = []
    for key, old in sorted(scrape_1_5.items()):
        if EXCEPTION_RE.match(series(*key)) or collector_of(*key) in NOT_YET_IMPLEMENTED:
            continue
        if key not in go19 and key in ours:
            problems.append(f"{series(*key)}: 1.5's series, which 1.9 no longer serves")
        elif key in go19 and not same(go19[key], old) and not (key in ours and same(ours[key], go19[key])):
            problems.append(f"{series(*key)}: 1.9 {go19[key]}, 1.5 {old}, ours {ours.get(key)}")
    assert not problems, "\n".join(problems)


# Collector flags of 1.9 that change what the hardware collectors serve: both exporters get them, and the
# samples of those collectors must still agree.
FLAG_VARIANTS = (
    "--collector.rapl.enable-zone-label",
    "--collector.hwmon.chip-include=^platform_",
    "--collector.hwmon.sensor-exclude=coretemp_0;temp[23]",
    "--collector.powersupply.ignored-supplies=^AC$",
)


def test_collector_flags_change_the_samples_as_in_1_9(node_fixture_tree, tmp_path):
    logs = tmp_path
    only = [f"--collector.{c}" for c in ("rapl", "hwmon", "powersupplyclass")]
    common = [f.format(tree=node_fixture_tree) for f in COMMON_FLAGS[:3]] + [
        "--collector.disable-defaults",
        *only,
        *FLAG_VARIANTS,
    ]
    go19 = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *common, log_path=logs / "go.log")
    try:
        ours = start_exporter(logs, *common)
        try:
            reference, got = by_collector(samples(go19.get().text)), by_collector(samples(ours.get().text))
        finally:
            ours.stop()
    finally:
        go19.stop()
    assert any(name == "node_rapl_joules_total" for name, _ in reference["rapl"])
    assert all(
        dict(labels)["chip"].startswith("platform_")
        for name, labels in reference["hwmon"]
        if name.startswith("node_hwmon_") and "chip" in dict(labels)
    )
    for collector in ("rapl", "hwmon", "powersupplyclass"):
        matched, problems = compare(reference[collector], got.get(collector, {}))
        assert not problems, f"{collector} with {FLAG_VARIANTS}:\n" + "\n".join(problems)
