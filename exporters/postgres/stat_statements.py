"""stat_statements (off by default): per-statement totals from the pg_stat_statements extension.

``pg_stat_statements_{calls_total,seconds_total,rows_total,block_read_seconds_total,
block_write_seconds_total}{user,datname,queryid[,server]}``, counters, as upstream names them: the
times are the extension's milliseconds in seconds (``total_exec_time``; ``total_time`` before
PostgreSQL 13; ``shared_blk_read_time`` / ``shared_blk_write_time`` from 17 on, where
``blk_read_time`` / ``blk_write_time`` were renamed). Entries that differ only in ``toplevel``
(PostgreSQL 14+) are summed, so every (user, datname, queryid) is one series.

Cardinality is bounded: only the top ``--collector.stat_statements.limit`` statements (default
100) by total execution time, after leaving out the databases and users of
``--collector.stat_statements.exclude_databases`` / ``exclude_users`` (postgres_exporter 0.19's
flags): at most ``limit`` series per family whatever the number of statements, users and
databases. The statement text is not exposed unless
``--collector.stat_statements.include_query`` is given; then
``pg_stat_statements_query_id{queryid,query[,server]}`` = 1 maps each of those queryids to its text,
cut to ``--collector.stat_statements.query_length`` characters (default 120).

The view exists only in the databases where ``CREATE EXTENSION pg_stat_statements`` was run, and
only works with ``shared_preload_libraries = 'pg_stat_statements'``: otherwise the collector fails
with that reason (logged once). The other users' statements need pg_read_all_stats (pg_monitor)."""

from __future__ import annotations

from ..core.collector import Flag
from ..core.metrics import COUNTER, GAUGE, MetricDef
from .query import Query, to_float, to_label
from .registry import PgCollector, pg_collectors

DEFAULT_LIMIT = 100
DEFAULT_QUERY_LENGTH = 120
PG13, PG17 = 130000, 170000

LABELS = ("user", "datname", "queryid")
VALUES = (
    ("calls_total", "Number of times executed"),
    ("seconds_total", "Total time spent in the statement, in seconds"),
    ("rows_total", "Total number of rows retrieved or affected by the statement"),
    ("block_read_seconds_total", "Total time the statement spent reading blocks, in seconds"),
    ("block_write_seconds_total", "Total time the statement spent writing blocks, in seconds"),
)
PREFIX = "pg_stat_statements"
QUERY_ID = MetricDef(
    PREFIX + "_query_id",
    GAUGE,
    "SQL Query to queryid mapping (1), with --collector.stat_statements.include_query; the text is truncated",
    ("queryid", "query", "server"),
)
METRICS = tuple(MetricDef(f"{PREFIX}_{name}", COUNTER, help, (*LABELS, "server")) for name, help in VALUES) + (
    QUERY_ID,
)


def _sql(total: str, read: str, write: str) -> str:
    # {query} is filled per collector (the text column or nothing); %(limit)d / %(length)d are validated ints
    return (
        f"""SELECT pg_get_userbyid(s.userid) AS "user", d.datname, s.queryid::text AS queryid,
  sum(s.calls) AS calls_total, sum(s.{total}) / 1000.0 AS seconds_total, sum(s.rows) AS rows_total,
  sum(s.{read}) / 1000.0 AS block_read_seconds_total, sum(s.{write}) / 1000.0 AS block_write_seconds_total"""
        "{query}\n"
        """FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL{exclude}
GROUP BY s.userid, d.datname, s.queryid
ORDER BY seconds_total DESC, queryid
LIMIT %(limit)d"""
    )


QUERIES = (
    Query(_sql("total_time", "blk_read_time", "blk_write_time"), LABELS, versions=(90400, PG13)),
    Query(_sql("total_exec_time", "blk_read_time", "blk_write_time"), LABELS, versions=(PG13, PG17)),
    Query(_sql("total_exec_time", "shared_blk_read_time", "shared_blk_write_time"), LABELS, versions=(PG17, 10**7)),
)
QUERY_COLUMN = ",\n  left(min(s.query), %(length)d) AS query"

NOT_INSTALLED = ('relation "pg_stat_statements" does not exist', "pg_stat_statements does not exist")


class StatStatementsCollector(PgCollector):
    name = "stat_statements"
    default_enabled = False
    description = (
        "Top statements by total time from pg_stat_statements (needs the extension); "
        "query text only with --collector.stat_statements.include_query."
    )
    metrics = METRICS
    flags = (
        Flag(
            "--collector.stat_statements.limit",
            "collector_stat_statements_limit",
            "Read at most this many statements, those with the most total execution time.",
            default=DEFAULT_LIMIT,
            type=int,
        ),
        Flag(
            "--collector.stat_statements.include_query",
            "collector_stat_statements_include_query",
            "Also expose each statement's text as pg_stat_statements_query_id{queryid,query}.",
            default=False,
            type=bool,
        ),
        Flag(
            "--collector.stat_statements.query_length",
            "collector_stat_statements_query_length",
            "Cut the exposed statement text to this many characters.",
            default=DEFAULT_QUERY_LENGTH,
            type=int,
        ),
        Flag(
            "--collector.stat_statements.exclude_databases",
            "collector_stat_statements_exclude_databases",
            "Comma-separated database names whose statements are not read (postgres_exporter 0.19's flag).",
            metavar="NAMES",
        ),
        Flag(
            "--collector.stat_statements.exclude_users",
            "collector_stat_statements_exclude_users",
            "Comma-separated user names whose statements are not read (postgres_exporter 0.19's flag).",
            metavar="NAMES",
        ),
    )

    def __init__(self, settings) -> None:
        super().__init__(settings)
        limit = settings.get("collector_stat_statements_limit")
        length = settings.get("collector_stat_statements_query_length")
        self.limit = DEFAULT_LIMIT if limit is None else int(limit)
        self.length = DEFAULT_QUERY_LENGTH if length is None else int(length)
        if self.limit < 1:
            raise ValueError("--collector.stat_statements.limit must be at least 1")
        if self.length < 1:
            raise ValueError("--collector.stat_statements.query_length must be at least 1")
        self.include_query = bool(settings.get("collector_stat_statements_include_query"))
        self.exclude = ""
        for column, dest in (
            ("d.datname", "collector_stat_statements_exclude_databases"),
            ("pg_get_userbyid(s.userid)", "collector_stat_statements_exclude_users"),
        ):
            names = [n.strip() for n in (settings.get(dest) or "").split(",") if n.strip()]
            if names:  # names as SQL literals (quotes doubled): the statement stays parameter-free
                quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
                self.exclude += f"\n  AND {column} NOT IN ({quoted})"

    def _sql(self) -> str | None:
        version = self.session.version_num
        for q in QUERIES:
            if q.versions[0] <= version < q.versions[1]:
                query = QUERY_COLUMN if self.include_query else ""
                sql = q.sql.replace("{query}", query).replace("{exclude}", self.exclude.replace("%", "%%"))
                return sql % {"limit": self.limit, "length": self.length}
        return None

    async def collect(self):
        sql = self._sql()
        if sql is None:
            return []
        try:
            names, rows = await self.session.fetch(sql)
        except RuntimeError as exc:
            if any(s in str(exc) for s in NOT_INSTALLED):
                raise RuntimeError(
                    "the pg_stat_statements extension is not installed in the DSN's database "
                    "(CREATE EXTENSION pg_stat_statements; it also needs "
                    "shared_preload_libraries = 'pg_stat_statements')"
                ) from None
            raise
        index = {n: i for i, n in enumerate(names)}
        families = [self.family(d) for d in METRICS[:-1]]
        query_ids = self.family(QUERY_ID) if self.include_query else None
        seen = set()
        for row in rows:
            labels = self.labels(*(to_label(row[index[l]]) for l in LABELS))
            for family, (column, _) in zip(families, VALUES):
                try:
                    family.add(labels, to_float(row[index[column]]))
                except (TypeError, ValueError):
                    continue
            if query_ids is not None:
                key = (labels[2], to_label(row[index["query"]]))
                if key not in seen:  # one statement under several users or databases: one series
                    seen.add(key)
                    query_ids.add(self.labels(*key), 1)
        return families + ([query_ids] if query_ids is not None else [])


pg_collectors.register(StatStatementsCollector)
