"""The PostgreSQL exporter's collector set and the base every PostgreSQL collector shares."""

from __future__ import annotations

from ..core.collector import Collector, CollectorSet, Settings

pg_collectors = CollectorSet("pg")


class PgCollector(Collector):
    """Queries the target through the scrape's shared session (``settings.hooks``):
    one connection, already checked in this scrape; fails fast when it is down."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.session = settings.get("hooks")

    async def rows(self, sql: str, params=None, *, slow: bool = False) -> list[dict]:
        """``slow``: the session's second connection, for a read that would hold up the others."""
        names, rows = await self.session.fetch(sql, params, slow=slow)
        return [dict(zip(names, row)) for row in rows]
