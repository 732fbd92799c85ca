"""--path.procfs and --path.rootfs: run in a DaemonSet with the host mounted, the
exporter reports the host, not its own container."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import IN_CI, parse_families, value


def test_procfs_flag_reads_the_given_tree(exporter_factory, tmp_path):
    procfs = tmp_path / "hostproc"
    (procfs / "sys" / "fs").mkdir(parents=True)
    for name in ("stat", "loadavg", "diskstats"):
        shutil.copyfile(f"/proc/{name}", procfs / name)
    (procfs / "meminfo").write_text("MemTotal:       12345 kB\nMemAvailable:    2345 kB\nHugePages_Total:       3\n")
    stat = (procfs / "stat").read_text().splitlines()
    (procfs / "stat").write_text("\n".join(("btime 1234567890" if l.startswith("btime ") else l) for l in stat) + "\n")
    (procfs / "sys" / "fs" / "file-nr").write_text("42\t0\t9999\n")
    exp = exporter_factory(
        f"--path.procfs={procfs}",
        "--collector.disable-defaults",
        "--collector.meminfo",
        "--collector.stat",
        "--collector.filefd",
        "--collector.cpu",
    )
    text = exp.get().text
    assert value(text, "node_memory_MemTotal_bytes") == 12345 * 1024
    assert value(text, "node_memory_HugePages_Total") == 3
    assert value(text, "node_boot_time_seconds") == 1234567890
    assert value(text, "node_filefd_allocated") == 42 and value(text, "node_filefd_maximum") == 9999
    assert value(text, "node_scrape_collector_success", collector="cpu") == 1


@pytest.fixture
def host_tree(tmp_path):
    """A directory standing in for the host's / bind-mounted into a container, with a
    10 MiB tmpfs mounted at <host>/data, as /host/data would be in a DaemonSet."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root; mounting a tmpfs must work there")
        pytest.skip("mounting a tmpfs needs root")
    host = tmp_path / "host"
    data = host / "data"
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "flextime-test-tmpfs", str(data)], check=True)
    try:
        yield host
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def test_rootfs_prefix_is_used_for_statvfs_and_stripped_from_labels(exporter_factory, host_tree):
    exp = exporter_factory(f"--path.rootfs={host_tree}", "--collector.disable-defaults", "--collector.filesystem")
    text = exp.get().text
    fams = parse_families(text)
    mountpoints = {s.labels["mountpoint"] for s in fams["node_filesystem_size_bytes"].samples}
    assert "/data" in mountpoints
    assert not any(mp.startswith(str(host_tree)) for mp in mountpoints), mountpoints
    assert value(text, "node_filesystem_size_bytes", mountpoint="/data") == 10 * 1024 * 1024
    assert value(text, "node_filesystem_device_error", mountpoint="/data") == 0
    st = os.statvfs(host_tree)
    assert value(text, "node_filesystem_size_bytes", mountpoint="/") == st.f_blocks * st.f_bsize
    info = [s.labels for s in fams["node_filesystem_mount_info"].samples if s.labels["mountpoint"] == "/data"]
    assert info and info[0]["device"] == "flextime-test-tmpfs" and info[0]["major"] == "0"
