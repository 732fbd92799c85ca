"""database_wraparound (off by default): how far each database is from transaction ID wraparound.

``pg_database_wraparound_age_datfrozenxid_seconds{datname[,server]}`` = ``age(datfrozenxid)`` and
``pg_database_wraparound_age_datminmxid_seconds{datname[,server]}`` = ``mxid_age(datminmxid)``, for
every database that allows connections. Despite the ``_seconds`` in upstream's names (kept for
compatibility), the values are ages in transactions (multixacts), not seconds."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

SQL = """SELECT datname, age(datfrozenxid) AS age_datfrozenxid, mxid_age(datminmxid) AS age_datminmxid
FROM pg_database
WHERE datallowconn
ORDER BY datname"""

register_query_collector(
    QueryCollectorSpec(
        name="database_wraparound",
        description="Age of each database's datfrozenxid and datminmxid (transactions, despite the _seconds names).",
        prefix="pg_database_wraparound",
        queries=(
            Query(
                SQL,
                labels=("datname",),
                columns=(
                    Column(
                        "age_datfrozenxid",
                        GAUGE,
                        "Age of the oldest transaction ID that has not been frozen, in transactions "
                        "(not seconds, despite the name)",
                        name="age_datfrozenxid_seconds",
                    ),
                    Column(
                        "age_datminmxid",
                        GAUGE,
                        "Age of the oldest multi-transaction ID that has been replaced with a transaction ID, in multixacts "
                        "(not seconds, despite the name)",
                        name="age_datminmxid_seconds",
                    ),
                ),
                versions=(90500, 10**7),
            ),
        ),
        default_enabled=False,
    )
)
