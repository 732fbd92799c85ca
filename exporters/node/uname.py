"""uname: ``node_uname_info`` from the uname system call and the NIS domain name."""

from __future__ import annotations

import os

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

UNAME_INFO = gauge(
    "node_uname_info",
    "Labeled system information as provided by the uname system call.",
    "domainname",
    "machine",
    "nodename",
    "release",
    "sysname",
    "version",
)

# What the kernel reports when no NIS domain is set.
NO_DOMAIN = "(none)"


def parse_domainname(text: str) -> str:
    """The content of /proc/sys/kernel/domainname, without its newline."""
    return text.strip() or NO_DOMAIN


@node_collectors.register
class UnameCollector(HostCollector):
    name = "uname"
    description = "System information from uname (kernel release, machine, hostname)."
    metrics = (UNAME_INFO,)

    def read(self):
        u = os.uname()
        try:
            domain = parse_domainname(read_text(self.proc("sys", "kernel", "domainname")))
        except OSError:
            domain = NO_DOMAIN
        fam = UNAME_INFO.family()
        fam.add((domain, u.machine, u.nodename, u.release, u.sysname, u.version), 1)
        yield fam
