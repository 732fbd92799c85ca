"""roles: ``pg_roles_connection_limit{rolname}``, each role's connection limit
(-1: no limit)."""

from __future__ import annotations

from .query import GAUGE, Column, Query, QueryCollectorSpec, register_query_collector

register_query_collector(
    QueryCollectorSpec(
        name="roles",
        description="Connection limit of each role (pg_roles).",
        prefix="pg_roles",
        queries=(
            Query(
                "SELECT rolname, rolconnlimit AS connection_limit FROM pg_roles",
                labels=("rolname",),
                columns=(Column("connection_limit", GAUGE, "Connection limit set for the role"),),
            ),
        ),
    )
)
