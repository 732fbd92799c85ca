"""Declarative query collectors: most of postgres_exporter is "run this SQL, turn
these columns into these metrics". A :class:`Query` row says that once, with the
PostgreSQL versions it applies to; :func:`register_query_collector` makes it a
collector. Adding a metric is adding a :class:`Column`.

Value rules, as postgres_exporter 0.11 (the Debian reference) has them: a NULL
value becomes NaN, a NULL label becomes "", a timestamp becomes epoch seconds,
booleans 1/0. Under ``--compat=0.11`` every family carries the ``server`` label (host:port of
the target); under 0.17 (the default) only those of postgres_exporter's built-in maps
(``legacy_server``), as 0.17.1 has them (compat.py).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import math
import time
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable

from ..core.collector import Flag, PartialFailure, Settings
from ..core.metrics import COUNTER, GAUGE, UNTYPED, MetricDef, MetricFamily, prerender_text
from ..core.scrape import remaining_seconds
from . import compat, fanout
from .registry import PgCollector, pg_collectors

ANY_VERSION = (0, 10**7)
RENDER_RESERVE = 0.5  # seconds of a scrape kept for merging and writing the answer after converting rows
CHUNK_ROWS = 1000  # fan-out rows turned into samples and text between two looks at the event loop (~10 ms)


@dataclass(frozen=True)
class Column:
    """One value column -> one metric family ``<prefix>_<name or column>``."""

    column: str
    type: str
    help: str
    name: str | None = None  # the metric suffix when it differs from the column name
    scale: float = 1.0  # e.g. 0.001 for milliseconds -> seconds


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
    col = list(map(itemgetter(i), rows))
    try:
        return list(map(float, col))  # integers and floats: nearly every column
    except (TypeError, ValueError):
        pass
    try:  # NULLs (math.nan, as to_float) and times: the rest of a per-table scrape
        return [_NAN if v is None else v.timestamp() if v.__class__ is _DATETIME else float(v) for v in col]
    except (TypeError, ValueError, AttributeError):
        pass
    out = []
    for v in col:
        if v.__class__ is datetime.datetime:
            out.append(v.timestamp())
            continue
        try:
            out.append(to_float(v))
        except (TypeError, ValueError):
            out.append(None)
    return out


_NAN = math.nan
_DATETIME = datetime.datetime


def _escaped(values: list) -> list[str]:
    """Label values as label_block writes them (to_label, then the text format's escapes)."""
    try:
        joined = "".join(values)  # all text (no NULL): one look for anything to escape
    except TypeError:
        values = [to_label(v) for v in values]
        joined = "".join(values)
    if "\\" in joined or '"' in joined or "\n" in joined:
        return [v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values]
    return values


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
    # a family of postgres_exporter's built-in query maps, which keeps ``server`` under --compat=0.17
    legacy_server: bool = False
    # the queries under --compat=0.11 when 0.11.1's names or labels differ from 0.17.1's (None: ``queries``)
    legacy_queries: tuple[Query, ...] | None = None


class _RowsFamily(MetricFamily):
    """A family filled by :class:`_Families`, whose duplicate-check set (``_seen``, used by
    merge() and add()) is made from its samples when first needed: _Families keeps its series
    unique itself, and a per-table scrape would otherwise build ~155k (name, labels) tuples
    that nothing reads."""

    @property
    def _seen(self) -> set:
        seen = self.__dict__.get("_seen_set")
        if seen is None:
            seen = self.__dict__["_seen_set"] = {(n, b) for n, b, _ in self.samples}
        return seen

    @_seen.setter
    def _seen(self, value: set) -> None:
        self.__dict__["_seen_set"] = value or None


class _Families:
    """The families of one query's results: rows of one or (fan-out) several databases."""

    def __init__(self, spec: QueryCollectorSpec, q: Query, server: str | None, add_datname: bool | None) -> None:
        self.spec, self.q, self.server = spec, q, server  # server None: no server label (--compat=0.17)
        self.add_datname = bool(add_datname)
        self.labelnames = (("datname",) if self.add_datname else ()) + q.labels + (("server",) if server else ())
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
                fam = self.families[c.column] = _RowsFamily(
                    spec.prefix + "_" + (c.name or c.column), c.type, c.help, self.labelnames
                )
            targets.append((index[c.column], c.scale, fam))

        # The hot loop of a per-table scrape (150k samples at 5,000 tables), column by column with
        # the loops in C where it can: one label block per row, from one template with the constant
        # labels (datname, server) written in once ('{datname="db",schemaname="%s",...}'), then each
        # column converted in one pass and added to its family in bulk. A row whose labels repeat an
        # earlier row's is dropped whole and counted, as MetricFamily.add would drop each of its
        # samples; so the families' own duplicate-check sets are only made when asked for (_RowsFamily).
        def const(name: str, value) -> str:
            return f'{name}="{_escaped([to_label(value)])[0]}"'.replace("%", "%%")

        parts = [const("datname", datname)] if self.add_datname else []
        parts += [f'{name}="%s"' for name in q.labels]
        if self.server is not None:
            parts.append(const("server", self.server))
        template = "{" + ",".join(parts) + "}" if parts else ""
        if label_idx:
            columns_text = [_escaped(list(map(itemgetter(i), rows))) for i in label_idx]
            blocks = list(map(template.__mod__, zip(*columns_text)))
        else:
            blocks = [template % ()] * len(rows)
        seen = self._blocks
        if len(set(blocks)) == len(blocks) and seen.isdisjoint(blocks):
            kept, duplicates = rows, 0  # the usual case: every row a new series
            seen.update(blocks)
        else:
            kept, unique = [], []
            for row, block in zip(rows, blocks):
                if block in seen:
                    continue
                seen.add(block)
                kept.append(row)
                unique.append(block)
            duplicates, blocks = len(rows) - len(kept), unique
        for i, scale, fam in targets:
            values = _column(kept, i)
            bl = blocks
            if None in values:  # not a number (a text column): left out, never a failed scrape
                bl = [b for b, v in zip(blocks, values) if v is not None]
                values = [v for v in values if v is not None]
            if scale != 1.0:
                values = [v * scale for v in values]
            name = fam.name
            fam.samples.extend(zip(repeat(name), bl, values))
            made = fam.__dict__.get("_seen_set")  # only once something has asked for it
            if made is not None:
                made.update(zip(repeat(name), bl))
            fam.duplicates += duplicates
        return self

    def result(self) -> list[MetricFamily]:
        return list(self.families.values())


async def _convert(
    families: _Families, names: list[str], rows: list[tuple], datname: str | None, reserve: float
) -> None:
    """Rows into samples and their text, CHUNK_ROWS at a time, looking at the event loop between
    chunks (the other databases' I/O goes on meanwhile) and at the scrape deadline. What is converted
    costs about as much again to merge, render and compress (measured: 100,000 tables, 1.4 s to
    convert, 1.5 s after), so when less than ``reserve`` plus the time converting took so far is left,
    the rows converted so far are served and the collector fails, saying how far it got, instead of
    the answer coming late."""
    started = time.monotonic()
    for start in range(0, len(rows), CHUNK_ROWS):
        if start and remaining_seconds() < reserve + (time.monotonic() - started):
            raise PartialFailure(
                f"stopped at the scrape deadline: {start} of {len(rows)} rows"
                + (f" of {datname}" if datname else "")
                + " converted",
                families.result(),
            )
        families.add(names, rows[start : start + CHUNK_ROWS], datname)
        for fam in families.families.values():  # their text too, while the rest is read
            prerender_text(fam)
        await asyncio.sleep(0)


def register_query_collector(spec: QueryCollectorSpec) -> type[PgCollector]:
    """Make and register the collector class that runs ``spec``'s query for the target's version."""
    defs: dict[str, MetricDef] = {}  # the default (0.17) queries' first, then names only 0.11 has
    for queries, server in ((spec.queries, spec.legacy_server), (spec.legacy_queries or (), True)):
        for q in queries:
            for c in q.columns:
                name = spec.prefix + "_" + (c.name or c.column)
                defs.setdefault(name, MetricDef(name, c.type, c.help, (*q.labels, "server") if server else q.labels))
    metric_defs = tuple(defs.values())

    class QueryCollector(PgCollector):
        name = spec.name
        description = spec.description
        default_enabled = spec.default_enabled
        metrics = metric_defs
        flags = spec.flags
        legacy_server = spec.legacy_server

        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            params = spec.params(settings) if spec.params is not None else None
            if params is not None and not all(type(v) is int for v in params.values()):
                raise ValueError(f"{spec.name}: only integers go into SQL text")
            self.params = params
            self.fanout = spec.per_database and settings.options.fanout.enabled
            self.with_server = compat.keeps_server(settings, spec.legacy_server)
            self.queries = spec.legacy_queries if spec.legacy_queries and not compat.modern(settings) else spec.queries

        @property
        def server(self) -> str | None:
            return self.session.server if self.with_server else None

        def query(self) -> Query | None:
            version = self.session.version_num
            for q in self.queries:
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
                families = _Families(spec, q, self.server, None)
                if len(rows) <= CHUNK_ROWS:
                    return families.add(names, rows).result()
                await _convert(families, names, rows, None, reserve=min(RENDER_RESERVE, remaining_seconds() / 2))
                return families.result()
            pending = await self.session.fanout().fetch(sql)
            families = _Families(spec, q, self.server, "datname" not in q.labels)
            failed = []
            for datname, result in pending:  # in database order, each as soon as it has arrived
                try:
                    names, rows = await result
                except fanout.DatabaseFailed as exc:
                    failed.append(exc)
                    continue
                await _convert(families, names, rows, datname, reserve=min(RENDER_RESERVE, remaining_seconds() / 2))
            if failed:  # the other databases' series are served
                raise PartialFailure(fanout.failure_message(failed, len(pending)), families.result())
            return families.result()

    QueryCollector.__name__ = QueryCollector.__qualname__ = f"{spec.name.title().replace('_', '')}Collector"
    return pg_collectors.register(QueryCollector)


__all__ = ["COUNTER", "GAUGE", "UNTYPED", "Column", "Query", "QueryCollectorSpec", "register_query_collector"]
