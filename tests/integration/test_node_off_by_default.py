"""The off-by-default collectors dashboards and node-mixin use (processes, interrupts, cpu --collector.cpu.info)
on node_exporter's recorded hardware: ours and node_exporter 1.9 with the same flags give the same samples."""

from __future__ import annotations

import re

import pytest

from conftest import newer_go_binary, parse_families, samples, start_go_exporter

from exporters.node.registry import node_collectors

FAMILIES = re.compile(
    r"^node_(processes_|interrupts_total|cpu_(info|flag_info|bug_info|frequency_hertz)$|softirqs_"
    r"|buddyinfo_|ksmd_|cpu_vulnerabilities_|memory_numa_|slabinfo_|xfrm_|lnstat_|sysctl_|zoneinfo_"
    r"|cgroups_|drbd_|mountstats_)"
)
COLLECTORS = (
    "processes",
    "interrupts",
    "softirqs",
    "buddyinfo",
    "ksmd",
    "cpu_vulnerabilities",
    "meminfo_numa",
    "slabinfo",
    "xfrm",
    "lnstat",
    "sysctl",
    "zoneinfo",
    "cgroups",
    "drbd",
    "mountstats",
)


def flags(tree):
    return (
        f"--path.procfs={tree / 'proc'}",
        f"--path.sysfs={tree / 'sys'}",
        "--collector.disable-defaults",
        *(f"--collector.{c}" for c in COLLECTORS),
        "--collector.cpu",
        "--collector.cpu.info",
        "--collector.stat",
        "--collector.stat.softirq",
        "--collector.sysctl.include=kernel.threads-max",
        "--collector.sysctl.include=fs.file-nr",
        "--collector.sysctl.include=fs.file-nr:a,b,c",
        "--collector.sysctl.include-info=kernel.seccomp.actions_avail",
        "--collector.cpu.info.flags-include=^(aes|avx.?|constant_tsc)$",
        "--collector.cpu.info.bugs-include=^(cpu_meltdown|spectre_.*|mds)$",
    )


@pytest.fixture(scope="module")
def both(node_fixture_tree, tmp_path_factory):
    from conftest import start_exporter

    tmp = tmp_path_factory.mktemp("off-by-default")
    ours = start_exporter(tmp, *flags(node_fixture_tree))
    go = start_go_exporter(
        newer_go_binary("prometheus-node-exporter"), *flags(node_fixture_tree), log_path=tmp / "go.log"
    )
    try:
        yield ours.get().text, go.get().text
    finally:
        ours.stop()
        go.stop()


def chosen(text: str) -> dict:
    out = {k: v for k, v in samples(text).items() if FAMILIES.match(k[0])}
    if "cpufreq" not in node_collectors.names():
        # node_exporter serves node_cpu_frequency_hertz from /proc/cpuinfo when its cpufreq collector is off;
        # without a cpufreq collector of ours there is nothing to turn off
        out = {k: v for k, v in out.items() if k[0] != "node_cpu_frequency_hertz"}
    return out


def test_same_samples_as_node_exporter_1_9(both):
    ours, go = both
    expected = chosen(go)
    assert {k[0] for k in expected} >= {
        "node_processes_threads",
        "node_processes_state",
        "node_interrupts_total",
        "node_cpu_info",
        "node_cpu_flag_info",
        "node_cpu_bug_info",
        "node_softirqs_functions_total",
        "node_softirqs_total",
        "node_buddyinfo_blocks",
        "node_ksmd_sleep_seconds",
        "node_cpu_vulnerabilities_info",
        "node_memory_numa_MemFree",
        "node_memory_numa_numa_hit_total",
        "node_slabinfo_objects",
        "node_xfrm_in_error_packets_total",
        "node_lnstat_allocs_total",
        "node_sysctl_kernel_threads_max",
        "node_sysctl_fs_file_nr",
        "node_sysctl_fs_file_nr_b",
        "node_sysctl_info",
        "node_zoneinfo_protection_0",
        "node_zoneinfo_numa_hit_total",
        "node_cgroups_enabled",
        "node_drbd_connected",
        "node_drbd_disk_state_is_up_to_date",
        "node_mountstats_nfs_operations_requests_total",
        "node_mountstats_nfs_transport_idle_time_seconds",
    }
    assert chosen(ours) == expected


def test_same_types_and_success(both):
    ours, go = both
    # the parser names a counter family without _total
    types = lambda text: {
        n: f.type
        for n, f in parse_families(text).items()  # noqa: E731
        if FAMILIES.match(n) or FAMILIES.match(n + "_total")
    }
    assert types(ours).items() >= {k: v for k, v in types(go).items() if k != "node_cpu_frequency_hertz"}.items()
    helps = lambda text: {
        n: f.documentation
        for n, f in parse_families(text).items()  # noqa: E731
        if FAMILIES.match(n) or FAMILIES.match(n + "_total")
    }
    helps_ours, helps_go = helps(ours), helps(go)
    shared = set(helps_ours) & set(helps_go)
    assert len(shared) > 100 and {n: helps_ours[n] for n in shared} == {n: helps_go[n] for n in shared}
    success = lambda text: {
        dict(l)["collector"]: v
        for (n, l), v in samples(text).items()  # noqa: E731,E741
        if n == "node_scrape_collector_success" and dict(l)["collector"] in COLLECTORS
    }
    assert success(ours) == success(go) == dict.fromkeys(COLLECTORS, 1)


def test_node_exporter_build_info_beside_ours(both, node_exporter_ours):
    """Dashboards (node-mixin's instance variable) read node_exporter_build_info: same labels as 1.9's, our version."""
    from exporters import __version__

    _, go = both
    ours = parse_families(node_exporter_ours.get().text)
    go_labels = set(parse_families(go)["node_exporter_build_info"].samples[0].labels)
    (sample,) = ours["node_exporter_build_info"].samples
    assert set(sample.labels) == go_labels
    assert sample.labels["version"] == __version__ and sample.labels["goversion"].startswith("python3.")
    assert sample.labels["goos"] == "linux" and sample.value == 1
    assert "flextime_exporter_build_info" in ours


def test_tcpstat_counts_this_hosts_sockets_as_1_9_does(tmp_path):
    """tcpstat asks the kernel (netlink sock_diag), not /proc: on this live host, with three listeners of the
    test's own open, both exporters count them; other programs' sockets come and go, hence the tolerance."""
    import socket

    from conftest import start_exporter

    listeners = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        listeners.append(s)
    flags = ("--collector.disable-defaults", "--collector.tcpstat")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        states = lambda text: {
            dict(l)["state"]: v
            for (n, l), v in samples(text).items()  # noqa: E731,E741
            if n == "node_tcp_connection_states"
        }
        mine, theirs = states(ours.get().text), states(go.get().text)
    finally:
        ours.stop()
        go.stop()
        for s in listeners:
            s.close()
    assert mine["listen"] >= 3 + 2  # ours, the reference's own listener and the three
    assert abs(mine["listen"] - theirs["listen"]) <= 10, (mine, theirs)
    assert {"established", "listen", "rx_queued_bytes", "tx_queued_bytes"} <= set(mine)
    assert set(mine) <= {
        "established",
        "syn_sent",
        "syn_recv",
        "fin_wait1",
        "fin_wait2",
        "time_wait",
        "close",
        "close_wait",
        "last_ack",
        "listen",
        "closing",
        "rx_queued_bytes",
        "tx_queued_bytes",
    }


def test_network_route_same_routes_as_1_9(tmp_path):
    """network_route asks the kernel (rtnetlink), not /proc: on this live host (its routes do not move during the
    test) both exporters give the same series."""
    from conftest import start_exporter

    flags = ("--collector.disable-defaults", "--collector.network_route")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        routes = lambda text: {
            k: v
            for k, v in samples(text).items()  # noqa: E731
            if k[0] in ("node_network_route_info", "node_network_routes")
        }
        mine, theirs = routes(ours.get().text), routes(go.get().text)
    finally:
        ours.stop()
        go.stop()
    assert any(k[0] == "node_network_routes" for k in theirs)
    assert mine == theirs


def test_supervisord_same_series_as_1_9(tmp_path):
    """supervisord's XML-RPC answered by a scripted supervisor.getAllProcessInfo on a loopback port (no
    supervisord here): ours and 1.9 give the same samples; a supervisord that does not answer costs the collector."""
    import threading
    from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

    from conftest import start_exporter, value

    class Quiet(SimpleXMLRPCRequestHandler):
        rpc_paths = ("/RPC2",)

        def log_message(self, *args):
            pass

    processes = [
        {
            "name": "web",
            "group": "app",
            "start": 1765000000,
            "stop": 0,
            "now": 1765000100,
            "state": 20,
            "statename": "RUNNING",
            "spawnerr": "",
            "exitstatus": 0,
            "pid": 4242,
        },
        {
            "name": "worker-1",
            "group": "workers",
            "start": 1765000000,
            "stop": 1765000050,
            "now": 1765000100,
            "state": 100,
            "statename": "EXITED",
            "spawnerr": "",
            "exitstatus": 3,
            "pid": 0,
        },
        {
            "name": "cron",
            "group": "cron",
            "start": 1765000010,
            "stop": 0,
            "now": 1765000100,
            "state": 10,
            "statename": "STARTING",
            "spawnerr": "",
            "exitstatus": 0,
            "pid": 99,
        },
    ]
    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Quiet, logRequests=False, allow_none=True)
    server.register_function(lambda: processes, "supervisor.getAllProcessInfo")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flags = (
        "--collector.disable-defaults",
        "--collector.supervisord",
        f"--collector.supervisord.url=http://127.0.0.1:{server.server_address[1]}/RPC2",
    )
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        chosen = lambda text: {k: v for k, v in samples(text).items() if k[0].startswith("node_supervisord_")}  # noqa: E731
        mine, theirs = chosen(ours.get().text), chosen(go.get().text)
        assert len(theirs) == 3 * 3 + 2
        assert mine == theirs
        types = lambda text: {
            n: f.type
            for n, f in parse_families(text).items()  # noqa: E731
            if n.startswith("node_supervisord_")
        }
        assert types(ours.get().text) == types(go.get().text)
        server.shutdown()
        server.server_close()
        assert value(ours.get().text, "node_scrape_collector_success", collector="supervisord") == 0
    finally:
        ours.stop()
        go.stop()


def test_runit_same_series_as_1_9(tmp_path):
    """runit services as runsv leaves them (supervise/status records, a down file), in a temporary service
    directory: ours and 1.9 give the same samples."""
    from conftest import start_exporter

    services = tmp_path / "service"

    def service(name: str, state: int, want: bytes, changed: int, down: bool = False, status: bool = True) -> None:
        supervise = services / name / "supervise"
        supervise.mkdir(parents=True)
        if status:
            record = (changed + 4611686018427387914).to_bytes(8, "big") + bytes(4) + (4242).to_bytes(4, "little")
            (supervise / "status").write_bytes(record + b"\0" + want + b"\0" + bytes([state]))
        if down:
            (supervise / "down").write_text("")

    service("web", 1, b"u", 1765000000)
    service("batch", 0, b"d", 1764000000, down=True)
    service("finishing", 2, b"u", 1765000500)
    service("no-runsv", 1, b"u", 0, status=False)
    (services / "not-a-service").write_text("")
    flags = ("--collector.disable-defaults", "--collector.runit", f"--collector.runit.servicedir={services}")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        chosen = lambda text: {k: v for k, v in samples(text).items() if k[0].startswith("node_service_")}  # noqa: E731
        mine, theirs = chosen(ours.get().text), chosen(go.get().text)
    finally:
        ours.stop()
        go.stop()
    assert len(theirs) == 3 * 4
    assert mine == theirs


def test_drm_same_series_as_1_9(tmp_path):
    """An AMD GPU and another card in a temporary sysfs tree: ours and 1.9 give the same samples."""
    from conftest import start_exporter

    sysfs = tmp_path / "sys"
    amd = sysfs / "class" / "drm" / "card0" / "device"
    amd.mkdir(parents=True)
    files = {
        "uevent": "DRIVER=amdgpu\nPCI_ID=1002:67DF\n",
        "gpu_busy_percent": "4\n",
        "mem_info_gtt_total": "8573157376\n",
        "mem_info_gtt_used": "144560128\n",
        "mem_info_vis_vram_total": "8573157376\n",
        "mem_info_vis_vram_used": "1490378752\n",
        "mem_info_vram_total": "8573157376\n",
        "mem_info_vram_used": "1490378752\n",
        "mem_info_vram_vendor": "samsung\n",
        "power_dpm_force_performance_level": "manual\n",
        "unique_id": "0123456789abcdef\n",
    }
    for name, text in files.items():
        (amd / name).write_text(text)
    other = sysfs / "class" / "drm" / "card1" / "device"
    other.mkdir(parents=True)
    (other / "uevent").write_text("DRIVER=i915\n")
    (other / "gpu_busy_percent").write_text("50\n")
    flags = ("--collector.disable-defaults", "--collector.drm", f"--path.sysfs={sysfs}")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        chosen = lambda text: {k: v for k, v in samples(text).items() if k[0].startswith("node_drm_")}  # noqa: E731
        mine, theirs = chosen(ours.get().text), chosen(go.get().text)
    finally:
        ours.stop()
        go.stop()
    assert len(theirs) == 2 * 8
    assert mine == theirs


def test_qdisc_same_series_as_1_9(tmp_path):
    """qdisc from node_exporter's fixture format (--collector.qdisc.fixtures): the same samples as 1.9, only
    root qdiscs, 1.5's --collector.qdisk.* spelling of the filter; and on the live host (rtnetlink) the same
    devices and kinds."""
    import json

    from conftest import start_exporter

    (tmp_path / "results.json").write_text(
        json.dumps(
            [
                {
                    "IfaceName": "eth0",
                    "Parent": 0,
                    "Handle": 0,
                    "Kind": "fq_codel",
                    "Bytes": 123456789012,
                    "Packets": 4321,
                    "Drops": 3,
                    "Requeues": 2,
                    "Overlimits": 1,
                    "GcFlows": 0,
                    "Throttled": 0,
                    "FlowsPlimit": 0,
                    "Qlen": 5,
                    "Backlog": 1500,
                },
                {
                    "IfaceName": "eth0",
                    "Parent": 65537,
                    "Handle": 1,
                    "Kind": "fq",
                    "Bytes": 9,
                    "Packets": 9,
                    "Drops": 9,
                    "Requeues": 9,
                    "Overlimits": 9,
                    "GcFlows": 0,
                    "Throttled": 0,
                    "FlowsPlimit": 0,
                    "Qlen": 9,
                    "Backlog": 9,
                },
                {
                    "IfaceName": "wlan0",
                    "Parent": 0,
                    "Handle": 0,
                    "Kind": "mq",
                    "Bytes": 10,
                    "Packets": 1,
                    "Drops": 0,
                    "Requeues": 0,
                    "Overlimits": 0,
                    "GcFlows": 0,
                    "Throttled": 0,
                    "FlowsPlimit": 0,
                    "Qlen": 0,
                    "Backlog": 0,
                },
                {
                    "IfaceName": "docker0",
                    "Parent": 0,
                    "Handle": 0,
                    "Kind": "noqueue",
                    "Bytes": 0,
                    "Packets": 0,
                    "Drops": 0,
                    "Requeues": 0,
                    "Overlimits": 0,
                    "GcFlows": 0,
                    "Throttled": 0,
                    "FlowsPlimit": 0,
                    "Qlen": 0,
                    "Backlog": 0,
                },
            ]
        )
    )
    chosen = lambda text: {k: v for k, v in samples(text).items() if k[0].startswith("node_qdisc_")}  # noqa: E731
    for flags in (
        (f"--collector.qdisc.fixtures={tmp_path}", "--collector.qdisc.device-exclude=^docker"),
        (f"--collector.qdisc.fixtures={tmp_path}", "--collector.qdisk.device-exclude=^docker"),
        (),
    ):
        args = ("--collector.disable-defaults", "--collector.qdisc", *flags)
        ours = start_exporter(tmp_path, *args)
        go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *args, log_path=tmp_path / "go.log")
        try:
            mine, theirs = chosen(ours.get().text), chosen(go.get().text)
        finally:
            ours.stop()
            go.stop()
        if flags:
            assert len(theirs) == 2 * 7 and mine == theirs
        else:  # live: traffic moves the counters between the two reads
            assert {k for k in mine} == {k for k in theirs} and mine


def test_netdev_address_info_and_ifalias_as_1_9(tmp_path):
    """--collector.netdev.address-info (rtnetlink addresses, Go's notion of scope) and --collector.netdev.label-ifalias
    on the live host: the same address series as 1.9, and the same label sets on the traffic counters."""
    from conftest import start_exporter

    flags = (
        "--collector.disable-defaults",
        "--collector.netdev",
        "--collector.netdev.address-info",
        "--collector.netdev.label-ifalias",
        "--no-collector.netdev.netlink",
    )
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        mine, theirs = samples(ours.get().text), samples(go.get().text)
    finally:
        ours.stop()
        go.stop()
    addresses = lambda s: {k: v for k, v in s.items() if k[0] == "node_network_address_info"}  # noqa: E731
    assert addresses(theirs) and addresses(mine) == addresses(theirs)
    received = lambda s: {k[1] for k in s if k[0] == "node_network_receive_bytes_total"}  # noqa: E731
    assert received(mine) == received(theirs) and all(
        dict(labels).keys() == {"device", "ifalias"} for labels in received(mine)
    )


def test_netdev_detailed_metrics_as_1_9(tmp_path):
    """--collector.netdev.enable-detailed-metrics: the same series as 1.9 (which reads them over netlink; we read
    the same kernel counters from sysfs), and the same values for the error counters, which do not move here."""
    from conftest import start_exporter

    flags = ("--collector.disable-defaults", "--collector.netdev", "--collector.netdev.enable-detailed-metrics")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        mine, theirs = samples(ours.get().text), samples(go.get().text)
    finally:
        ours.stop()
        go.stop()
    network = lambda s: {k: v for k, v in s.items() if k[0].startswith("node_network_")}  # noqa: E731
    assert set(network(mine)) == set(network(theirs))
    errors = lambda s: {k: v for k, v in network(s).items() if "_errors_total" in k[0]}  # noqa: E731
    assert len(errors(theirs)) >= 11 and errors(mine) == errors(theirs)


def test_ntp_same_series_as_1_9(tmp_path):
    """A scripted SNTP server on a loopback port answers both exporters: stratum, leap, reference time, root delay
    and dispersion and the sanity verdict are 1.9's exactly; offset and round trip (timings) within 50 ms."""
    import socket
    import struct
    import threading
    import time

    from conftest import start_exporter

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    state = {"leap": 0, "stop": False, "ref": int(time.time()) - 60 + 0.25}  # fresh: synchronised a minute ago

    def ntp(t: float) -> int:
        return int((t + 2208988800) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF

    def serve():
        while not state["stop"]:
            try:
                data, peer = sock.recvfrom(512)
            except OSError:
                continue
            now = time.time()
            origin = struct.unpack_from("!Q", data, 40)[0]
            reply = struct.pack(
                "!BBbbIIIQQQQ",
                (state["leap"] << 6) | (4 << 3) | 4,
                2,
                6,
                -20,
                0x00000A00,
                0x00001200,
                0x7F7F0101,
                ntp(state["ref"]),
                origin,
                ntp(now),
                ntp(now),
            )
            sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    flags = (
        "--collector.disable-defaults",
        "--collector.ntp",
        "--collector.ntp.server=127.0.0.1",
        f"--collector.ntp.server-port={sock.getsockname()[1]}",
        "--collector.ntp.max-distance=1000h",
    )
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        for leap, sane in ((0, 1), (3, 0)):
            state["leap"] = leap
            mine, theirs = samples(ours.get().text), samples(go.get().text)
            exact = lambda s: {
                k: v
                for k, v in s.items()
                if k[0].startswith("node_ntp_")  # noqa: E731
                and k[0] not in ("node_ntp_offset_seconds", "node_ntp_rtt_seconds")
            }
            assert exact(mine) == exact(theirs) and exact(mine)[("node_ntp_sanity", ())] == sane
            for name in ("node_ntp_offset_seconds", "node_ntp_rtt_seconds"):
                assert abs(mine[(name, ())] - theirs[(name, ())]) < 0.05
    finally:
        ours.stop()
        go.stop()
        state["stop"] = True
        thread.join(5)
        sock.close()


def test_ethtool_same_series_as_1_9(tmp_path):
    """ethtool (SIOCETHTOOL) on the live host's devices: the same series, types and HELP as 1.9, the same driver
    information and link modes; NIC counters move between the two reads, so only their names are compared."""
    from conftest import start_exporter

    flags = ("--collector.disable-defaults", "--collector.ethtool")
    ours = start_exporter(tmp_path, *flags)
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *flags, log_path=tmp_path / "go.log")
    try:
        mine_text, theirs_text = ours.get().text, go.get().text
    finally:
        ours.stop()
        go.stop()
    chosen = lambda text: {
        k: v
        for k, v in samples(text).items()  # noqa: E731
        if k[0].startswith(("node_ethtool_", "node_network_"))
    }
    mine, theirs = chosen(mine_text), chosen(theirs_text)
    assert any(k[0] == "node_ethtool_info" for k in theirs)
    assert set(mine) == set(theirs)
    stable = lambda s: {
        k: v
        for k, v in s.items()  # noqa: E731
        if k[0] == "node_ethtool_info" or k[0].startswith("node_network_")
    }
    assert stable(mine) == stable(theirs)
    described = lambda text: {
        n: (f.type, f.documentation)
        for n, f in parse_families(text).items()  # noqa: E731
        if n.startswith(("node_ethtool_", "node_network_"))
    }
    assert described(mine_text) == described(theirs_text)
