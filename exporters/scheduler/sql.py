"""A job table in PostgreSQL as a scheduler backend (``type: sql``), read with SELECTs only.

The default schema (docs/scheduler-sql.md; table and column names are configurable)::

    CREATE TABLE scheduler_jobs (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue        text        NOT NULL,
        state        text        NOT NULL,   -- waiting, active, delayed, completed, failed
        data         jsonb,                  -- the job's input: {"sport": ..., "teamCount": ...}
        result       jsonb,                  -- its return value: {"constraintViolations": [...]}
        created_at   timestamptz NOT NULL DEFAULT now(),
        started_at   timestamptz,            -- last start of processing
        finished_at  timestamptz,            -- set when state becomes completed or failed
        run_at       timestamptz,            -- delayed jobs: when they become due
        heartbeat_at timestamptz,            -- active jobs: the worker's last sign of life
        CHECK (state NOT IN ('completed', 'failed') OR finished_at IS NOT NULL)
    );
    CREATE INDEX ON scheduler_jobs (finished_at, id);
    CREATE INDEX ON scheduler_jobs (queue, state, created_at)
        WHERE state IN ('waiting', 'active', 'delayed');

Per scrape the reader runs two statements on one kept connection (autocommit, read-only):

* **consume**: the rows that became completed / failed since the previous scrape, walking the
  ``(finished_at, id)`` index from a watermark (keyset pagination, at most ``BATCH`` rows; the
  rest come next scrape), plus the rows of the last ``OVERLAP`` seconds before the watermark
  that were not seen yet (transactions that committed late, with an earlier ``finished_at``).
  Ids counted within that window are kept (at most ``SEEN_MAX``) and excluded. Each such row is
  handed to the ledger once; the work is proportional to rows finished recently, not to the
  history the table keeps.
* **gauges**: jobs by state for the unfinished states only (the partial index), the oldest
  waiting job's age, overdue delayed jobs and stalled active ones. Completed / failed rows are
  not counted in ``scheduler_queue_jobs``: counting them would scan the kept history every
  scrape; the throughput is in ``scheduler_queue_jobs_{completed,failed}_total``.

A table or column the config names that does not exist raises :class:`SchemaError`, whose
message names it; the collector turns it into ``scheduler_up 0`` and one log line. No message
carries the DSN or its password."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Any

from .backend import QueueState, Reader
from .config import DEFAULT_SQL_COLUMNS
from .contract import FinishedJob, decode_json
from .pgconn import KeptConnection

APPLICATION_NAME = "flextime-exporter-scheduler"
UNFINISHED = ("waiting", "active", "delayed")
FINAL = ("completed", "failed")
# columns a table must have; the others may be missing when left at their default names
REQUIRED_ROLES = ("id", "queue", "state", "created_at", "finished_at")
TIME_ROLES = ("created_at", "started_at", "finished_at", "run_at", "heartbeat_at")
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone")
JSON_TYPES = ("json", "jsonb")
TEXT_TYPES = ("text", "bytea", "character varying", "character")
_SAFE_TYPE = re.compile(r'^[A-Za-z0-9_ ."(),]+$')


class SchemaError(RuntimeError):
    """The configured table or one of its columns is missing or has an unusable type."""


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:  # timestamp without time zone: read as UTC (durations are unaffected)
            return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
        return value.timestamp()
    return None


def _base_type(type_name: str) -> str:
    return type_name.split("(", 1)[0].strip()


class SQLReader(Reader):
    kind = "sql"
    BATCH = 5000  # rows handed to the ledger per scrape at most (the rest: next scrape)
    OVERLAP = 60.0  # seconds before the watermark re-read for rows committed late
    SEEN_MAX = 20000  # ids remembered for that window at most (the window shrinks beyond it)

    def __init__(self, config, ledger, timeout: float = 5.0, started_at: float | None = None) -> None:
        super().__init__(config, ledger, timeout, started_at)
        self.pg = KeptConnection(config.dsn, timeout, APPLICATION_NAME)
        self._schema: dict[str, str] | None = None  # role -> column type, for the columns that exist
        self._mark: tuple[Any, Any] | None = None  # (finished_at, id) of the last row handed over
        self._seen: dict[str, Any] = {}  # id -> finished_at of rows counted within the overlap window
        self._seen_floor: Any = None  # rows finished before it are not re-read (ids evicted)
        self._known: set[str] = set(config.queues)
        self._queue_cap = max(config.max_queues, len(config.queues), 1000)

    # ---- connection ------------------------------------------------------------------------
    async def _run(self, work):
        """``await work(conn)`` on the kept connection (pgconn.py), the table's columns read
        first when not known; any failure makes them be read again next time (a table or
        column may have been created or renamed since)."""

        async def with_schema(conn):
            if self._schema is None:
                self._schema = await self._inspect(conn)
            return await work(conn)

        try:
            return await self.pg.run(with_schema)
        except BaseException:
            self._schema = None
            raise

    # ---- the table --------------------------------------------------------------------------
    def _table(self):
        from psycopg import sql

        return sql.Identifier(*self.config.table.split("."))

    def _col(self, role: str):
        from psycopg import sql

        return sql.Identifier(self.config.columns[role])

    async def _inspect(self, conn) -> dict[str, str]:
        """role -> type of the configured columns that exist; SchemaError naming what is missing."""
        table = self.config.table
        regname = self._table().as_string(conn)
        cur = await conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.oid IS NOT NULL "
            "FROM (SELECT to_regclass(%s) AS oid) c LEFT JOIN pg_attribute a "
            "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped",
            (regname,),
        )
        rows = await cur.fetchall()
        if not rows or not rows[0][2]:
            raise SchemaError(f"table {table} does not exist")
        types = {name: t for name, t, _ in rows if name is not None}
        found: dict[str, str] = {}
        for role, column in self.config.columns.items():
            if column in types:
                found[role] = types[column]
            elif role in REQUIRED_ROLES or column != DEFAULT_SQL_COLUMNS.get(role):
                raise SchemaError(f"no column {column} in table {table} (columns.{role})")
        for role in TIME_ROLES:
            if role in found and found[role] not in TIME_TYPES:
                raise SchemaError(
                    f"table {table}: column {self.config.columns[role]} (columns.{role}) is "
                    f"{found[role]}, expected timestamptz"
                )
        for role in ("data", "result"):
            if role in found and found[role] not in JSON_TYPES and _base_type(found[role]) not in TEXT_TYPES:
                raise SchemaError(
                    f"table {table}: column {self.config.columns[role]} (columns.{role}) is "
                    f"{found[role]}, expected jsonb, json or text"
                )
        return found

    def _cast(self, role: str, array: bool = False):
        """``::<the column's type>`` for a parameter compared with it (enums, varchar, uuid ids)."""
        from psycopg import sql

        type_name = (self._schema or {}).get(role, "text")
        if not _SAFE_TYPE.match(type_name):
            type_name = "text"
        return sql.SQL("::" + type_name + ("[]" if array else ""))

    def _values(self, labels: tuple[str, ...]) -> list[str]:
        return [value for value, label in self.config.states.items() if label in labels]

    def _queue_filter(self, params: dict):
        from psycopg import sql

        if not self.config.queues:
            return sql.SQL("")
        params["queues"] = list(self.config.queues)
        return sql.SQL(" AND {} = ANY(%(queues)s{})").format(self._col("queue"), self._cast("queue", True))

    # ---- consume ---------------------------------------------------------------------------
    def _payload_columns(self) -> tuple[list, list[tuple[str, Any]]]:
        """The SELECT expressions for data / result, and how to rebuild each from its parts.

        A json / jsonb column sends only the job contract's paths (``col #> '{a,b}'``), not the
        whole payload (a schedule's result may be large); a text column is sent whole and
        decoded here. Returns (expressions, [(role, path or None for whole)])."""
        from psycopg import sql

        exprs: list = []
        plan: list[tuple[str, Any]] = []  # (role, how: "isnull", a JSON path, or None for the column)
        paths = self.ledger.contract.paths().values()
        for role in ("data", "result"):
            if role not in (self._schema or {}):
                continue
            col = self._col(role)
            if self._schema[role] in JSON_TYPES:
                wanted = sorted({tuple(p.split(".")[1:]) for p in paths if p.split(".")[0] == role})
                exprs.append(sql.SQL("{} IS NULL").format(col))
                plan.append((role, "isnull"))
                for parts in wanted:
                    exprs.append(sql.SQL("{} #> {}").format(col, sql.Literal(list(parts))))
                    plan.append((role, list(parts)))
            else:
                exprs.append(col)
                plan.append((role, None))
        return exprs, plan

    def consume_query(self):
        """(statement, params) of one consume: the late rows, then the new ones."""
        from psycopg import sql

        s = self._schema or {}
        params: dict[str, Any] = {"final": self._values(FINAL), "start": self.started_at, "batch": self.BATCH}
        payload, _ = self._payload_columns()
        started = self._col("started_at") if "started_at" in s else sql.SQL("NULL")
        # ready to run: created, or due when run_at is later (GREATEST skips a NULL run_at)
        ready = (
            sql.SQL("GREATEST({}, {})").format(self._col("created_at"), self._col("run_at"))
            if "run_at" in s
            else self._col("created_at")
        )
        select = sql.SQL("SELECT {id}, {queue}::text, {state}::text, {fin}, {started}, {ready}").format(
            id=self._col("id"),
            queue=self._col("queue"),
            state=self._col("state"),
            fin=self._col("finished_at"),
            started=started,
            ready=ready,
        )
        if payload:
            select = select + sql.SQL(", ") + sql.SQL(", ").join(payload)
        where = sql.SQL(" FROM {t} WHERE {state} = ANY(%(final)s{scast}) AND {fin} >= to_timestamp(%(start)s)").format(
            t=self._table(), state=self._col("state"), scast=self._cast("state", True), fin=self._col("finished_at")
        )
        where = where + self._queue_filter(params)
        order = sql.SQL(" ORDER BY {fin}, {id} LIMIT %(batch)s").format(
            fin=self._col("finished_at"), id=self._col("id")
        )
        key = sql.SQL("({}, {})").format(self._col("finished_at"), self._col("id"))
        if self._mark is None:
            return sql.SQL("SELECT false AS late, q.* FROM (") + select + where + order + sql.SQL(") q"), params
        params["mark_at"], params["mark_id"] = self._mark
        params["low"] = self._mark[0] - timedelta(seconds=self.OVERLAP)
        if self._seen_floor is not None and self._seen_floor > params["low"]:
            params["low"] = self._seen_floor
        params["seen"] = list(self._seen)
        mark = sql.SQL("(%(mark_at)s, %(mark_id)s{})").format(self._cast("id"))
        late = (
            select
            + where
            + sql.SQL(" AND {fin} >= %(low)s AND {key} <= {mark} AND NOT ({id}::text = ANY(%(seen)s::text[]))").format(
                fin=self._col("finished_at"), key=key, mark=mark, id=self._col("id")
            )
            + order
        )
        new = select + where + sql.SQL(" AND {key} > {mark}").format(key=key, mark=mark) + order
        return (
            sql.SQL("SELECT true AS late, l.* FROM (")
            + late
            + sql.SQL(") l UNION ALL SELECT false, n.* FROM (")
            + new
            + sql.SQL(") n")
        ), params

    def _rebuild(self, plan, values) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (role, how), value in zip(plan, values):
            if how is None:
                out[role] = decode_json(value)
            elif how == "isnull":
                out[role] = None if value else {}
            elif out.get(role) is not None and value is not None:
                node = out[role]
                for part in how[:-1]:
                    node = node.setdefault(part, {})
                    if not isinstance(node, dict):
                        break
                else:
                    node[how[-1]] = value
        return out

    async def consume(self) -> None:
        async def fetch(conn):
            query, params = self.consume_query()
            cur = await conn.execute(query, params)
            return await cur.fetchall(), self._payload_columns()[1]

        rows, plan = await self._run(fetch)
        # from here on: no await, so a cancelled scrape applies all of this or none of it
        failed_values = set(self._values(("failed",)))
        mark = self._mark
        for row in rows:
            late, job_id, queue, state, finished, started, ready = row[:7]
            key = str(job_id)
            if not late:
                if mark is None or (finished, job_id) > mark:
                    mark = (finished, job_id)
            if key in self._seen:
                continue
            self._seen[key] = finished
            payload = self._rebuild(plan, row[7:])
            self._declare(queue)
            self.ledger.record(
                self.name,
                FinishedJob(
                    queue=queue,
                    job_id=key,
                    failed=state in failed_values,
                    started=_epoch(started),
                    finished=_epoch(finished),
                    data=payload.get("data"),
                    result=payload.get("result"),
                    ready=_epoch(ready),
                ),
            )
        self._mark = mark
        self._prune()

    def _prune(self) -> None:
        """Forget ids finished before the overlap window; beyond SEEN_MAX, the oldest ones, and
        raise the floor so rows finished before the kept ones are never re-read."""
        if self._mark is None or not self._seen:
            return
        low = self._mark[0] - timedelta(seconds=self.OVERLAP)
        self._seen = {k: f for k, f in self._seen.items() if f >= low}
        if len(self._seen) > self.SEEN_MAX:
            ordered = sorted(self._seen.items(), key=lambda kv: kv[1])
            cut = ordered[len(ordered) - self.SEEN_MAX][1]  # keep rows finished after `cut`
            self._seen = {k: f for k, f in ordered if f > cut}
            self._seen_floor = cut + timedelta(microseconds=1)

    def _declare(self, queue: str) -> None:
        if queue not in self._known and len(self._known) < self._queue_cap:
            self._known.add(queue)
        self.ledger.declare_queue(self.name, queue)

    # ---- gauges ----------------------------------------------------------------------------
    def states_query(self):
        from psycopg import sql

        s = self._schema or {}
        params: dict[str, Any] = {"unfinished": self._values(UNFINISHED), "stalled": self.config.stalled_after}
        overdue = (
            sql.SQL("count(*) FILTER (WHERE {} < now())").format(self._col("run_at"))
            if "run_at" in s
            else sql.SQL("NULL::bigint")
        )
        beat = [self._col(r) for r in ("heartbeat_at", "started_at") if r in s]
        stalled = (
            sql.SQL("count(*) FILTER (WHERE coalesce({}) < now() - make_interval(secs => %(stalled)s))").format(
                sql.SQL(", ").join(beat)
            )
            if beat
            else sql.SQL("NULL::bigint")
        )
        query = sql.SQL(
            "SELECT {queue}::text, {state}::text, count(*), "
            "greatest(0, extract(epoch FROM now() - min({created}))::float8), {overdue}, {stalled} "
            "FROM {t} WHERE {state} = ANY(%(unfinished)s{scast})"
        ).format(
            queue=self._col("queue"),
            state=self._col("state"),
            created=self._col("created_at"),
            overdue=overdue,
            stalled=stalled,
            t=self._table(),
            scast=self._cast("state", True),
        )
        query = query + self._queue_filter(params) + sql.SQL(" GROUP BY 1, 2")
        return query, params

    async def read_states(self) -> list[QueueState]:
        async def fetch(conn):
            query, params = self.states_query()
            cur = await conn.execute(query, params)
            return await cur.fetchall()

        rows = await self._run(fetch)
        labels = [label for label in UNFINISHED if label in self.config.states.values()]
        s = self._schema or {}
        out: dict[str, QueueState] = {}

        def state_of(queue: str) -> QueueState:
            st = out.get(queue)
            if st is None:
                st = out[queue] = QueueState(
                    queue,
                    jobs={label: 0 for label in labels},
                    oldest_waiting_age=0.0,
                    overdue=0 if "run_at" in s and "delayed" in labels else None,
                    stalled=0 if ("heartbeat_at" in s or "started_at" in s) and "active" in labels else None,
                )
            return st

        for queue in sorted(self._known):
            self.ledger.declare_queue(self.name, queue)
            state_of(queue)
        for queue, value, count, age, overdue, stalled in rows:
            label = self.config.states.get(value)
            if label is None:
                continue
            if queue not in self._known:
                if len(self._known) >= self._queue_cap:
                    continue
                self._known.add(queue)
                self.ledger.declare_queue(self.name, queue)
            st = state_of(queue)
            st.jobs[label] = st.jobs.get(label, 0) + count
            if label == "waiting" and age is not None:
                st.oldest_waiting_age = max(st.oldest_waiting_age or 0.0, float(age))
            if label == "delayed" and overdue is not None:
                st.overdue = (st.overdue or 0) + overdue
            if label == "active" and stalled is not None:
                st.stalled = (st.stalled or 0) + stalled
        return [out[q] for q in sorted(out)]

    # ---- health ----------------------------------------------------------------------------
    async def health(self) -> str | None:
        return await self.pg.health()

    async def close(self) -> None:
        await self.pg.close()
