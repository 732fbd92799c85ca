"""``flextime-exporter scheduler`` on a PostgreSQL job table (the documented default schema and a
custom mapping), worked by a worker loop inside the test (psycopg: claim with
``FOR UPDATE SKIP LOCKED``, sleep a known time, set completed / failed with a jsonb result).

The exporter reads as the fixture's ``exporter`` role (pg_monitor plus SELECT on the tables,
canary password). Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

import psycopg
import pytest

from conftest import samples, value

from .conftest import start_scheduler

RUN = secrets.token_hex(3)
DB = f"sched_sql_{RUN}"
WORKED = f"generate-{RUN}"
BACKLOG = f"backlog-{RUN}"
SCHEMA = """
CREATE TABLE scheduler_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue        text        NOT NULL,
    state        text        NOT NULL,
    data         jsonb,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    run_at       timestamptz,
    heartbeat_at timestamptz,
    CHECK (state NOT IN ('completed', 'failed') OR finished_at IS NOT NULL)
);
CREATE INDEX scheduler_jobs_finished ON scheduler_jobs (finished_at, id);
CREATE INDEX scheduler_jobs_unfinished ON scheduler_jobs (queue, state, created_at)
    WHERE state IN ('waiting', 'active', 'delayed');
GRANT SELECT ON scheduler_jobs TO exporter;
"""
VENUE = {"type": "venue_conflict", "severity": "hard"}
REST = {"type": "rest_days", "severity": "soft"}


@dataclass
class Job:
    sport: str | None
    teams: int
    seconds: float
    fail: bool = False
    violations: list = field(default_factory=list)
    late: bool = False  # commit 2.5 s after setting finished_at (a transaction that commits late)

    def data(self) -> dict:
        d = {
            "teamCount": self.teams,
            "_test": {"seconds": self.seconds, "fail": self.fail, "violations": self.violations, "late": self.late},
        }
        if self.sport is not None:
            d["sport"] = self.sport
        return d


JOBS = [
    Job("soccer", 12, 0.2, late=True, violations=[REST]),
    *[Job("soccer", 12, 0.3, violations=[VENUE, REST]) for _ in range(4)],
    *[Job("basketball", 8, 1.2) for _ in range(2)],
    *[Job("hockey", 16, 0.4, fail=True) for _ in range(2)],
    Job(None, 4, 0.1, violations=[VENUE]),  # no sport: counted under sport="unknown"
]
COUNTER_PREFIXES = (
    "schedule_generation_",
    "constraint_violations_total",
    "scheduler_queue_jobs_completed_total",
    "scheduler_queue_jobs_failed_total",
    "scheduler_jobs_",
)


def counters(text: str) -> dict:
    return {(n, l): v for (n, l), v in samples(text).items() if n.startswith(COUNTER_PREFIXES)}


def scrape(exp) -> str:
    resp = exp.get("/metrics")
    assert resp.status == 200, resp.status
    return resp.text


def db_dsn(server, superuser: bool = False) -> str:
    base = server.superuser_dsn if superuser else server.exporter_dsn
    return base.rsplit("/", 1)[0] + "/" + DB


def config(tmp_path, name: str, backends: list[dict]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"backends": backends}))  # JSON is YAML
    return str(path)


def work(dsn: str, queue: str, stop: threading.Event) -> None:
    """One worker: claim the oldest waiting job, sleep its time, complete or fail it."""
    with psycopg.connect(dsn, autocommit=True, application_name="test-worker", connect_timeout=5) as conn:
        while not stop.is_set():
            row = conn.execute(
                "UPDATE scheduler_jobs SET state = 'active', started_at = clock_timestamp(), "
                "heartbeat_at = clock_timestamp() WHERE id = (SELECT id FROM scheduler_jobs WHERE queue = %s "
                "AND state = 'waiting' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, data",
                (queue,),
            ).fetchone()
            if row is None:
                return
            job_id, data = row
            spec = data["_test"]
            time.sleep(spec["seconds"])
            state = "failed" if spec["fail"] else "completed"
            result = None if spec["fail"] else json.dumps({"constraintViolations": spec["violations"]})
            finish = (
                "UPDATE scheduler_jobs SET state = %s, result = %s::jsonb, finished_at = clock_timestamp() "
                "WHERE id = %s"
            )
            if spec["late"]:
                with conn.transaction():
                    conn.execute(finish, (state, result, job_id))
                    time.sleep(2.5)  # finished_at is 2.5 s older than the commit
            else:
                conn.execute(finish, (state, result, job_id))


@pytest.fixture(scope="module")
def jobdb(queue_pg):
    queue_pg.psql(f"CREATE DATABASE {DB}")
    queue_pg.psql(SCHEMA, dbname=DB)
    yield queue_pg
    queue_pg.psql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB}'; DROP DATABASE IF EXISTS {DB}"
    )


@pytest.fixture(scope="module")
def worked(jobdb, tmp_path_factory):
    """Two exporters on the same table, started before the first job: ``often`` is scraped every
    0.2 s during the run, ``once`` only at the end. Then a backlog queue that nobody works."""
    tmp = tmp_path_factory.mktemp("sql")
    sql_backend = {"type": "sql", "name": "jobs", "dsn": db_dsn(jobdb) + "?sslmode=disable"}
    often = start_scheduler(
        tmp, "--config.file", config(tmp, "often.yml", [{**sql_backend, "queues": [WORKED, BACKLOG]}])
    )
    once = start_scheduler(tmp, "--config.file", config(tmp, "once.yml", [sql_backend]))  # every queue
    super_dsn = db_dsn(jobdb, superuser=True)
    try:
        scrape(often)
        with psycopg.connect(super_dsn, autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO scheduler_jobs (queue, state, data) VALUES (%s, 'waiting', %s)",
                    [(WORKED, json.dumps(j.data())) for j in JOBS],
                )
        stop = threading.Event()
        workers = [threading.Thread(target=work, args=(super_dsn, WORKED, stop), daemon=True) for _ in range(3)]
        for w in workers:
            w.start()
        scrapes = 1
        end = time.monotonic() + 30
        while any(w.is_alive() for w in workers):
            assert time.monotonic() < end, "workers did not finish within 30 s"
            if scrapes < 19:
                scrape(often)
                scrapes += 1
            time.sleep(0.2)
        while scrapes < 19:
            scrape(often)
            scrapes += 1
        stop.set()
        with psycopg.connect(super_dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO scheduler_jobs (queue, state, data, created_at, run_at, started_at, heartbeat_at) VALUES "
                "(%(q)s, 'waiting', '{}', now() - interval '40 s', NULL, NULL, NULL),"
                "(%(q)s, 'waiting', '{}', now() - interval '20 s', NULL, NULL, NULL),"
                "(%(q)s, 'waiting', '{}', now(), NULL, NULL, NULL),"
                "(%(q)s, 'delayed', '{}', now(), now() - interval '5 s', NULL, NULL),"
                "(%(q)s, 'delayed', '{}', now(), now() + interval '1 h', NULL, NULL),"
                "(%(q)s, 'active', '{}', now(), NULL, now() - interval '20 min', now() - interval '10 min'),"
                "(%(q)s, 'active', '{}', now(), NULL, now() - interval '20 min', now())",
                {"q": BACKLOG},
            )
            truth = conn.execute(
                "SELECT data->>'sport', data->>'teamCount', state, "
                "extract(epoch FROM finished_at - started_at)::float8, (data->'_test'->>'seconds')::float8 "
                "FROM scheduler_jobs WHERE queue = %s ORDER BY id",
                (WORKED,),
            ).fetchall()
        yield {"often": often, "once": once, "truth": truth, "often_text": scrape(often), "once_text": scrape(once)}
    finally:
        often.stop()
        once.stop()


def test_counters_match_what_the_workers_did(worked):
    text = worked["often_text"]
    truth = worked["truth"]
    assert len(truth) == len(JOBS) and all(state in ("completed", "failed") for _, _, state, _, _ in truth)
    # durations are the table's finished_at - started_at, and those are the known processing times
    for sport, _teams, _state, took, seconds in truth:
        assert seconds <= took < seconds + 0.5, (sport, took, seconds)
    expected: dict = {}
    for sport, teams, state, took, _ in truth:
        if state == "completed":
            expected.setdefault((sport or "unknown", teams), []).append(took)
    for (sport, teams), took in expected.items():
        at = {"sport": sport, "team_count": teams}
        assert value(text, "schedule_generation_duration_seconds_count", **at) == len(took)
        assert value(text, "schedule_generation_duration_seconds_sum", **at) == pytest.approx(sum(took), abs=1e-4)
        for bound in ("1", "5", "10", "300", "+Inf"):
            want = sum(1 for t in took if bound == "+Inf" or t <= float(bound))
            assert value(text, "schedule_generation_duration_seconds_bucket", le=bound, **at) == want, (at, bound)
    assert value(text, "schedule_generation_duration_seconds_bucket", sport="basketball", le="1") == 0
    assert value(text, "schedule_generation_failures_total", sport="hockey") == 2
    assert value(text, "constraint_violations_total", constraint_type="venue_conflict", severity="hard") == 5
    assert value(text, "constraint_violations_total", constraint_type="rest_days", severity="soft") == 5
    assert value(text, "scheduler_queue_jobs_completed_total", backend="jobs", queue=WORKED) == 8
    assert value(text, "scheduler_queue_jobs_failed_total", backend="jobs", queue=WORKED) == 2
    assert value(text, "scheduler_queue_jobs_completed_total", backend="jobs", queue=BACKLOG) == 0
    assert value(text, "scheduler_up", backend="jobs") == 1


def test_wait_and_run_time_per_queue(worked, jobdb):
    """Wait (created, or due, to started) and run time of each finished row, per queue; a table has no
    job name column, so job_name is 'unknown'."""
    with psycopg.connect(db_dsn(jobdb, superuser=True), autocommit=True) as conn:
        waits = [
            w
            for (w,) in conn.execute(
                "SELECT extract(epoch FROM started_at - GREATEST(created_at, run_at))::float8 FROM scheduler_jobs "
                "WHERE queue = %s",
                (WORKED,),
            ).fetchall()
        ]
    for text in (worked["often_text"], worked["once_text"]):
        at = {"backend": "jobs", "queue": WORKED}
        assert value(text, "scheduler_queue_job_wait_seconds_count", **at) == len(JOBS)
        assert value(text, "scheduler_queue_job_wait_seconds_sum", **at) == pytest.approx(sum(waits), abs=1e-3)
        for bound in ("0.5", "1", "5", "10"):
            want = sum(1 for w in waits if w <= float(bound))
            assert value(text, "scheduler_queue_job_wait_seconds_bucket", le=bound, **at) == want, bound
        assert value(text, "scheduler_queue_job_duration_seconds_count", job_name="unknown", **at) == len(JOBS)


def test_scraped_once_or_twenty_times_the_same(worked):
    often, once = counters(worked["often_text"]), counters(worked["once_text"])
    assert often and often == once
    # and scraping again adds nothing
    assert counters(scrape(worked["often"])) == often


def test_queue_gauges(worked):
    text = worked["often_text"]
    q = {"backend": "jobs", "queue": BACKLOG}
    assert value(text, "scheduler_queue_jobs", state="waiting", **q) == 3
    assert value(text, "scheduler_queue_jobs", state="delayed", **q) == 2
    assert value(text, "scheduler_queue_jobs", state="active", **q) == 2
    assert 39 <= value(text, "scheduler_queue_oldest_waiting_job_age_seconds", **q) < 50
    assert value(text, "scheduler_queue_overdue_jobs", **q) == 1
    assert value(text, "scheduler_queue_stalled_jobs", **q) == 1
    assert value(text, "active_scheduling_sessions") == 2
    w = {"backend": "jobs", "queue": WORKED}
    assert value(text, "scheduler_queue_jobs", state="waiting", **w) == 0
    assert value(text, "scheduler_queue_oldest_waiting_job_age_seconds", **w) == 0
    # completed / failed are not gauged for a SQL table (that would scan the kept history)
    assert not [k for k in samples(text) if k[0] == "scheduler_queue_jobs" and ("state", "completed") in k[1]]


def test_no_password_anywhere(worked, jobdb):
    for exp in (worked["often"], worked["once"]):
        for body in (scrape(exp), exp.get("/").text, exp.get("/health").text, exp.log()):
            assert jobdb.exporter_password not in body


# ---- a custom table and columns ----------------------------------------------------------------
CUSTOM = """
CREATE SCHEMA ops;
CREATE TYPE ops.job_status AS ENUM ('queued', 'running', 'later', 'done', 'error');
CREATE TABLE ops.flex_jobs (
    job_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lane     text NOT NULL,
    status   ops.job_status NOT NULL,
    payload  text,
    output   jsonb,
    enqueued timestamptz NOT NULL DEFAULT now(),
    began    timestamptz,
    ended    timestamptz,
    due      timestamptz
);
CREATE INDEX ON ops.flex_jobs (ended, job_id);
GRANT USAGE ON SCHEMA ops TO exporter;
GRANT SELECT ON ops.flex_jobs TO exporter;
"""


def test_custom_table_and_columns(jobdb, tmp_path):
    jobdb.psql(CUSTOM, dbname=DB)
    backend = {
        "type": "sql",
        "name": "ops",
        "dsn": db_dsn(jobdb),
        "table": "ops.flex_jobs",
        "columns": {
            "id": "job_id",
            "queue": "lane",
            "state": "status",
            "data": "payload",
            "result": "output",
            "created_at": "enqueued",
            "started_at": "began",
            "finished_at": "ended",
            "run_at": "due",
        },  # no heartbeat column: began is used
        "states": {
            "queued": "waiting",
            "running": "active",
            "later": "delayed",
            "done": "completed",
            "error": "failed",
        },
        "stalled_after": 60,
    }
    exp = start_scheduler(tmp_path, "--config.file", config(tmp_path, "ops.yml", [backend]))
    try:
        scrape(exp)
        jobdb.psql(
            "INSERT INTO ops.flex_jobs (lane, status, payload, output, began, ended, due, enqueued) VALUES "
            "('lane-a', 'done', '{\"sport\": \"rugby\", \"teamCount\": 6}', "
            '  \'{"constraintViolations": [{"type": "travel", "severity": "soft"}]}\', '
            "  now() - interval '2 s', now(), NULL, now() - interval '3 s'),"
            "('lane-a', 'done', '{\"sport\": \"rugby\", \"teamCount\": 6}', '{}', "
            "  now() - interval '7 s', now(), NULL, now() - interval '8 s'),"
            "('lane-a', 'done', 'this is not json', '{}', now() - interval '1 s', now(), NULL, now()),"
            "('lane-a', 'error', '{\"sport\": \"rugby\"}', NULL, now() - interval '1 s', now(), NULL, now()),"
            "('lane-a', 'queued', '{}', NULL, NULL, NULL, NULL, now() - interval '30 s'),"
            "('lane-a', 'running', '{}', NULL, now() - interval '10 min', NULL, NULL, now()),"
            "('lane-a', 'later', '{}', NULL, NULL, NULL, now() - interval '1 s', now())",
            dbname=DB,
        )
        text = scrape(exp)
        at = {"sport": "rugby", "team_count": "6"}
        assert value(text, "schedule_generation_duration_seconds_count", **at) == 2
        assert value(text, "schedule_generation_duration_seconds_bucket", le="1", **at) == 0
        assert value(text, "schedule_generation_duration_seconds_bucket", le="5", **at) == 1
        assert value(text, "schedule_generation_duration_seconds_bucket", le="10", **at) == 2
        assert value(text, "schedule_generation_duration_seconds_sum", **at) == pytest.approx(9.0, abs=1e-3)
        assert value(text, "schedule_generation_duration_seconds_count", sport="unknown", team_count="unknown") == 1
        assert value(text, "scheduler_jobs_undecodable_total", backend="ops", queue="lane-a", part="data") == 1
        assert value(text, "schedule_generation_failures_total", sport="rugby") == 1
        assert value(text, "constraint_violations_total", constraint_type="travel", severity="soft") == 1
        assert value(text, "scheduler_queue_jobs_completed_total", backend="ops", queue="lane-a") == 3
        q = {"backend": "ops", "queue": "lane-a"}
        assert value(text, "scheduler_queue_jobs", state="waiting", **q) == 1
        assert value(text, "scheduler_queue_jobs", state="active", **q) == 1
        assert value(text, "scheduler_queue_jobs", state="delayed", **q) == 1
        assert 29 <= value(text, "scheduler_queue_oldest_waiting_job_age_seconds", **q) < 40
        assert value(text, "scheduler_queue_stalled_jobs", **q) == 1
        assert value(text, "scheduler_queue_overdue_jobs", **q) == 1
        assert counters(scrape(exp)) == counters(text)
    finally:
        exp.stop()


def test_missing_table_or_column(jobdb, tmp_path):
    good = {"type": "sql", "name": "good", "dsn": db_dsn(jobdb), "queues": [BACKLOG]}
    exp = start_scheduler(
        tmp_path,
        "--config.file",
        config(
            tmp_path,
            "bad.yml",
            [
                good,
                {"type": "sql", "name": "notable", "dsn": db_dsn(jobdb), "table": "no_such_jobs"},
                {"type": "sql", "name": "nocolumn", "dsn": db_dsn(jobdb), "columns": {"finished_at": "done_at"}},
            ],
        ),
    )
    try:
        for _ in range(3):
            text = scrape(exp)
        assert value(text, "scheduler_up", backend="good") == 1
        assert value(text, "scheduler_up", backend="notable") == 0
        assert value(text, "scheduler_up", backend="nocolumn") == 0
        assert value(text, "scheduler_scrape_collector_success", collector="sql") == 0
        log = exp.log()
        assert "no_such_jobs" in log and "done_at" in log and "columns.finished_at" in log
        assert len([line for line in log.splitlines() if "sql notable" in line]) == 1  # once, not per scrape
        assert jobdb.exporter_password not in log + text + exp.get("/").text
    finally:
        exp.stop()


# ---- PostgreSQL unreachable, and back -------------------------------------------------------------
class Proxy:
    """A TCP relay to PostgreSQL that the test can cut (every connection closed, the port refusing)
    and restore on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = None

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_unreachable_then_back_counts_once(jobdb, tmp_path):
    queue = f"outage-{RUN}"
    proxy = Proxy(jobdb.port)
    proxy.start()
    dsn = db_dsn(jobdb).replace(f":{jobdb.port}/", f":{proxy.port}/")
    exp = start_scheduler(
        tmp_path,
        "--connection-timeout",
        "2",
        "--config.file",
        config(
            tmp_path,
            "outage.yml",
            [
                {"type": "sql", "name": "via-proxy", "dsn": dsn, "queues": [queue]},
                {"type": "sql", "name": "closed-port", "dsn": db_dsn(jobdb).replace(f":{jobdb.port}/", ":1/")},
            ],
        ),
    )
    insert = (
        "INSERT INTO scheduler_jobs (queue, state, data, started_at, finished_at) "
        "SELECT '{q}', 'completed', '{{\"sport\": \"outage\", \"teamCount\": 2}}', now() - interval '0.5 s', "
        "now() FROM generate_series(1, {n})"
    )
    try:
        jobdb.psql(insert.format(q=queue, n=3), dbname=DB)
        text = scrape(exp)
        assert value(text, "scheduler_up", backend="via-proxy") == 1
        assert value(text, "scheduler_up", backend="closed-port") == 0
        assert value(text, "scheduler_queue_jobs_completed_total", backend="via-proxy", queue=queue) == 3
        proxy.cut()
        jobdb.psql(insert.format(q=queue, n=4), dbname=DB)  # finished while the exporter cannot see them
        for _ in range(2):
            t0 = time.monotonic()
            resp = exp.get("/metrics")
            assert resp.status == 200 and time.monotonic() - t0 < 10
            assert value(resp.text, "scheduler_up", backend="via-proxy") == 0
            assert value(resp.text, "scheduler_queue_jobs_completed_total", backend="via-proxy", queue=queue) == 3
        proxy.start()
        jobdb.psql(insert.format(q=queue, n=2), dbname=DB)
        text = scrape(exp)
        assert value(text, "scheduler_up", backend="via-proxy") == 1
        assert value(text, "scheduler_queue_jobs_completed_total", backend="via-proxy", queue=queue) == 9
        assert value(scrape(exp), "scheduler_queue_jobs_completed_total", backend="via-proxy", queue=queue) == 9
        assert jobdb.exporter_password not in exp.log() + text
    finally:
        exp.stop()
        proxy.cut()


# ---- the reader itself, in this process, on the same server ---------------------------------------
def test_batches_late_commits_and_index_use(jobdb):
    from exporters.scheduler.config import DEFAULT_SQL_COLUMNS, DEFAULT_SQL_STATES, BackendConfig
    from exporters.scheduler.contract import JobContract, Ledger
    from exporters.scheduler.sql import SQLReader

    queue = f"batch-{RUN}"
    super_dsn = db_dsn(jobdb, superuser=True)
    cfg = BackendConfig(
        "sql",
        "inproc",
        dsn=db_dsn(jobdb),
        table="scheduler_jobs",
        queues=(queue,),
        columns=dict(DEFAULT_SQL_COLUMNS),
        states=dict(DEFAULT_SQL_STATES),
    )
    ledger = Ledger(JobContract())

    def done() -> int:
        return ledger.completed.get(("inproc", queue), 0)

    async def scenario():
        reader = SQLReader(cfg, ledger, timeout=5, started_at=time.time() - 1)
        reader.BATCH = 10
        try:
            insert = (
                "INSERT INTO scheduler_jobs (queue, state, data, started_at, finished_at) SELECT %s, "
                "'completed', '{}', clock_timestamp(), clock_timestamp() FROM generate_series(1, %s)"
            )
            with psycopg.connect(super_dsn, autocommit=True) as conn:
                conn.execute(insert, (queue, 25))
            counts = []
            for _ in range(4):
                await reader.read()
                counts.append(done())
            assert counts == [10, 20, 25, 25]
            # a transaction that set finished_at and commits after newer rows were read
            with psycopg.connect(super_dsn) as late:
                late.execute(insert, (queue, 2))  # finished_at = clock_timestamp() now, not committed yet
                time.sleep(0.05)
                with psycopg.connect(super_dsn, autocommit=True) as conn:
                    conn.execute(insert, (queue, 3))
                await reader.read()
                assert done() == 28
                late.commit()
            await reader.read()
            assert done() == 30
            await reader.read()
            assert done() == 30
            # the consume query walks the index: no scan of the whole history
            with psycopg.connect(super_dsn, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO scheduler_jobs (queue, state, data, created_at, started_at, finished_at) "
                    "SELECT 'history', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, '{}', "
                    "now() - interval '2 days', now() - interval '2 days', now() - interval '1 day' "
                    "FROM generate_series(1, 50000) g"
                )
                conn.execute("ANALYZE scheduler_jobs")
                await reader.read()
                query, params = reader.consume_query()
                plan = "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + query.as_bytes(conn), params))
                assert "scheduler_jobs_finished" in plan and "Seq Scan" not in plan, plan
                query, params = reader.states_query()
                plan = "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + query.as_bytes(conn), params))
                assert "scheduler_jobs_unfinished" in plan and "Seq Scan" not in plan, plan
                conn.execute("DELETE FROM scheduler_jobs WHERE queue = 'history'")
            assert done() == 30
        finally:
            await reader.close()

    asyncio.run(scenario())
