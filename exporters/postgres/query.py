"""Declarative query collectors: most of postgres_exporter is "run this SQL, turn
these columns into these metrics". A :class:`Query` row says that once, with the
PostgreSQL versions it applies to; :func:`register_query_collector` makes it a
collector. Adding a metric is adding a :class:`Column`.

Value rules, as postgres_exporter 0.11 (the Debian reference) has them: a NULL
value becomes NaN, a NULL label becomes "", a timestamp becomes epoch seconds,
booleans 1/0. Every family carries the ``server`` label (host:port of the target).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.collector import Flag, PartialFailure, Settings
from ..core.metrics import COUNTER, GAUGE, UNTYPED, MetricDef, MetricFamily, label_block
from . import fanout
from .registry import PgCollector, pg_collectors

ANY_VERSION = (0, 10**7)
CHUNK_ROWS = 1000  # fan-out rows turned into samples between two looks at the event loop (~20 ms)


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


def _column(rows: list[tuple], i: int) -> list:
    """Column ``i`` of ``rows`` as floats (to_float's rules), None where a value is not a number."""
    try:
        return [float(row[i]) for row in rows]  # integers and floats: nearly every column
    except (TypeError, ValueError):
        pass
    out = []
    for row in rows:
        v = row[i]
        if v.__class__ is datetime.datetime:
            out.append(v.timestamp())
            continue
        try:
            out.append(to_float(v))
        except (TypeError, ValueError):
            out.append(None)
    return out


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
    # A query of per-database views (pg_stat_user_tables, ...): with --auto-discover-databases it
    # runs in every database through the fan-out (fanout.py), and its families get a ``datname``
    # label (the database's name) when the query has none of its own.
    per_database: bool = False


class _Families:
    """The families of one query's results: rows of one or (fan-out) several databases."""

    def __init__(self, spec: QueryCollectorSpec, q: Query, server: str, add_datname: bool | None) -> None:
        self.spec, self.q, self.server = spec, q, server
        self.add_datname = bool(add_datname)
        self.labelnames = (("datname",) if self.add_datname else ()) + q.labels + ("server",)
        self.families: dict[str, MetricFamily] = {}
        self._blocks: set[str] = set()  # label blocks of the rows taken so far

    def add(self, names: list[str], rows: list[tuple], datname: str | None = None) -> "_Families":
        spec, q = self.spec, self.q
        index = {n: i for i, n in enumerate(names)}
        label_idx = [index[l] for l in q.labels]
        columns = [c for c in q.columns if c.column in index]
        if q.unknown_columns:
            known = {c.column for c in q.columns} | set(q.labels) | spec.skip
            columns += [Column(n, UNTYPED, f"Unknown metric from {spec.prefix}") for n in names if n not in known]
        targets = []
        for c in columns:
            fam = self.families.get(c.column)
            if fam is None:
                fam = self.families[c.column] = MetricFamily(
                    spec.prefix + "_" + (c.name or c.column), c.type, c.help, self.labelnames)
            targets.append((index[c.column], c.scale, fam))
        # The hot loop of a per-table scrape (150k samples at 5,000 tables): one label block per row,
        # then each column converted in one pass and added to its family in bulk (with the family's
        # duplicate-check set, which merge() relies on). A row whose labels repeat an earlier row's
        # is dropped whole and counted, as MetricFamily.add would drop each of its samples.
        head = (datname,) if self.add_datname else ()
        tail = (self.server,)
        labelnames, seen = self.labelnames, self._blocks
        kept, blocks = [], []
        duplicates = 0
        for row in rows:
            block = label_block(zip(labelnames, head + tuple(to_label(row[i]) for i in label_idx) + tail))
            if block in seen:
                duplicates += 1
                continue
            seen.add(block)
            kept.append(row)
            blocks.append(block)
        for i, scale, fam in targets:
            values = _column(kept, i)
            pairs = zip(blocks, values)
            if None in values:  # not a number (a text column): left out, never a failed scrape
                pairs = [(b, v) for b, v in pairs if v is not None]
            name = fam.name
            samples = [(name, b, v * scale) for b, v in pairs] if scale != 1.0 else [(name, b, v) for b, v in pairs]
            fam.samples.extend(samples)
            fam._seen.update([(name, b) for _, b, _ in samples])
            fam.duplicates += duplicates
        return self

    def result(self) -> list[MetricFamily]:
        return list(self.families.values())


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
            self.fanout = spec.per_database and fanout.configure(settings).enabled

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
            sql = q.sql % self.params if self.params is not None else q.sql
            if not self.fanout:
                names, rows = await self.session.fetch(sql)
                return _Families(spec, q, self.session.server, None).add(names, rows).result()
            pending = await fanout.fanout_for(self.session, self.settings).fetch(sql)
            families = _Families(spec, q, self.session.server, "datname" not in q.labels)
            failed = []
            for datname, result in pending:  # in database order, each as soon as it has arrived
                try:
                    names, rows = await result
                except fanout.DatabaseFailed as exc:
                    failed.append(exc)
                    continue
                for start in range(0, len(rows), CHUNK_ROWS):  # let the other databases' I/O go on meanwhile
                    families.add(names, rows[start:start + CHUNK_ROWS], datname)
                    await asyncio.sleep(0)
            if failed:  # the other databases' series are served
                raise PartialFailure(fanout.failure_message(failed, len(pending)), families.result())
            return families.result()

    QueryCollector.__name__ = QueryCollector.__qualname__ = f"{spec.name.title().replace('_', '')}Collector"
    return pg_collectors.register(QueryCollector)


__all__ = ["COUNTER", "GAUGE", "UNTYPED", "Column", "Query", "QueryCollectorSpec", "register_query_collector"]
