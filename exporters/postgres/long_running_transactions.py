"""long_running_transactions (off by default): transactions open for longer than a threshold.

``pg_long_running_transactions{[server]}``: the number of backends (other than the exporter's own,
autovacuum workers not counted) whose current transaction started more than
``--collector.long_running_transactions.threshold`` seconds ago (default 300, five minutes).
``pg_long_running_transactions_oldest_timestamp_seconds{[server]}``: the age in seconds of the
oldest open transaction of any backend (0 when none), whatever the threshold. The names are
upstream's."""

from __future__ import annotations

from ..core.collector import Flag
from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

DEFAULT_THRESHOLD = 300
FLAG = "--collector.long_running_transactions.threshold"
DEST = "collector_long_running_transactions_threshold"

SQL = """SELECT
  count(*) FILTER (WHERE xact_start < clock_timestamp() - make_interval(secs => %(threshold)d))
    AS long_running_transactions,
  COALESCE(max(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0)::float8
    AS long_running_transactions_oldest_timestamp_seconds
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND application_name <> current_setting('application_name') AND backend_type IS DISTINCT FROM 'autovacuum worker'"""


def _params(settings) -> dict:
    value = settings.get(DEST)
    threshold = DEFAULT_THRESHOLD if value is None else int(value)
    if threshold < 0:
        raise ValueError(f"{FLAG} must not be negative")
    return {"threshold": threshold}


register_query_collector(
    QueryCollectorSpec(
        name="long_running_transactions",
        description="Transactions open longer than --collector.long_running_transactions.threshold seconds, "
        "and the age of the oldest open transaction (pg_stat_activity).",
        prefix="pg",
        queries=(
            Query(
                SQL,
                columns=(
                    Column(
                        "long_running_transactions",
                        GAUGE,
                        "Current number of transactions open longer than --collector.long_running_transactions.threshold "
                        "seconds",
                    ),
                    Column(
                        "long_running_transactions_oldest_timestamp_seconds",
                        GAUGE,
                        "The current maximum transaction age in seconds",
                    ),
                ),
                versions=(100000, 10**7),
            ),
        ),
        default_enabled=False,
        flags=(
            Flag(
                FLAG,
                DEST,
                "Count transactions open longer than this many seconds.",
                default=DEFAULT_THRESHOLD,
                type=int,
            ),
        ),
        params=_params,
    )
)
