"""filefd: allocated and maximum file handles from /proc/sys/fs/file-nr."""

from __future__ import annotations

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

ALLOCATED = gauge("node_filefd_allocated", "File descriptor statistics: allocated.")
MAXIMUM = gauge("node_filefd_maximum", "File descriptor statistics: maximum.")


def parse_file_nr(text: str) -> tuple[int, int]:
    """``allocated unused maximum`` -> (allocated, maximum). The middle number
    is always 0 since Linux 2.6 and is not exported."""
    fields = text.split()
    if len(fields) != 3:
        raise ValueError(f"unexpected /proc/sys/fs/file-nr content: {text[:80]!r}")
    return int(fields[0]), int(fields[2])


@node_collectors.register
class FilefdCollector(HostCollector):
    name = "filefd"
    description = "File descriptor statistics (/proc/sys/fs/file-nr)."
    metrics = (ALLOCATED, MAXIMUM)

    def read(self):
        for d, value in zip(self.metrics, parse_file_nr(read_text(self.proc("sys", "fs", "file-nr")))):
            fam = d.family()
            fam.add((), value)
            yield fam
