"""filesystem: size, free and inode counts of mounted filesystems.

A dead network mount makes statvfs block in the kernel, possibly forever. So
statvfs runs on a few long-lived worker threads and every call has a timeout;
a mount that overruns is remembered as stuck, reported as
``node_filesystem_device_error 1`` and not touched again until its hung call
returns. The worker it pinned is replaced, so a stuck mount costs one thread.

As in node_exporter 1.9 every series carries ``device_error``: empty, or what
went wrong (Go's text of the statfs errno, e.g. ``permission denied``, or
``mountpoint timeout`` for a stuck mount); a mount with an error has only
``device_error`` and ``readonly``, no sizes and no ``mount_info``.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from ..core.collector import Flag
from ..core.metrics import gauge
from ..core.scrape import remaining_seconds
from .registry import DeviceFilter, HostCollector, node_collectors, read_text

log = logging.getLogger("exporters.node.filesystem")

LABELS = ("device", "device_error", "fstype", "mountpoint")
STUCK = "mountpoint timeout"
# Go's syscall.Errno texts are glibc's with a lower-case first letter, except these.
_GO_ERRNO_TEXT = {errno.ESTALE: "stale NFS file handle"}


def go_errno_text(exc: OSError) -> str:
    """The device_error label of a failed statfs: Go's err.Error() for its errno."""
    if exc.errno is None:
        return str(exc)
    text = _GO_ERRNO_TEXT.get(exc.errno) or os.strerror(exc.errno)
    return text[:1].lower() + text[1:]


SIZE = gauge("node_filesystem_size_bytes", "Filesystem size in bytes.", *LABELS)
FREE = gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.", *LABELS)
AVAIL = gauge("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", *LABELS)
FILES = gauge("node_filesystem_files", "Filesystem total file nodes.", *LABELS)
FILES_FREE = gauge("node_filesystem_files_free", "Filesystem total free file nodes.", *LABELS)
READONLY = gauge("node_filesystem_readonly", "Filesystem read-only status.", *LABELS)
DEVICE_ERROR = gauge(
    "node_filesystem_device_error", "Whether an error occurred while getting statistics for the given device.", *LABELS
)
MOUNT_INFO = gauge(
    "node_filesystem_mount_info", "Filesystem mount information.", "device", "major", "minor", "mountpoint"
)

DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|"
    r"overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$"
)


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]
    major: str = ""
    minor: str = ""

    @property
    def readonly(self) -> bool:
        return "ro" in self.options


def _unescape(field: str) -> str:
    """Mount tables escape space, tab, newline and backslash as octal (\\040)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse /proc/PID/mountinfo (it has the device numbers /proc/mounts lacks)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        major, _, minor = fields[2].partition(":")
        mounts.append(
            Mount(
                device=_unescape(fields[sep + 2]),
                mountpoint=_unescape(fields[4]),
                fstype=fields[sep + 1],
                options=tuple(fields[5].split(",")),
                major=major,
                minor=minor,
            )
        )
    return mounts


def parse_mounts(text: str) -> list[Mount]:
    """Parse /proc/PID/mounts (fstab format), the fallback when mountinfo is missing."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mounts.append(Mount(_unescape(fields[0]), _unescape(fields[1]), fields[2], tuple(fields[3].split(","))))
    return mounts


class _Job:
    """One statvfs call. Its fields change only under the runner's lock."""

    __slots__ = ("path", "done", "result", "started_at", "abandoned", "written_off")

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False
        self.result: os.statvfs_result | OSError | None = None
        self.started_at: float | None = None  # time.monotonic() when a worker began the call
        self.abandoned = False  # the scrape stopped waiting for it
        self.written_off = False  # it overran: its path is stuck and its worker was replaced


class StatfsRunner:
    """statvfs with a timeout per call, on ``workers`` long-lived threads.

    A call's timeout runs from when a worker starts it, as in node_exporter, so
    a mount queued behind slow ones is not blamed for their time. Every state
    change of a job (started, finished, given up) happens under one lock, so a
    call that returns just as its timeout expires is either a result or a stuck
    mount, never both and never neither."""

    def __init__(self, workers: int, timeout: float, statvfs=os.statvfs) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._statvfs = statvfs
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a job started or finished
        self._live = 0
        self.stuck: dict[str, float] = {}  # path -> since when (time.time())

    def _ensure_workers(self) -> None:
        with self._lock:
            self._spawn_workers()

    def _spawn_workers(self) -> None:
        """Start workers up to ``workers`` live ones; the caller holds the lock."""
        while self._live < self.workers:
            self._live += 1
            threading.Thread(target=self._work, name="statfs", daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            with self._changed:
                if job.abandoned:  # given up on before a worker picked it up
                    continue
                job.started_at = time.monotonic()
                self._changed.notify_all()
            try:
                result: os.statvfs_result | OSError = self._statvfs(job.path)
            except OSError as exc:
                result = exc
            with self._changed:
                job.result = result
                job.done = True
                self._changed.notify_all()
                if not job.written_off:
                    continue
                # This call had hung and this thread was replaced: the mount
                # answers again; let this thread go.
                self.stuck.pop(job.path, None)
            log.info("mount point %s has recovered, monitoring it again", job.path)
            return

    def stat(self, paths: list[str], budget: float) -> dict[str, os.statvfs_result | OSError | None]:
        """statvfs each path; None for a path that is (or just became) stuck,
        or that no worker got to in time.

        Waits at most ``timeout`` for any one call from its start, and at most
        ``budget`` seconds in all."""
        results: dict[str, os.statvfs_result | OSError | None] = dict.fromkeys(paths)
        if budget <= 0:
            return results
        self._ensure_workers()
        end = time.monotonic() + budget
        jobs = []
        with self._lock:
            stuck = set(self.stuck)
        for path in dict.fromkeys(paths):
            if path not in stuck:
                job = _Job(path)
                self._jobs.put(job)
                jobs.append(job)
        overran: dict[str, float] = {}  # path -> seconds its call had run when given up

        def write_off(job: _Job, now: float) -> None:
            """The call overran: remember its mount as stuck and replace its pinned worker
            at once, so the calls queued behind it still run in this scrape."""
            job.abandoned = job.written_off = True
            self.stuck[job.path] = time.time()
            overran[job.path] = now - job.started_at
            self._live -= 1
            self._spawn_workers()

        with self._changed:
            pending = jobs
            while True:
                now = time.monotonic()
                waiting = []
                for job in pending:
                    if job.done:
                        results[job.path] = job.result
                    elif job.started_at is not None and now >= job.started_at + self.timeout:
                        write_off(job, now)
                    else:
                        waiting.append(job)
                pending = waiting
                if not pending or now >= end:
                    break
                wake = min([end] + [j.started_at + self.timeout for j in pending if j.started_at is not None])
                self._changed.wait(min(max(0.0, wake - now), self.timeout))  # budget may be inf
            for job in pending:  # out of budget: a started call overran it too
                if job.started_at is not None:
                    write_off(job, now)
                else:
                    job.abandoned = True
        for path, seconds in overran.items():
            log.warning("statvfs on %s did not return within %.3gs; skipping it until it responds", path, seconds)
        return results


@node_collectors.register
class FilesystemCollector(HostCollector):
    name = "filesystem"
    description = "Filesystem space and inodes (statvfs on every mount of PID 1's mount table)."
    metrics = (AVAIL, DEVICE_ERROR, FILES, FILES_FREE, FREE, READONLY, SIZE, MOUNT_INFO)
    flags = (
        Flag(
            "--collector.filesystem.mount-points-exclude",
            "collector_filesystem_mount_points_exclude",
            "Regexp of mount points to exclude (mutually exclusive with -include).",
            metavar="REGEX",
            aliases=("--collector.filesystem.ignored-mount-points",),
        ),
        Flag(
            "--collector.filesystem.mount-points-include",
            "collector_filesystem_mount_points_include",
            "Regexp of mount points to include (mutually exclusive with -exclude).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.filesystem.fs-types-exclude",
            "collector_filesystem_fs_types_exclude",
            "Regexp of filesystem types to exclude (mutually exclusive with -include).",
            metavar="REGEX",
            aliases=("--collector.filesystem.ignored-fs-types",),
        ),
        Flag(
            "--collector.filesystem.fs-types-include",
            "collector_filesystem_fs_types_include",
            "Regexp of filesystem types to include (mutually exclusive with -exclude).",
            metavar="REGEX",
        ),
        Flag(
            "--collector.filesystem.mount-timeout",
            "collector_filesystem_mount_timeout",
            "Seconds to wait for statvfs on a mount before marking it stuck.",
            default=5.0,
            type=float,
        ),
        Flag(
            "--collector.filesystem.stat-workers",
            "collector_filesystem_stat_workers",
            "Threads that run statvfs calls.",
            default=4,
            type=int,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        get = settings.get
        self.mount_filter = DeviceFilter(
            "collector.filesystem.mount-points",
            get("collector_filesystem_mount_points_include"),
            get("collector_filesystem_mount_points_exclude"),
            DEFAULT_MOUNT_POINTS_EXCLUDE,
        )
        self.fstype_filter = DeviceFilter(
            "collector.filesystem.fs-types",
            get("collector_filesystem_fs_types_include"),
            get("collector_filesystem_fs_types_exclude"),
            DEFAULT_FS_TYPES_EXCLUDE,
        )
        timeout = float(get("collector_filesystem_mount_timeout", 5.0))
        if timeout <= 0:
            raise ValueError("--collector.filesystem.mount-timeout must be positive")
        self.runner = StatfsRunner(int(get("collector_filesystem_stat_workers", 4)), timeout)

    def strip_rootfs(self, mountpoint: str) -> str:
        """The ``mountpoint`` label is the path as the host sees it."""
        root = self.rootfs.rstrip("/")
        if not root or not mountpoint.startswith(root):
            return mountpoint
        rest = mountpoint[len(root) :]
        if rest and not rest.startswith("/"):
            return mountpoint
        return rest or "/"

    def mounts(self) -> list[Mount]:
        """PID 1's mount table: the host's, when the exporter runs with the host's PID namespace."""
        for pid in ("1", "self"):
            try:
                return parse_mountinfo(read_text(self.proc(pid, "mountinfo")))
            except FileNotFoundError:
                continue
        return parse_mounts(read_text(self.proc("self", "mounts")))

    def read(self):
        chosen: dict[tuple[str, str, str], Mount] = {}
        for m in self.mounts():
            mp = self.strip_rootfs(m.mountpoint)
            if self.mount_filter.ignored(mp) or self.fstype_filter.ignored(m.fstype):
                continue
            chosen.setdefault((m.device, m.fstype, mp), m)
        paths = {key: os.path.join(self.rootfs, key[2].lstrip("/")) for key in chosen}
        budget = remaining_seconds() - 0.05
        stats = self.runner.stat(list(dict.fromkeys(paths.values())), budget)
        fams = {d.name: d.family() for d in self.metrics}
        for key, m in chosen.items():
            st = stats.get(paths[key])
            device, fstype, mountpoint = key
            if not isinstance(st, os.statvfs_result):
                if isinstance(st, OSError):
                    log.debug("statvfs on %s failed: %s", paths[key], st)
                labels = (device, go_errno_text(st) if isinstance(st, OSError) else STUCK, fstype, mountpoint)
                fams[DEVICE_ERROR.name].add(labels, 1)
                fams[READONLY.name].add(labels, 1 if m.readonly and st is not None else 0)
                continue
            labels = (device, "", fstype, mountpoint)
            bsize = float(st.f_bsize)  # Go: float64(blocks) * float64(bsize)
            fams[DEVICE_ERROR.name].add(labels, 0)
            fams[READONLY.name].add(labels, 1 if m.readonly else 0)
            fams[SIZE.name].add(labels, float(st.f_blocks) * bsize)
            fams[FREE.name].add(labels, float(st.f_bfree) * bsize)
            fams[AVAIL.name].add(labels, float(st.f_bavail) * bsize)
            fams[FILES.name].add(labels, float(st.f_files))
            fams[FILES_FREE.name].add(labels, float(st.f_ffree))
            fams[MOUNT_INFO.name].add((m.device, m.major, m.minor, mountpoint), 1)
        return fams.values()
