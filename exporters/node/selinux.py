"""selinux: whether SELinux is enabled, and its configured and current mode.

SELinux is enabled when selinuxfs is mounted (``<sysfs>/fs/selinux/enforce``
exists) and this process's security context is not ``kernel`` (the context
every task has when no policy is loaded). Then, as node_exporter defines them:

- ``node_selinux_config_mode``: the boot-time mode, ``SELINUX=`` of
  ``<rootfs>/etc/selinux/config``: 1 enforcing, 0 permissive, -1 disabled
  (also when the file or the line is missing);
- ``node_selinux_current_mode``: the number in ``<sysfs>/fs/selinux/enforce``
  (1 enforcing, 0 permissive), -1 when it cannot be read.

When SELinux is not enabled only ``node_selinux_enabled 0`` is exported.
"""

from __future__ import annotations

import os

from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

ENABLED = gauge("node_selinux_enabled", "SELinux is enabled, 1 is true, 0 is false")
CONFIG_MODE = gauge("node_selinux_config_mode", "Configured SELinux enforcement mode")
CURRENT_MODE = gauge("node_selinux_current_mode", "Current SELinux enforcement mode")

ENFORCING, PERMISSIVE, DISABLED = 1, 0, -1


def parse_selinux_config(text: str) -> int:
    """The mode of an /etc/selinux/config text: its ``SELINUX=`` line (quotes
    allowed; ``#`` and ``;`` start comments), -1 when absent or unknown."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if sep and key == "SELINUX":
            return {"enforcing": ENFORCING, "permissive": PERMISSIVE}.get(value.strip('"'), DISABLED)
    return DISABLED


def parse_enforce(text: str) -> int:
    """The number in selinuxfs's ``enforce`` file, -1 when it is not a number."""
    try:
        return int(text.strip("\x00").strip())
    except ValueError:
        return DISABLED


@node_collectors.register
class SelinuxCollector(HostCollector):
    name = "selinux"
    description = "SELinux state: enabled, configured and current enforcement mode."
    metrics = (ENABLED, CONFIG_MODE, CURRENT_MODE)

    def enabled(self) -> bool:
        if not os.path.isfile(self.sys("fs", "selinux", "enforce")):
            return False
        try:
            context = read_text(self.proc("self", "attr", "current")).strip("\x00").strip()
        except OSError:
            return True
        return context != "kernel"

    def read(self):
        fam = ENABLED.family()
        if not self.enabled():
            fam.add((), 0)
            yield fam
            return
        fam.add((), 1)
        yield fam

        try:
            config_mode = parse_selinux_config(read_text(self.root("etc", "selinux", "config")))
        except OSError:
            config_mode = DISABLED
        fam = CONFIG_MODE.family()
        fam.add((), config_mode)
        yield fam

        try:
            current_mode = parse_enforce(read_text(self.sys("fs", "selinux", "enforce")))
        except OSError:
            current_mode = DISABLED
        fam = CURRENT_MODE.family()
        fam.add((), current_mode)
        yield fam
