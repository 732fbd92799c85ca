"""A tiny FUSE filesystem whose statfs and readdir hang on demand.

    python3 hanging_fuse.py MOUNTPOINT CONTROL_DIR

It serves one directory holding ``hello.prom`` (a valid textfile-collector
file) and a fixed statfs answer. CONTROL_DIR steers it while it runs:

* ``statfs.gate`` / ``readdir.gate``: while the file exists, that operation
  blocks (as on a dead NFS server); removing it releases every blocked call.
  A call never blocks longer than --max-block seconds, so a forgotten gate
  cannot wedge the machine.
* ``statfs.delay`` / ``readdir.delay``: seconds (a float) each call sleeps
  before answering: a slow but living mount.
* ``statfs.calls`` / ``readdir.calls``: written by the server, how many calls
  of that operation have reached it so far.

The server runs in the foreground until it is unmounted (fusermount -u or
umount) or killed; the test that starts it always releases the gates first.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations  # fusepy; needs libfuse2

HELLO = (
    b"# HELP flextime_fuse_textfile A sample read through the hanging FUSE mount.\n"
    b"# TYPE flextime_fuse_textfile gauge\nflextime_fuse_textfile 42\n"
)
BLOCK_SIZE = 4096
STATFS = dict(
    f_bsize=BLOCK_SIZE,
    f_frsize=BLOCK_SIZE,
    f_blocks=1000,
    f_bfree=500,
    f_bavail=400,
    f_files=100,
    f_ffree=50,
    f_favail=50,
    f_namemax=255,
)


class Hanging(Operations):
    def __init__(self, control: str, max_block: float) -> None:
        self.control = control
        self.max_block = max_block
        self.started = time.time()
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def _gate(self, op: str) -> None:
        """Count the call, then block while OP.gate exists and sleep OP.delay."""
        with self._lock:
            self.calls[op] = self.calls.get(op, 0) + 1
            tmp = os.path.join(self.control, f".{op}.calls")
            with open(tmp, "w") as f:
                f.write(f"{self.calls[op]}\n")
            os.replace(tmp, os.path.join(self.control, f"{op}.calls"))
        gate = os.path.join(self.control, f"{op}.gate")
        end = time.monotonic() + self.max_block
        while os.path.exists(gate) and time.monotonic() < end:
            time.sleep(0.02)
        try:
            with open(os.path.join(self.control, f"{op}.delay")) as f:
                delay = float(f.read().strip() or 0)
        except (OSError, ValueError):
            delay = 0.0
        if delay > 0:
            time.sleep(delay)

    def getattr(self, path, fh=None):
        now = self.started
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_ctime=now, st_mtime=now, st_atime=now)
        if path == "/hello.prom":
            return dict(
                st_mode=stat.S_IFREG | 0o444, st_nlink=1, st_size=len(HELLO), st_ctime=now, st_mtime=now, st_atime=now
            )
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        self._gate("readdir")
        return [".", "..", "hello.prom"]

    def read(self, path, size, offset, fh):
        if path != "/hello.prom":
            raise FuseOSError(errno.ENOENT)
        return HELLO[offset : offset + size]

    def statfs(self, path):
        self._gate("statfs")
        return dict(STATFS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mountpoint")
    parser.add_argument("control")
    parser.add_argument("--max-block", type=float, default=120.0, help="longest a gated call blocks, in seconds")
    args = parser.parse_args()
    print(f"hanging_fuse: mounting at {args.mountpoint}", file=sys.stderr, flush=True)
    # Multithreaded (the fusepy default), so a blocked statfs does not hold up getattr or read.
    FUSE(
        Hanging(args.control, args.max_block),
        args.mountpoint,
        foreground=True,
        fsname="hanging_fuse",
        subtype="hanging",
    )


if __name__ == "__main__":
    main()
