"""bonding: configured and active (MII up) slaves per bonding master, as node_exporter 1.9 reports them.

The masters are listed in <sysfs>/class/net/bonding_masters, their slaves in
<master>/bonding/slaves, and each slave's MII state in
<master>/lower_<slave>/bonding_slave/mii_status (kernels before 4.x:
slave_<slave>/...). The node-mixin alert NodeBondingDegraded compares the two.
A master whose files cannot be read is left out (the others are served,
success 0); no bonding_masters (no bonding driver) is "no data".
"""

from __future__ import annotations

import os

from ..core.collector import NoData, PartialFailure
from ..core.metrics import gauge
from .registry import HostCollector, node_collectors, read_text

SLAVES = gauge("node_bonding_slaves", "Number of configured slaves per bonding interface.", "master")
ACTIVE = gauge("node_bonding_active", "Number of active slaves per bonding interface.", "master")


@node_collectors.register
class BondingCollector(HostCollector):
    name = "bonding"
    description = "Bonded network interfaces: configured and active slaves (<sysfs>/class/net/bonding_masters)."
    metrics = (SLAVES, ACTIVE)

    def master(self, master: str) -> tuple[int, int]:
        net = self.sys("class", "net")
        slaves = read_text(os.path.join(net, master, "bonding", "slaves")).split()
        active = 0
        for slave in slaves:
            try:
                state = read_text(os.path.join(net, master, f"lower_{slave}", "bonding_slave", "mii_status"))
            except FileNotFoundError:
                state = read_text(os.path.join(net, master, f"slave_{slave}", "bonding_slave", "mii_status"))
            if state.strip() == "up":
                active += 1
        return len(slaves), active

    def read(self):
        path = self.sys("class", "net", "bonding_masters")
        try:
            masters = read_text(path).split()
        except FileNotFoundError as exc:
            raise NoData(f"{path} does not exist (no bonding driver)") from exc
        slaves_fam, active_fam = SLAVES.family(), ACTIVE.family()
        errors = []
        for master in masters:
            try:
                configured, active = self.master(master)
            except OSError as exc:
                errors.append(f"bonding master {master}: {exc.strerror or exc}: {exc.filename}")
                continue
            slaves_fam.add((master,), configured)
            active_fam.add((master,), active)
        if errors:
            raise PartialFailure("; ".join(errors), (slaves_fam, active_fam))
        yield slaves_fam
        yield active_fam
