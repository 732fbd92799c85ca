"""One exporter, one --config.file: a BullMQ, an RQ and a SQL backend side by side, the app's
connection pool, and a job contract whose fields live elsewhere than the defaults."""

from __future__ import annotations

import asyncio
import json
import secrets

import psycopg

from conftest import value

from .conftest import start_scheduler

RUN = secrets.token_hex(3)


async def _work_custom_contract(url: str, queue: str) -> None:
    """Two jobs whose data says league/size and whose result lists issues {kind, level}."""
    from bullmq import Queue, Worker

    done = asyncio.Event()
    finished = []

    async def process(job, token):
        await asyncio.sleep(0.05)
        return {"issues": [{"kind": "travel", "level": "low"}]}

    def on_done(*_):
        finished.append(1)
        if len(finished) == 2:
            done.set()

    q = Queue(queue, {"connection": url})
    worker = Worker(queue, process, {"connection": url})
    worker.on("completed", on_done)
    worker.on("failed", on_done)
    try:
        for _ in range(2):
            await q.add("generate", {"league": "nba", "size": 30})
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await worker.close()
        await q.close()


def test_several_backends_and_a_custom_contract_in_one_exporter(queue_redis, queue_pg, tmp_path):
    from redis import Redis
    from rq import Queue as RQQueue

    bull_queue, rq_queue, db = f"cfg-bull-{RUN}", f"cfg-rq-{RUN}", f"sched_cfg_{RUN}"
    queue_pg.psql(f"CREATE DATABASE {db}")
    queue_pg.psql(
        "CREATE TABLE jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queue text NOT NULL, "
        "status text NOT NULL, data jsonb, result jsonb, created_at timestamptz NOT NULL DEFAULT now(), "
        "started_at timestamptz, finished_at timestamptz);\n"
        "GRANT SELECT ON jobs TO exporter;\n"
        "INSERT INTO jobs (queue, status, data) VALUES ('nightly', 'queued', '{\"league\": \"mlb\"}');",
        dbname=db,
    )
    dsn = queue_pg.exporter_dsn.rsplit("/", 1)[0] + "/" + db
    config = {
        "backends": [
            {"type": "bullmq", "name": "bull-main", "redis": queue_redis.url, "queues": [bull_queue]},
            {"type": "rq", "name": "rq-main", "redis": queue_redis.url, "queues": [rq_queue]},
            {
                "type": "sql",
                "name": "sql-main",
                "dsn": dsn,
                "table": "jobs",
                "columns": {"state": "status"},
                "states": {"queued": "waiting", "running": "active", "done": "completed", "error": "failed"},
            },
        ],
        "job_contract": {
            "sport": "data.league",
            "team_count": "data.size",
            "constraint_violations": "result.issues",
            "violation_type": "kind",
            "violation_severity": "level",
        },
        "connection_pool": {"dsn": queue_pg.exporter_dsn, "application_name": f"flextime-api-{RUN}"},
    }
    path = tmp_path / "scheduler.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    exp = start_scheduler(tmp_path, f"--config.file={path}")
    try:
        rq_conn = Redis.from_url(queue_redis.url)
        rq = RQQueue(rq_queue, connection=rq_conn)
        for _ in range(2):
            rq.enqueue("rq_jobs.generate", {"sport": "cricket"})
        rq_conn.close()
        asyncio.run(_work_custom_contract(queue_redis.url, bull_queue))
        with psycopg.connect(queue_pg.superuser_dsn, application_name=f"flextime-api-{RUN}", autocommit=True):
            text = exp.get("/metrics").text
        for backend in ("bull-main", "rq-main", "sql-main"):
            assert value(text, "scheduler_up", backend=backend) == 1, backend
        for collector in ("bullmq", "rq", "sql", "connection_pool"):
            assert value(text, "scheduler_scrape_collector_success", collector=collector) == 1, collector
        assert value(text, "scheduler_queue_jobs", backend="rq-main", queue=rq_queue, state="queued") == 2
        assert value(text, "scheduler_queue_jobs", backend="sql-main", queue="nightly", state="waiting") == 1
        assert value(text, "scheduler_queue_jobs_completed_total", backend="bull-main", queue=bull_queue) == 2
        assert value(text, "schedule_generation_duration_seconds_count", sport="nba", team_count="30") == 2
        assert value(text, "constraint_violations_total", constraint_type="travel", severity="low") == 2
        assert value(text, "database_connection_pool_size", state="idle") == 1
        for secret in (queue_redis.password, queue_pg.exporter_password):
            assert secret not in text and secret not in exp.log() and secret not in exp.get("/").text
    finally:
        exp.stop()


def test_only_the_configured_backend_kinds_run(queue_redis, tmp_path):
    """An exporter reading one BullMQ queue runs the bullmq collector only: the rq, sql and
    connection_pool collectors, on by default, have nothing to read and are left out (no
    collector success series that would always be 1, or 0 and page someone); asked for by
    name, one still runs."""
    exp = start_scheduler(tmp_path, f"--redis.addr={queue_redis.url}", f"--bullmq.queue=cfg-only-{RUN}")
    asked = start_scheduler(
        tmp_path, f"--redis.addr={queue_redis.url}", f"--bullmq.queue=cfg-only-{RUN}", "--collector.rq"
    )
    try:
        from conftest import samples

        def collectors(text):
            return {
                dict(labels)["collector"]
                for (name, labels) in samples(text)
                if name == "scheduler_scrape_collector_success"
            }

        assert collectors(exp.get("/metrics").text) == {"bullmq"}
        assert collectors(asked.get("/metrics").text) == {"bullmq", "rq"}
    finally:
        exp.stop()
        asked.stop()
