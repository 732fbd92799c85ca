"""Declarative query collectors: most of postgres_exporter is "run this SQL, turn
these columns into these metrics". A :class:`Query` row says that once, with the
PostgreSQL versions it applies to; :func:`register_query_collector` makes it a
collector. Adding a metric is adding a :class:`Column`.

Value rules, as postgres_exporter 0.11 (the Debian reference) has them: a NULL
value becomes NaN, a NULL label becomes "", a timestamp becomes epoch seconds,
booleans 1/0. Every family carries the ``server`` label (host:port of the target).
"""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.collector import Flag, Settings
from ..core.metrics import COUNTER, GAUGE, UNTYPED, MetricDef
from .registry import PgCollector, pg_collectors

ANY_VERSION = (0, 10**7)


@dataclass(frozen=True)
class Column:
    """One value column -> one metric family ``<prefix>_<name or column>``."""

    column: str
    type: str
    help: str
    name: str | None = None  # the metric suffix when it differs from the column name
    scale: float = 1.0       # e.g. 0.001 for milliseconds -> seconds


@dataclass(frozen=True)
class Query:
    """SQL for a server-version range; its label columns, then its value columns."""

    sql: str
    labels: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    versions: tuple[int, int] = ANY_VERSION  # server_version_num, [from, to)
    # columns not listed become untyped "Unknown metric from <prefix>" (as the legacy
    # map does with new columns of SELECT * views) unless this is False
    unknown_columns: bool = False


def to_float(value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)  # numeric text; ValueError for anything else


def to_label(value) -> str:
    return "" if value is None else str(value)


@dataclass
class QueryCollectorSpec:
    name: str
    description: str
    prefix: str
    queries: tuple[Query, ...]
    default_enabled: bool = True
    skip: frozenset[str] = field(default_factory=frozenset)  # columns that are neither label nor value
    flags: tuple[Flag, ...] = ()  # the collector's own flags
    # integers from the settings, put into the SQL text where it says ``%(name)d`` (validated
    # ints only, never text; not bind parameters, so every query of a scrape stays parameter-free).
    # May raise ValueError for bad input (reported as a ConfigError). None: the SQL is used as is.
    params: Callable[[Settings], dict[str, Any]] | None = None


def register_query_collector(spec: QueryCollectorSpec) -> type[PgCollector]:
    """Make and register the collector class that runs ``spec``'s query for the target's version."""
    metric_defs = tuple({
        (spec.prefix + "_" + (c.name or c.column)): MetricDef(
            spec.prefix + "_" + (c.name or c.column), c.type, c.help, (*q.labels, "server"))
        for q in spec.queries for c in q.columns}.values())

    class QueryCollector(PgCollector):
        name = spec.name
        description = spec.description
        default_enabled = spec.default_enabled
        metrics = metric_defs
        flags = spec.flags

        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            params = spec.params(settings) if spec.params is not None else None
            if params is not None and not all(type(v) is int for v in params.values()):
                raise ValueError(f"{spec.name}: only integers go into SQL text")
            self.params = params

        def query(self) -> Query | None:
            version = self.session.version_num
            for q in spec.queries:
                if q.versions[0] <= version < q.versions[1]:
                    return q
            return None

        async def collect(self):
            q = self.query()
            if q is None:
                return []
            names, rows = await self.session.fetch(q.sql % self.params if self.params is not None else q.sql)
            index = {n: i for i, n in enumerate(names)}
            label_idx = [index[l] for l in q.labels]
            known = {c.column for c in q.columns} | set(q.labels) | spec.skip
            columns = [c for c in q.columns if c.column in index]
            if q.unknown_columns:
                columns += [Column(n, UNTYPED, f"Unknown metric from {spec.prefix}") for n in names if n not in known]
            families = {}
            for c in columns:
                metric = spec.prefix + "_" + (c.name or c.column)
                families[c.column] = MetricDef(metric, c.type, c.help, (*q.labels, "server")).family()
            server = self.session.server
            for row in rows:
                labels = tuple(to_label(row[i]) for i in label_idx) + (server,)
                for c in columns:
                    try:
                        v = to_float(row[index[c.column]])
                    except (TypeError, ValueError):
                        continue  # not a number (a text column): never a failed scrape
                    families[c.column].add(labels, v * c.scale if c.scale != 1.0 else v)
            return list(families.values())

    QueryCollector.__name__ = QueryCollector.__qualname__ = f"{spec.name.title().replace('_', '')}Collector"
    return pg_collectors.register(QueryCollector)


__all__ = ["COUNTER", "GAUGE", "UNTYPED", "Column", "Query", "QueryCollectorSpec", "register_query_collector"]
