"""btrfs on a real, mounted two-device filesystem (loop devices): node_exporter 1.9 asks the kernel with the
btrfs ioctls for each device's size, unused bytes and error counters (labelled with the device's btrfs uuid);
ours serves the same samples."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import IN_CI, newer_go_binary, require_program, samples, start_go_exporter

FLAGS = ("--collector.disable-defaults", "--collector.btrfs")
# Commit statistics move whenever the kernel commits a transaction (every 30 s): compared by presence only.
MOVING = (
    "node_btrfs_commits_total",
    "node_btrfs_last_commit_seconds",
    "node_btrfs_max_commit_seconds",
    "node_btrfs_commit_seconds_total",
)


@pytest.fixture
def mounted_btrfs(tmp_path):
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root; loop devices and mount must work there")
        pytest.skip("loop devices and mount need root")
    mkfs = require_program("mkfs.btrfs")
    loops, mnt = [], tmp_path / "mnt"
    mnt.mkdir()
    try:
        for name in ("a.img", "b.img"):
            image = tmp_path / name
            with open(image, "wb") as f:
                f.truncate(300 * 1024 * 1024)
            loops.append(
                subprocess.run(
                    ["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True
                ).stdout.strip()
            )
        subprocess.run(
            [mkfs, "-q", "-f", "-L", "flextime-test", "-d", "raid1", "-m", "raid1", *loops],
            check=True,
            capture_output=True,
        )
        subprocess.run(["mount", loops[0], str(mnt)], check=True)
        try:
            (mnt / "file").write_bytes(b"x" * 100_000)
            os.sync()
            yield [os.path.basename(loop) for loop in loops]
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
    finally:
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], check=False)


def test_btrfs_device_series_from_the_ioctls_match_1_9(mounted_btrfs, exporter_factory, tmp_path):
    go = start_go_exporter(newer_go_binary("prometheus-node-exporter"), *FLAGS, log_path=tmp_path / "go.log")
    try:
        reference = {k: v for k, v in samples(go.get().text).items() if k[0].startswith("node_btrfs_")}
    finally:
        go.stop()
    ours = {k: v for k, v in samples(exporter_factory(*FLAGS).get().text).items() if k[0].startswith("node_btrfs_")}
    devices = {dict(l).get("device") for n, l in reference if n == "node_btrfs_device_unused_bytes"}
    assert devices >= set(mounted_btrfs), reference  # the reference did use the ioctls
    assert set(ours) >= set(reference), sorted(set(reference) - set(ours))
    assert {k: v for k, v in ours.items() if k[0] not in MOVING and k in reference} == {
        k: v for k, v in reference.items() if k[0] not in MOVING
    }
    assert {k for k in ours if k not in reference} == set(), "series only ours serves"
    errors = {dict(l)["type"] for n, l in ours if n == "node_btrfs_device_errors_total"}
    assert errors == {"write", "read", "flush", "corruption", "generation"}
