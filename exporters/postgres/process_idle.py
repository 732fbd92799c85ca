"""process_idle (off by default, as upstream): how long backends have been idle, as the
histogram ``pg_process_idle_seconds{state,application_name}`` (buckets 1, 2, 5, 15, 30, 60,
90, 120, 300 s), over the backends whose state is ``idle`` or ``idle in transaction*``.

Unlike postgres_exporter 0.17.1, which reads only the first row of its query (one
histogram, whichever state and application come first), every (state, application) pair
is served; the exporter's own connections are not counted (as in stat_activity). At most
max_connections series, application_name being set by clients."""

from __future__ import annotations

import math

from ..core.metrics import HISTOGRAM, MetricDef
from .registry import PgCollector, pg_collectors

BOUNDS = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 90.0, 120.0, 300.0)
IDLE = MetricDef(
    "pg_process_idle_seconds", HISTOGRAM, "Idle time of server processes", ("state", "application_name", "server")
)
SQL = (
    "SELECT state, application_name, EXTRACT(EPOCH FROM now() - state_change)::float8 AS idle "
    "FROM pg_stat_activity WHERE state ~ '^idle' AND state_change IS NOT NULL "
    "AND application_name <> current_setting('application_name') ORDER BY 1, 2"
)


@pg_collectors.register
class ProcessIdleCollector(PgCollector):
    name = "process_idle"
    default_enabled = False
    description = "Idle time of backends by state and application, as a histogram (pg_stat_activity)."
    metrics = (IDLE,)

    async def collect(self):
        groups: dict[tuple[str, str], list[float]] = {}
        for row in await self.rows(SQL):
            key = (row["state"] or "unknown", row["application_name"] or "")
            groups.setdefault(key, []).append(max(0.0, row["idle"]))
        fam = self.family(IDLE)
        for key, ages in groups.items():
            buckets = [(b, sum(1 for a in ages if a <= b)) for b in BOUNDS]
            # the sum of whole seconds, each rounded as upstream's ::bigint rounds (half away from zero)
            fam.add_histogram(self.labels(*key), buckets, float(sum(math.floor(a + 0.5) for a in ages)), len(ages))
        return [fam]
