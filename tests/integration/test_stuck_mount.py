"""A real hung mount: a FUSE filesystem (hanging_fuse.py, beside this file)
whose statfs or readdir blocks until the test releases it, as a dead NFS or
sshfs server does. What a user notices: the scrape still answers within
Prometheus' timeout, the stuck mount shows ``node_filesystem_device_error 1``,
later scrapes are fast and do not pile up threads, and the mount is reported
normally again once it answers.

Needs /dev/fuse, root (or fusermount) and libfuse2 for fusepy: skipped on a
laptop without them, failed in CI (.ci/run installs them).
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IN_CI, samples, value

from exporters.node.filesystem import parse_mountinfo

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
# What hanging_fuse.py's statfs answers, in bytes and inodes.
BLOCK = 4096
SIZE, FREE, AVAIL, FILES, FILES_FREE = 1000 * BLOCK, 500 * BLOCK, 400 * BLOCK, 100, 50


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_fuse() -> None:
    if not os.path.exists("/dev/fuse"):
        unavailable("/dev/fuse is missing (no FUSE in this kernel or container)")
    if importlib.util.find_spec("fuse") is None:
        unavailable("fusepy is not installed (pip install -e '.[test]')")
    if ctypes.util.find_library("fuse") is None:
        unavailable("libfuse2 is not installed (apt-get install libfuse2, or run .ci/run)")
    if os.geteuid() != 0 and shutil.which("fusermount") is None:
        unavailable("mounting FUSE as non-root needs fusermount (apt-get install fuse)")


def mount_table() -> list:
    """The mount table the exporter reads (PID 1's, else our own)."""
    for pid in ("1", "self"):
        try:
            return parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())
        except OSError:
            continue
    return []


def is_mounted(mountpoint: str) -> bool:
    return any(m.mountpoint == mountpoint and m.fstype.startswith("fuse") for m in mount_table())


def unmount(mountpoint: str) -> None:
    for cmd in (["fusermount", "-u", mountpoint], ["umount", mountpoint], ["umount", "-l", mountpoint]):
        if not is_mounted(mountpoint):
            return
        if shutil.which(cmd[0]):
            subprocess.run(cmd, capture_output=True, timeout=15)


@dataclass
class HangingMount:
    mountpoint: str
    control: Path
    proc: subprocess.Popen
    log: Path

    def gate(self, op: str) -> None:
        """From now on ``op`` (statfs, readdir) blocks until released."""
        (self.control / f"{op}.gate").touch()

    def release(self, op: str) -> None:
        (self.control / f"{op}.gate").unlink(missing_ok=True)

    def delay(self, op: str, seconds: float) -> None:
        (self.control / f"{op}.delay").write_text(f"{seconds}\n")

    def calls(self, op: str) -> int:
        """How many ``op`` calls have reached the FUSE server so far."""
        try:
            return int((self.control / f"{op}.calls").read_text())
        except (OSError, ValueError):
            return 0

    def reset(self) -> None:
        for op in ("statfs", "readdir"):
            self.release(op)
            (self.control / f"{op}.delay").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def fuse_mount(tmp_path_factory):
    """hanging_fuse.py mounted at a fresh directory for this module only; always
    released and unmounted at teardown, so no other test ever sees it."""
    require_fuse()
    base = tmp_path_factory.mktemp("fuse")
    mnt, control = base / "mnt", base / "control"
    mnt.mkdir()
    control.mkdir()
    log = base / "hanging_fuse.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "hanging_fuse.py"), str(mnt), str(control), "--max-block", "90"],
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    mount = HangingMount(str(mnt), control, proc, log)
    try:
        end = time.monotonic() + 15
        while not is_mounted(str(mnt)):
            if proc.poll() is not None:
                pytest.fail(f"hanging_fuse.py exited with {proc.returncode} before mounting:\n{log.read_text()}")
            if time.monotonic() > end:
                unavailable(
                    f"the FUSE mount at {mnt} did not appear in /proc/1/mountinfo "
                    f"(another mount namespace?):\n{log.read_text()}"
                )
            time.sleep(0.05)
        yield mount
    finally:
        mount.reset()  # let every blocked call return first, or the unmount would wait on them
        time.sleep(0.1)
        unmount(str(mnt))
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        unmount(str(mnt))  # the server died without unmounting: drop the dead mount


@pytest.fixture
def hanging(exporter_factory, fuse_mount):
    """The mount, answering normally at the start and released at the end of each test.

    It is set up after exporter_factory, so it is torn down before the exporters
    are stopped: a process whose statfs is pending in a FUSE server cannot exit
    until the server answers."""
    fuse_mount.reset()
    yield fuse_mount
    fuse_mount.reset()


def scrape(exp, prometheus_timeout: float):
    """GET /metrics as Prometheus does; (status, text, seconds it took)."""
    t = time.monotonic()
    resp = exp.get(
        headers={"X-Prometheus-Scrape-Timeout-Seconds": str(prometheus_timeout)}, timeout=prometheus_timeout + 15
    )
    took = time.monotonic() - t
    return resp.status, resp.text, took


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no Threads: line for pid {pid}")


def fs(text: str, metric: str, mountpoint: str) -> float:
    return value(text, f"node_filesystem_{metric}", mountpoint=mountpoint)


def has_fs(text: str, metric: str, mountpoint: str) -> bool:
    return any(n == f"node_filesystem_{metric}" and dict(l).get("mountpoint") == mountpoint for n, l in samples(text))


def success(text: str, collector: str) -> float:
    return value(text, "node_scrape_collector_success", collector=collector)


def assert_reported_normally(text: str, mountpoint: str) -> None:
    assert fs(text, "device_error", mountpoint) == 0
    assert fs(text, "size_bytes", mountpoint) == SIZE
    assert fs(text, "free_bytes", mountpoint) == FREE
    assert fs(text, "avail_bytes", mountpoint) == AVAIL
    assert fs(text, "files", mountpoint) == FILES
    assert fs(text, "files_free", mountpoint) == FILES_FREE


def assert_root_normal(text: str) -> None:
    assert fs(text, "device_error", "/") == 0
    assert fs(text, "size_bytes", "/") > 0


def test_hung_statfs_is_reported_skipped_and_recovers(hanging, exporter_factory):
    exp = exporter_factory("--collector.filesystem.mount-timeout=1")
    mnt = hanging.mountpoint

    status, text, _ = scrape(exp, 5)  # healthy first; also warms the exporter's thread pools
    assert status == 200
    assert_reported_normally(text, mnt)
    scrape(exp, 5)
    before = threads(exp.proc.pid)

    hanging.gate("statfs")
    status, text, took = scrape(exp, 5)
    assert status == 200
    assert took < 4.5, f"the scrape took {took:.2f}s with a hung mount; Prometheus gives up at 5s"
    assert fs(text, "device_error", mnt) == 1
    assert not has_fs(text, "size_bytes", mnt)
    assert_root_normal(text)
    assert success(text, "filesystem") == 1
    hung_calls = hanging.calls("statfs")

    counts = [threads(exp.proc.pid)]
    for _ in range(10):
        status, text, took = scrape(exp, 5)
        assert status == 200
        assert took < 1.0, f"a scrape took {took:.2f}s although the stuck mount should be skipped"
        assert fs(text, "device_error", mnt) == 1
        assert_root_normal(text)
        assert success(text, "filesystem") == 1
        counts.append(threads(exp.proc.pid))
    assert hanging.calls("statfs") == hung_calls, "the stuck mount was statfs'ed again while its call hung"
    # The hang pins a thread or two (the stuck statfs, whose worker is replaced,
    # and maybe a fresh lane for the other collectors); nothing more scrape after scrape.
    assert max(counts) <= counts[0] + 1 and counts[0] <= before + 3, (
        f"threads grew: {before} before the hang, then {counts}"
    )
    assert exp.log().count(f"statvfs on {mnt} did not return") == 1, exp.log()

    hanging.release("statfs")
    for _ in range(10):
        status, text, took = scrape(exp, 5)
        assert status == 200
        if fs(text, "device_error", mnt) == 0:
            break
        time.sleep(0.2)
    assert_reported_normally(text, mnt)
    assert_root_normal(text)
    assert f"mount point {mnt} has recovered" in exp.log()
    time.sleep(0.2)
    assert threads(exp.proc.pid) < max(counts), "the worker pinned by the hung call did not go away"


def test_slow_statfs_within_the_timeout_is_reported_normally(hanging, exporter_factory):
    exp = exporter_factory("--collector.filesystem.mount-timeout=2")
    hanging.delay("statfs", 0.6)
    calls = hanging.calls("statfs")
    status, text, took = scrape(exp, 5)
    assert status == 200
    assert hanging.calls("statfs") > calls
    assert 0.6 <= took < 4.5
    assert_reported_normally(text, hanging.mountpoint)
    assert_root_normal(text)
    assert "did not return" not in exp.log()


def test_a_mount_queued_behind_a_slow_one_gets_its_own_timeout(hanging, exporter_factory, tmp_path):
    """Two slow mounts (0.6 s each, under the 1 s timeout) and one statfs worker:
    the second waits for the first, yet neither is stuck, since a call's timeout
    runs from its own start, as in node_exporter."""
    if shutil.which("mount") is None:
        unavailable("mount (util-linux) is not installed")
    mnt, second = hanging.mountpoint, str(tmp_path / "bind")
    os.mkdir(second)
    subprocess.run(["mount", "--bind", mnt, second], check=True, capture_output=True, timeout=15)
    try:
        exp = exporter_factory("--collector.filesystem.mount-timeout=1", "--collector.filesystem.stat-workers=1")
        hanging.delay("statfs", 0.6)
        status, text, took = scrape(exp, 5)
        assert status == 200
        assert 1.2 <= took < 4.5
        assert_reported_normally(text, mnt)
        assert_reported_normally(text, second)
        assert_root_normal(text)
        assert "did not return" not in exp.log(), exp.log()

        # Both hang (two dead mounts): each costs its own timeout, one after the
        # other on the one worker; the scrape does not wait out its whole budget.
        hanging.delay("statfs", 0)
        hanging.gate("statfs")
        status, text, took = scrape(exp, 5)
        assert status == 200
        assert took < 3.0, f"the scrape took {took:.2f}s for two mounts with a 1s timeout"
        assert fs(text, "device_error", mnt) == 1
        assert fs(text, "device_error", second) == 1
        assert_root_normal(text)
        status, text, took = scrape(exp, 5)
        assert took < 1.0 and fs(text, "device_error", second) == 1
    finally:
        hanging.reset()
        unmount(second)


def test_prometheus_timeout_shorter_than_mount_timeout(hanging, exporter_factory):
    exp = exporter_factory("--collector.filesystem.mount-timeout=5")
    mnt = hanging.mountpoint
    hanging.gate("statfs")
    for _ in range(2):
        status, text, took = scrape(exp, 2)
        assert status == 200
        assert took < 2.0, f"the scrape took {took:.2f}s; Prometheus gives up at 2s"
        if success(text, "filesystem") == 1:
            assert fs(text, "device_error", mnt) == 1
            assert_root_normal(text)
    hanging.release("statfs")
    for _ in range(10):
        status, text, _ = scrape(exp, 2)
        if success(text, "filesystem") == 1 and fs(text, "device_error", mnt) == 0:
            break
        time.sleep(0.2)
    assert_reported_normally(text, mnt)


def test_hung_readdir_of_a_textfile_directory(hanging, exporter_factory):
    """A textfile directory on the hung mount: statfs still answers, listing it does not."""
    exp = exporter_factory(
        "--collector.filesystem.mount-timeout=1", f"--collector.textfile.directory={hanging.mountpoint}"
    )
    mnt = hanging.mountpoint
    status, text, _ = scrape(exp, 3)
    assert status == 200
    assert value(text, "flextime_fuse_textfile") == 42
    scrape(exp, 3)
    before = threads(exp.proc.pid)

    hanging.gate("readdir")
    status, text, took = scrape(exp, 3)
    assert status == 200
    assert took < 2.9, f"the scrape took {took:.2f}s; Prometheus gives up at 3s"
    assert success(text, "textfile") == 0
    assert success(text, "filesystem") == 1
    assert_reported_normally(text, mnt)  # statfs still answers
    hung_calls = hanging.calls("readdir")

    counts = []
    for _ in range(5):
        status, text, took = scrape(exp, 3)
        assert status == 200
        assert took < 1.0, f"a scrape took {took:.2f}s although the stuck textfile read should be skipped"
        assert success(text, "textfile") == 0
        assert_reported_normally(text, mnt)
        counts.append(threads(exp.proc.pid))
    assert hanging.calls("readdir") == hung_calls, "the directory was listed again while the listing hung"
    assert max(counts) <= counts[0] + 1 and counts[0] <= before + 3, (
        f"threads grew: {before} before the hang, then {counts}"
    )

    hanging.release("readdir")
    for _ in range(10):
        status, text, _ = scrape(exp, 3)
        if success(text, "textfile") == 1:
            break
        time.sleep(0.2)
    assert success(text, "textfile") == 1
    assert value(text, "flextime_fuse_textfile") == 42
    assert value(text, "node_textfile_scrape_error") == 0
