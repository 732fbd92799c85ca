"""The INFO collector: everything redis_exporter derives from INFO ALL (info.py holds the contract)."""

from __future__ import annotations

from ..core.collector import NoData
from . import info as info_contract
from .commands import config_value
from .registry import RedisCollector, pairs, redis_collectors, text
from .session import CommandFailed

DEFAULT_DATABASES = 16  # when CONFIG is unavailable (managed Redis), as redis_exporter assumes


@redis_collectors.register
class InfoCollector(RedisCollector):
    name = "info"
    description = (
        "INFO ALL: server, clients, memory, persistence, stats, replication (both sides), CPU, "
        "commandstats, errorstats, latencystats, keyspace."
    )
    metrics = (*getattr(info_contract, "METRICS", ()), info_contract.MODULE_INFO)

    def databases(self) -> int:
        try:
            value = config_value(self.session, "databases")
        except (CommandFailed, NoData):
            return DEFAULT_DATABASES
        return int(value) if value and value.isdigit() else DEFAULT_DATABASES

    async def collect(self):
        info = info_contract.parse_info(text(self.session.reply("info")))
        databases = self.databases() if self.settings.include_metrics_for_empty_databases else 0
        cluster_info = None
        if info_contract.cluster_enabled(info):  # a second round trip, only on a cluster node
            (reply,) = await self.session.execute(("CLUSTER", "INFO"))
            cluster_info = None if isinstance(reply, Exception) else text(reply)
        out = info_contract.info_families(
            info,
            databases=databases,
            cluster_info=cluster_info,
            include_system_metrics=self.settings.include_system_metrics,
        )
        if "info_modules" in self.session.replies:  # --include-modules-metrics
            out += info_contract.modules_families(text(self.session.reply("info_modules")))
        return out


@redis_collectors.register
class Tile38Collector(RedisCollector):
    name = "tile38"
    description = "--is-tile38: a Tile38 server's SERVER EXT fields (tile38_*); nothing without the flag."
    metrics = tuple(fm.metric for f, fm in info_contract.FIELDS.items() if f.startswith("tile38_"))

    async def collect(self):
        if "tile38" not in self.session.replies:
            return []
        return info_contract.tile38_families({k: text(v) for k, v in pairs(self.session.reply("tile38")).items()})
