"""The PostgreSQL exporter's collector set and the base every PostgreSQL collector shares.

In the collectors' docstrings ``[,server]`` is the label only ``--compat=0.11`` adds (compat.py)."""

from __future__ import annotations

from ..core.collector import Collector, CollectorSet, Settings
from ..core.metrics import MetricDef, MetricFamily
from .compat import keeps_server
from .servershare import PER_DATABASE

pg_collectors = CollectorSet("pg")


class PgCollector(Collector):
    """Queries the target through the scrape's shared session (``settings.hooks``):
    one connection, already checked in this scrape; fails fast when it is down."""

    legacy_server = False  # a family of postgres_exporter 0.17.1's built-in maps: keeps ``server`` (compat.py)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.session = settings.get("hooks")
        self.with_server = keeps_server(settings, self.legacy_server)
        share = getattr(self.session, "share", None)
        if share is not None and self.name not in PER_DATABASE:
            # a /probe target: one read of the cluster-wide views per server and cache window
            own = self.collect
            self.collect = lambda: share.cached(self.name, own)  # type: ignore[method-assign]

    def family(self, d: MetricDef) -> MetricFamily:
        """A fresh family of ``d``, whose last label ``server`` is dropped under --compat=0.17."""
        labels = d.labels if self.with_server else tuple(n for n in d.labels if n != "server")
        return MetricFamily(d.name, d.type, d.help, labels)

    def labels(self, *values) -> tuple:
        """``values`` and, when the families carry it, the ``server`` label's value."""
        return (*values, self.session.server) if self.with_server else values

    async def rows(self, sql: str, params=None, *, slow: bool = False) -> list[dict]:
        """``slow``: the session's second connection, for a read that would hold up the others."""
        names, rows = await self.session.fetch(sql, params, slow=slow)
        return [dict(zip(names, row)) for row in rows]
