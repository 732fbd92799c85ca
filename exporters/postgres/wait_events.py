"""wait_events (off by default; not in postgres_exporter): what the active backends are
waiting on right now, ``pg_wait_event_active_backends{wait_event_type,wait_event}``, a gauge
of backends in state ``active`` (the exporter's own left out) per wait event; an active
backend waiting on nothing (running on CPU) counts under ``wait_event_type=""``,
``wait_event=""``. Only events with backends are served.

Low cardinality by design: no database, user or application label (stat_activity has those),
and the values come from PostgreSQL's fixed list of wait events (about 270 names; a busy
server shows a dozen). Bounded further by ``--collector.wait_events.limit`` (default 50, the
events with the most backends)."""

from __future__ import annotations

from ..core.collector import Flag
from ..core.metrics import gauge
from .registry import PgCollector, pg_collectors

ACTIVE = gauge(
    "pg_wait_event_active_backends",
    "Number of active backends waiting on this wait event (empty: not waiting)",
    "wait_event_type",
    "wait_event",
    "server",
)
SQL = (
    "SELECT COALESCE(wait_event_type, '') AS wait_event_type, COALESCE(wait_event, '') AS wait_event, "
    "count(*) AS backends FROM pg_stat_activity "
    "WHERE state = 'active' AND application_name <> current_setting('application_name') "
    "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT %d"
)


@pg_collectors.register
class WaitEventsCollector(PgCollector):
    name = "wait_events"
    default_enabled = False
    description = "Active backends per wait event (pg_stat_activity), a low-cardinality breakdown."
    metrics = (ACTIVE,)
    flags = (
        Flag(
            "--collector.wait_events.limit",
            "collector_wait_events_limit",
            "Serve at most this many wait events (those with the most active backends).",
            default=50,
            type=int,
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        limit = settings.get("collector_wait_events_limit")
        self.limit = 50 if limit is None else int(limit)
        if self.limit < 1:
            raise ValueError("--collector.wait_events.limit must be at least 1")

    async def collect(self):
        fam = self.family(ACTIVE)
        for row in await self.rows(SQL % self.limit):
            fam.add(self.labels(row["wait_event_type"], row["wait_event"]), row["backends"])
        return [fam]
